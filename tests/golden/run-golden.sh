#!/bin/sh
# run-golden.sh - the engine against PyTorch on random-weight models.
#
# Exports ResNet-18 (F32 and F16), ResNet-50 and ResNet-50-FPN with random
# weights and calibrated BatchNorm statistics (train/stipple_train/export.py),
# makes float64 PyTorch reference outputs at several input sizes, some not
# multiples of 32 (golden.py), and runs tests/golden/test-golden on each for
# every kernel level this CPU has and for 1 and 2 threads. The scalar level is
# slow, so it runs only the small cases. The test loop reads a here-document,
# not a pipe, so that it runs in this shell and its counts survive.
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

# case: model size seed small (small cases also run at the scalar level)
cases="r18 64x64 11 1
r18 97x131 12 1
r18 224x224 13 0
r18h 64x96 14 1
r50 61x83 15 1
r50 160x128 16 0
r50fpn 101x77 17 1
r50fpn 128x160 18 0"

# One Python process runs the export and golden command lines (saves a torch
# import per file): model lines "name arch seed dtype", then the cases.
"$py" - "$tmp" <<END || harness_error "export or golden outputs failed"
import sys
from stipple_train import export, golden
tmp = sys.argv[1]
for line in """r18 resnet18 1 f32
r18h resnet18 2 f16
r50 resnet50 3 f32
r50fpn resnet50-fpn 4 f32""".splitlines():
    name, arch, seed, dtype = line.split()
    export.main(["--arch", arch, "--random-init", "--seed", seed, "--dtype", dtype,
                 "-o", "%s/%s.safetensors" % (tmp, name)])
for line in """$cases""".splitlines():
    model, size, seed, _ = line.split()
    golden.main(["--model", "%s/%s.safetensors" % (tmp, model), "--size", size,
                 "--seed", seed, "-o", "%s/%s-%s.golden" % (tmp, model, size)])
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
		while read -r model size _ small; do
			[ "$isa" = scalar ] && [ "$small" = 0 ] && continue
			what="$model $size $isa ${threads}t"
			STIPPLE_ISA=$isa "$tg" "$tmp/$model.safetensors" \
				"$tmp/$model-$size.golden" "$threads" </dev/null >"$tmp/out" 2>&1
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
