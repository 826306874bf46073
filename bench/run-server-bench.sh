#!/usr/bin/env bash
# run-server-bench.sh - `make bench-server`: stippled's overhead over the
# engine, behaviour under wrk, throughput by budget and memory over many
# requests (bench/server-bench.py). Exports the models it needs with train/
# (a sparse ResNet-50-FPN as shipped by the demo; the sparse ResNet-50
# backbone alone, for throughput by budget; a sparse ResNet-18 whose
# input is resized to a short side of 160 for the long memory run), makes a
# 640x480 JPEG, adds the default model (models/) through /detect on
# examples/scene.jpg, and writes docs/benchmarks-server.md.
#
# Environment: top_srcdir, top_builddir, PYTHON_TORCH; SERVER_BENCH_ARGS
#   (extra flags for server-bench.py, e.g. "--wrk-seconds 20 --rss-requests 2000").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(dirname "$here")}
top_builddir=${top_builddir:-.}
PYTHON_TORCH=${PYTHON_TORCH:-/usr/bin/python3}
out=$top_builddir/bench/out-server
mkdir -p "$out"
command -v wrk >/dev/null || { echo "run-server-bench: wrk is missing (apt-get install wrk)"; exit 1; }
export PYTHONPATH=$top_srcdir/train${PYTHONPATH:+:$PYTHONPATH}
[ -f "$out/big.stp" ] || "$PYTHON_TORCH" -m stipple_train.export --arch sparse-resnet50-fpn \
	--random-init --seed 1 -o "$out/big.stp" >/dev/null
[ -f "$out/backbone.stp" ] || "$PYTHON_TORCH" -m stipple_train.export --arch sparse-resnet50 \
	--random-init --seed 1 -o "$out/backbone.stp" >/dev/null
[ -f "$out/small.stp" ] || {
	"$PYTHON_TORCH" -m stipple_train.export --arch sparse-resnet18 --random-init --seed 1 \
		-o "$out/small.stp" >/dev/null
	"$PYTHON_TORCH" -m stipple_train.set_input "$out/small.stp" --short-side 160
}
"$PYTHON_TORCH" -c '
import numpy as np, sys
from PIL import Image
rng = np.random.default_rng(0)
y, x = np.mgrid[0:480, 0:640]
img = np.stack([x * 255 // 639, y * 255 // 479, rng.integers(0, 256, (480, 640))], -1)
Image.fromarray(img.astype(np.uint8)).save(sys.argv[1], quality=90)' "$out/image.jpg"
"$PYTHON_TORCH" "$here/server-bench.py" --stippled "$top_builddir/stippled" \
	--stipple "$top_builddir/stipple" --model "$out/big.stp" --backbone-model "$out/backbone.stp" --small-model "$out/small.stp" \
	--detect-model "$top_srcdir/models/stipple-r18-detseg/1/model.stp" --detect-image "$top_srcdir/examples/scene.jpg" \
	--image "$out/image.jpg" --lua "$here/wrk-infer.lua" --json "$out/server-bench.json" \
	--doc "$top_srcdir/docs/benchmarks-server.md" ${SERVER_BENCH_ARGS:-}
