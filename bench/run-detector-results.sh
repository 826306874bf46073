#!/bin/sh
# run-detector-results.sh - accuracy against latency of the COCO detector
# (docs/results.md, "The COCO detector"), where no annotated photos exist:
#   1. pseudo ground truth: the dense model's own detections at its input
#      size, score >= 0.35, on every still of the held-out photo packages
#      (stipple_train.pseudo_gt: darknet, opencv-doc, python3-skimage);
#   2. every configuration scored against it by COCO's protocol with
#      `stipple eval` (C), which also times stp_session_run_image per image
#      (preprocessing, network, head; JPEG decoding excluded): the sparse
#      model's budget knob (1, 0.75, 0.5, 0.35, 0.25, its own masks) and
#      uniform downscaling (the dense model at long sides 352 .. 192);
#   3. bench/plot-detector-results.py: the table and the plot of AP against
#      milliseconds.
# Each configuration runs REPEATS times, the passes interleaved (pass 1 of
# every configuration, then pass 2, ...), so that a noisy machine spreads
# over all; the table gives the min and median over passes of each pass's
# median latency.
#
#   bench/run-detector-results.sh BUILD_DIR [MODEL [DENSE_MODEL]]
#
# MODEL (the budget knob's) defaults to the served models/nanodet-g, its
# highest version; DENSE_MODEL (pseudo ground truth and downscaling) to
# models/nanodet-g/1/model.stp, the import of the original. Output: OUT.json,
# OUT-table.md, OUT.png, OUT by default docs/results-detector.
# Environment: THREADS (default 2), REPEATS (default 3), OUT, PYTHON_TORCH.
set -eu
build=$1
top=$(cd "$(dirname "$0")/.." && pwd)
dense=${3:-$top/models/nanodet-g/1/model.stp}
latest=$(ls "$top/models/nanodet-g" | grep -E '^[0-9]+$' | sort -n | tail -1)
model=${2:-$top/models/nanodet-g/$latest/model.stp}
py=${PYTHON_TORCH:-/usr/bin/python3}
threads=${THREADS:-2}
repeats=${REPEATS:-3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/stipple-detector-results.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export PYTHONPATH=$top/train${PYTHONPATH:+:$PYTHONPATH}

"$py" -m stipple_train.pseudo_gt --stipple "$build/stipple" --model "$dense" -o "$tmp/data" \
	2>"$tmp/pseudo.log" >&2 || { cat "$tmp/pseudo.log" >&2; exit 1; }

# configurations: kind|label|model file|budget
configs=$tmp/configs
: >"$configs"
for rho in dense 0.75 0.5 0.35 0.25 auto; do
	echo "budget|budget $rho|$model|$rho" >>"$configs"
done
for side in 352 320 288 256 224 192; do
	cp "$dense" "$tmp/side$side.stp"
	"$py" -m stipple_train.set_input "$tmp/side$side.stp" --short-side "$side" --max-long-side "$side"
	echo "uniform|long side $side|$tmp/side$side.stp|dense" >>"$configs"
done

out=$tmp/points.jsonl
pass=1
while [ "$pass" -le "$repeats" ]; do
	while IFS='|' read -r kind label m rho; do
		echo "detector-results: pass $pass: $label" >&2
		"$build/stipple" eval "$m" "$tmp/data" --threads "$threads" --budget "$rho" --json |
			"$py" -c 'import json, sys; r = json.load(sys.stdin); r.update(kind=sys.argv[1], label=sys.argv[2], rep=int(sys.argv[3])); print(json.dumps(r))' \
				"$kind" "$label" "$pass" >>"$out"
	done <"$configs"
	pass=$((pass + 1))
done
dest=${OUT:-$top/docs/results-detector}
CPU_MODEL=$(lscpu | sed -n 's/^Model name: *//p' | head -1) DATE=$(date -u '+%Y-%m-%d %H:%M UTC') \
	THREADS=$threads "$py" "$top/bench/plot-detector-results.py" "$out" "$dest.json" "$dest.png" \
	>"$dest-table.md"
echo "detector-results: $dest.json, $dest-table.md, $dest.png" >&2
