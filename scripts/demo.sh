#!/usr/bin/env bash
# demo.sh - the README's main job: install the dependencies, build Stipple,
# and run stippled in the foreground on the default model until Ctrl-C.
#
# The model repository is models/, where the bundled models ship (nanodet-g,
# the COCO detector /detect uses, and stipple-r18-detseg, the synthetic
# detector + segmenter /segment uses); in a tree without them, build/models/,
# where this script exports a sparse ResNet-18-FPN detector + segmenter with
# random weights (train/, PyTorch). Once it is ready, open http://127.0.0.1:8080/
# in a browser (the web page), or try (from another shell):
#   curl -s localhost:8080/v2/health/ready
#   curl -s --data-binary @examples/street.jpg -H 'Content-Type: image/jpeg' \
#        localhost:8080/detect
#   (and the README's KServe v2 request)
#
#   LISTEN=HOST:PORT (default 127.0.0.1:8080); other stippled flags may follow:
#   scripts/demo.sh --workers 2 --log_level debug
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
listen=${LISTEN:-127.0.0.1:8080}
scripts/install-deps.sh
[ -x configure ] || autoreconf -fi >/dev/null
mkdir -p build
(cd build && { [ -f Makefile ] || "$top/configure" >/dev/null; } && make -j"$(nproc)" stipple stippled >/dev/null)

repo=models
if ! ls models/*/*/model.stp >/dev/null 2>&1; then
	repo=build/models
	model=$repo/stipple-r18-detseg/1/model.stp
	if [ ! -f "$model" ]; then
		echo "demo: exporting a sparse ResNet-18-FPN detector + segmenter with random weights to $model"
		mkdir -p "$(dirname "$model")"
		PYTHONPATH=train /usr/bin/python3 -m stipple_train.export --arch sparse-resnet18-fpn-detseg \
			--num-classes 20 --random-init --seed 1 -o "$model" >/dev/null
	fi
fi
echo "demo: serving $repo on http://$listen (open it in a browser for the web page; Ctrl-C stops)"
exec build/stippled --listen "$listen" --models "$repo" "$@"
