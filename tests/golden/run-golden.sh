#!/bin/sh
# run-golden.sh - the engine against PyTorch on random-weight models.
#
# Exports ResNet-18 (F32 and F16), ResNet-50 and ResNet-50-FPN with random
# weights and calibrated BatchNorm statistics (train/stipple_train/export.py),
# makes float64 PyTorch reference outputs at several input sizes, some not
# multiples of 32 (golden.py), and runs tests/golden/test-golden on each for
# every kernel level this CPU has and for 1 and 2 threads. The scalar level is
# slow, so it runs only the small cases; the sparse export variants run on 2
# threads only. The test loop reads a here-document, not a pipe, so that it
# runs in this shell and its counts survive.
#
# Sparse models (sparse-resnet18: basic blocks; sparse-resnet50-fpn:
# bottlenecks and FPN; plus variant a, variant c and the learned and avgpool
# kernels once each) run in deterministic and stochastic (seed 7) sampling.
# golden.py calibrates the mask biases of each on its own input (so no mask
# cell sits on its threshold) and writes that model next to the golden; the
# engine runs it, and its masks must equal PyTorch's cell for cell.
#
# Environment (set by make check): top_srcdir, top_builddir, PYTHON_TORCH.
# Exit: 0 pass, 1 a comparison failed, 77 no torch, 99 harness error.

srcdir=${top_srcdir:-$(dirname "$0")/../..}
builddir=${top_builddir:-.}
py=${PYTHON_TORCH:-/usr/bin/python3}
tg=$builddir/tests/golden/test-golden

if ! "$py" -c 'import torch' >/dev/null 2>&1; then
	echo "SKIP: $py cannot import torch"
	exit 77
fi
if [ ! -x "$tg" ]; then
	echo "HARNESS ERROR: $tg not built"
	exit 99
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/stipple-golden.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
PYTHONPATH=$srcdir/train${PYTHONPATH:+:$PYTHONPATH}
OMP_NUM_THREADS=2
export PYTHONPATH OMP_NUM_THREADS

harness_error() {
	echo "HARNESS ERROR: $*"
	exit 99
}

# case: model size seed runs sampling. runs: "all" (every level, 1 and 2
# threads), "simd" (large inputs: not at the scalar level), "2t" (the export
# variants: every level, 2 threads only). sampling: "-" for dense models,
# else det or stoch.
cases="r18 64x64 11 all -
r18 97x131 12 all -
r18 224x224 13 simd -
r18h 64x96 14 all -
r50 61x83 15 all -
r50 160x128 16 simd -
r50fpn 101x77 17 all -
r50fpn 128x160 18 simd -
s18 97x131 21 all det
s18 101x77 22 all stoch
s18 173x229 23 simd det
s18 173x229 24 simd stoch
s50fpn 97x131 25 all stoch
s50fpn 101x77 26 all det
s50fpn 139x181 27 simd stoch
s18a 97x131 31 2t det
s50c 101x77 32 2t det
s18learned 77x101 33 2t det
s18avgpool 101x77 34 2t det"

# One Python process runs the export and golden command lines (saves a torch
# import per file): model lines "name arch seed dtype [export options]", then
# the cases. A sparse case's golden comes with its calibrated model,
# NAME-SIZE-SAMPLING.safetensors.
"$py" - "$tmp" <<END || harness_error "export or golden outputs failed"
import sys
from stipple_train import export, golden
tmp = sys.argv[1]
for line in """r18 resnet18 1 f32
r18h resnet18 2 f16
r50 resnet50 3 f32
r50fpn resnet50-fpn 4 f32
s18 sparse-resnet18 5 f32
s50fpn sparse-resnet50-fpn 6 f32
s18a sparse-resnet18 7 f32 --sparse-variant a
s50c sparse-resnet50 8 f32 --sparse-variant c
s18learned sparse-resnet18 9 f32 --sparse-kernel learned --window 5 --grid-stride 7
s18avgpool sparse-resnet18 10 f32 --sparse-kernel avgpool --window 3 --grid-stride 5""".splitlines():
    name, arch, seed, dtype, *options = line.split()
    export.main(["--arch", arch, "--random-init", "--seed", seed, "--dtype", dtype,
                 "-o", "%s/%s.safetensors" % (tmp, name)] + options)
modes = {"det": "deterministic", "stoch": "stochastic"}
for line in """$cases""".splitlines():
    model, size, seed, _, sampling = line.split()
    args = ["--model", "%s/%s.safetensors" % (tmp, model), "--size", size, "--seed", seed]
    if sampling == "-":
        args += ["-o", "%s/%s-%s.golden" % (tmp, model, size)]
    else:
        case = "%s/%s-%s-%s" % (tmp, model, size, sampling)
        args += ["--sampling", modes[sampling], "--sampling-seed", "7",
                 "--calibrated-model", case + ".safetensors", "-o", case + ".golden"]
    golden.main(args)
END

isas=scalar
if grep -q '^flags.*\bavx2\b' /proc/cpuinfo 2>/dev/null &&
   grep -q '^flags.*\bfma\b' /proc/cpuinfo 2>/dev/null; then
	isas="$isas avx2"
fi
if grep -q '^flags.*\bavx512f\b' /proc/cpuinfo 2>/dev/null; then
	isas="$isas avx512"
fi

passed=0
failed=0
skipped=0
harness=0
for isa in $isas; do
	for threads in 1 2; do
		while read -r model size _ runs sampling; do
			[ "$isa" = scalar ] && [ "$runs" = simd ] && continue
			[ "$threads" = 1 ] && [ "$runs" = 2t ] && continue
			if [ "$sampling" = - ]; then
				what="$model $size $isa ${threads}t"
				file=$tmp/$model
				case_file=$tmp/$model-$size
			else
				what="$model $size $sampling $isa ${threads}t"
				file=$tmp/$model-$size-$sampling
				case_file=$file
			fi
			STIPPLE_ISA=$isa "$tg" "$file.safetensors" \
				"$case_file.golden" "$threads" </dev/null >"$tmp/out" 2>&1
			rc=$?
			case $rc in
			0) passed=$((passed + 1)); echo "PASS: $what" ;;
			77) skipped=$((skipped + 1)); echo "SKIP: $what" ;;
			99) harness=$((harness + 1)); echo "ERROR: $what" ;;
			*) failed=$((failed + 1)); echo "FAIL: $what" ;;
			esac
			sed 's/^/    /' "$tmp/out"
		done <<END
$cases
END
	done
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$harness" -gt 0 ] && exit 99
[ "$failed" -gt 0 ] && exit 1
[ "$passed" -eq 0 ] && exit 77
exit 0
