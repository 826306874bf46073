#!/usr/bin/env bash
# demo.sh - the README's main job (until the daemon lands): build Stipple,
# export a ResNet-50-FPN with random weights (PyTorch, train/), describe it
# and time it; then the same network with sparse blocks at three budgets.
#   MODEL=path  use an existing dense model file instead of exporting one
#   SIZE=HxW THREADS=N RUNS=R   benchmark settings (default 800x1216, 2, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
size=${SIZE:-800x1216}
threads=${THREADS:-2}
runs=${RUNS:-3}
scripts/install-deps.sh
[ -x configure ] || autoreconf -fi >/dev/null
mkdir -p build
(cd build && { [ -f Makefile ] || "$top/configure" >/dev/null; } && make -j"$(nproc)" stipple >/dev/null)
export PYTHONPATH=train
model=${MODEL:-build/models/resnet50-fpn-random.stp}
sparse=build/models/sparse-resnet50-fpn-random.stp
mkdir -p build/models
if [ ! -f "$model" ]; then
	echo "exporting a ResNet-50-FPN with random weights to $model"
	/usr/bin/python3 -m stipple_train.export --arch resnet50-fpn --random-init --seed 1 -o "$model"
fi
build/stipple info "$model" --size "$size"
build/stipple bench "$model" --size "$size" --threads "$threads" --runs "$runs"
if [ ! -f "$sparse" ]; then
	echo "exporting a sparse ResNet-50-FPN (random masks) to $sparse"
	/usr/bin/python3 -m stipple_train.export --arch sparse-resnet50-fpn --random-init --seed 1 -o "$sparse"
fi
for budget in dense 0.5 0.25; do
	echo "== sparse ResNet-50-FPN, budget $budget"
	build/stipple bench "$sparse" --size "$size" --threads "$threads" --runs "$runs" \
		--budget "$budget" | grep -E 'time|cost|sparsity'
done
