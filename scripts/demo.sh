#!/usr/bin/env bash
# demo.sh - the README's main job: build Stipple, export a ResNet-50-FPN with
# random weights (PyTorch, train/), describe it and time it.
#   MODEL=path  use an existing model file instead of exporting one
#   SIZE=HxW THREADS=N RUNS=R   benchmark settings (default 800x1216, 2, 5)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
scripts/install-deps.sh
[ -x configure ] || autoreconf -fi >/dev/null
mkdir -p build
(cd build && { [ -f Makefile ] || "$top/configure" >/dev/null; } && make -j"$(nproc)" stipple >/dev/null)
model=${MODEL:-build/models/resnet50-fpn-random.stp}
if [ ! -f "$model" ]; then
	mkdir -p "$(dirname "$model")"
	echo "exporting a ResNet-50-FPN with random weights to $model"
	PYTHONPATH=train /usr/bin/python3 -m stipple_train.export --arch resnet50-fpn \
		--random-init --seed 1 -o "$model"
fi
build/stipple info "$model" --size "${SIZE:-800x1216}"
build/stipple bench "$model" --size "${SIZE:-800x1216}" --threads "${THREADS:-2}" --runs "${RUNS:-5}"
