#!/usr/bin/env bash
# run-sparse-bench.sh - `make bench-sparse`: what sparse execution buys.
#
# In one run: (1) single convs of ResNet-50 (bench/bench-conv) at densities
# 1, 0.5, 0.25, 0.1 on random and 8x8-block masks, beside the dense conv and
# the ideal d x dense, and whole ResNet-50 blocks the same way
# (bench/bench-block); (2) the whole sparse ResNet-50 backbone at 800x1216
# (stipple_train.export --arch sparse-resnet50, random masks) at budgets
# dense, 0.5, 0.25 and its trained threshold, 1 and 2 threads, with a
# per-block profile (stipple bench --profile), in interleaved rounds, and at
# 0.5 and 0.25 on a photo (examples/scene.jpg: masks that follow the image,
# spatially coherent, where the random input gives scattered ones); (3) the dense
# ResNet-50 in Stipple, PyTorch and ONNX Runtime (bench/run-bench.sh) at the
# same size; (4) the interpolation module's gather and separable forms
# (bench/bench-interp). Writes docs/benchmarks-sparse.md and prints it.
#
# Environment: top_srcdir, top_builddir, PYTHON_TORCH, CC as for run-bench.sh;
#   SPARSE_SIZE [800x1216], SPARSE_THREADS ["1 2"], SPARSE_RUNS [3], SPARSE_ROUNDS [3],
#   SPARSE_BUDGETS ["dense 0.5 0.25 auto"], SPARSE_PHOTO_BUDGETS ["0.5 0.25"],
#   SPARSE_CONV_SIZE [800],
#   SPARSE_DOC [$top_srcdir/docs/benchmarks-sparse.md]
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(dirname "$here")}
top_builddir=${top_builddir:-.}
PYTHON_TORCH=${PYTHON_TORCH:-/usr/bin/python3}
size=${SPARSE_SIZE:-800x1216}
threads_list=${SPARSE_THREADS:-1 2}
runs=${SPARSE_RUNS:-3}
rounds=${SPARSE_ROUNDS:-3}
budgets=${SPARSE_BUDGETS:-dense 0.5 0.25 auto}
photo_budgets=${SPARSE_PHOTO_BUDGETS:-0.5 0.25}
photo=$top_srcdir/examples/scene.jpg
conv_size=${SPARSE_CONV_SIZE:-800}
doc=${SPARSE_DOC:-$top_srcdir/docs/benchmarks-sparse.md}
out=$top_builddir/bench/out-sparse
stipple=$top_builddir/stipple

say() { echo "run-sparse-bench: $*" >&2; }
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 1
rm -f "$out"/*.json
export PYTHONPATH=$top_srcdir/train${PYTHONPATH:+:$PYTHONPATH}

# (3) first: the dense peers, with run-bench.sh (its JSON lands in $out/dense).
say "dense ResNet-50 in Stipple, PyTorch and ONNX Runtime"
BENCH_ARCHS=resnet50 BENCH_SIZES=$size BENCH_THREADS=$threads_list BENCH_RUNS_LARGE=$runs \
	BENCH_OUT=$out/dense BENCH_DOC=$out/dense.md \
	top_srcdir=$top_srcdir top_builddir=$top_builddir "$top_srcdir/bench/run-bench.sh" >/dev/null

# (1) single convs, then whole blocks (bench/bench-block).
for t in $threads_list; do
	for pattern in random blocks; do
		for d in 1 0.5 0.25 0.1; do
			say "bench-conv ${t}t $pattern d=$d"
			"$top_builddir/bench/bench-conv" --size "$conv_size" --threads "$t" --runs "$runs" \
				--density "$d" --pattern "$pattern" --json >"$out/conv-$t-$pattern-$d.json" ||
				say "bench-conv failed"
		done
	done
done

for t in $threads_list; do
	for pattern in random blocks; do
		say "bench-block ${t}t $pattern"
		"$top_builddir/bench/bench-block" --threads "$t" --runs "$runs" --pattern "$pattern" \
			--json >"$out/block-$t-$pattern.json" || say "bench-block failed"
	done
done

# (4) the interpolation forms.
for t in $threads_list; do
	say "bench-interp ${t}t"
	"$top_builddir/bench/bench-interp" --threads "$t" --runs "$runs" --json >"$out/interp-$t.json" ||
		say "bench-interp failed"
done

# (2) the sparse backbone, in rounds: each round times Stipple's dense
# ResNet-50 and then every budget back to back, so that each budget's ratio
# to dense is taken between neighbouring measurements (the VM's speed drifts
# over minutes). The per-block profile comes from the first round.
model=$out/sparse-resnet50.stp
[ -f "$model" ] || "$PYTHON_TORCH" -m stipple_train.export --arch sparse-resnet50 --random-init \
	--seed 1 -o "$model" >/dev/null || { say "export failed"; exit 1; }
for round in $(seq 1 "$rounds"); do
	for t in $threads_list; do
		say "round $round: dense resnet50 ${t}t"
		"$stipple" bench "$out/dense/resnet50.stp" --size "$size" --threads "$t" --runs "$runs" \
			--json >"$out/round$round-$t-densemodel.json" || say "dense model failed"
		for b in $budgets; do
			say "round $round: sparse-resnet50 ${t}t budget $b"
			profile=
			[ "$round" = 1 ] && profile=--profile
			"$stipple" bench "$model" --size "$size" --threads "$t" --runs "$runs" --budget "$b" \
				$profile --json >"$out/round$round-$t-$b.json" || say "budget $b failed"
		done
		for b in $photo_budgets; do
			say "round $round: sparse-resnet50 ${t}t budget $b on the photo"
			"$stipple" bench "$model" --size "$size" --threads "$t" --runs "$runs" --budget "$b" \
				--image "$photo" --json >"$out/round$round-$t-$b-photo.json" ||
				say "budget $b on the photo failed"
		done
	done
done

"$PYTHON_TORCH" "$top_srcdir/bench/render-sparse-bench.py" "$out" "$size" >"$doc" || exit 1
cat "$doc"
