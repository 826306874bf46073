#!/bin/sh
# run-detect-golden.sh - the Faster R-CNN head alone (`-det` models, 20
# classes) against PyTorch, end to end through the CLI: `stipple detect` on
# fixture PNGs of three sizes and aspects against
# train/stipple_train/task_golden.py on the same model and pixels, on 1 and
# 2 threads. run-task-golden.sh covers the heads together with 5 classes.
#
# Models: random weights (export.py --random-init), dense and sparse ResNet-18
# FPN, served at a short side of 224 (set_input.py): the small image is
# scaled up, the others down with the long side binding, and the padded sizes
# give P6 strides that are not powers of two. Random weights make fc7's output
# nearly the same for every RoI, so one or two labels would win everywhere;
# the fixture spreads the classifier (logits centred on the mean fc7 output
# of one image, weights doubled) so that 15 to 20 labels are detected, with
# scores between 0.3 and 0.75. A case needs 50 detections and 8 labels in
# the reference. A sparse model is calibrated on each image first
# (task_golden.py); the engine runs the calibrated file. compare_task.py
# decides (same labels and order, boxes within 1e-3 relative, scores 1e-4).
# Last, budget mode's proposal cap on the dense model, against the reference
# keeping as many proposals.
#
# Environment (set by make check): top_srcdir, top_builddir, PYTHON_TORCH;
# the setup is golden-env.sh's.
# Exit: 0 pass, 1 a comparison failed, 77 no torch, 99 harness error.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/golden/golden-env.sh"
golden_setup detect-golden

# Fixture images: noise with a few flat rectangles.
draw_fixtures 11 small:57x83 tall:410x190 wide:150x400

# spread MODEL IMAGE: the classifier spread described above, in place.
spread() {
	"$py" - "$1" "$2" <<'PY'
import sys
import torch
from stipple_train.export import load_model, save_model
from stipple_train.sparse import sampling_mode
from stipple_train.task_golden import load_image

torch.set_num_threads(2)
model = load_model(sys.argv[1]).float().eval()
seen = []
hook = model.roi_heads.box_head.register_forward_hook(lambda m, i, o: seen.append(o))
with torch.no_grad(), sampling_mode("deterministic"):
    model.predict([load_image(sys.argv[2])])
hook.remove()
cls = model.roi_heads.box_predictor.cls_score
with torch.no_grad():
    cls.weight.mul_(2.0)
    cls.bias.copy_(-(seen[0].mean(0) @ cls.weight.T))
save_model(model, sys.argv[1])
PY
}

# model: arch seed
for spec in "resnet18-fpn-det 7" "sparse-resnet18-fpn-det 8"; do
	# shellcheck disable=SC2086
	set -- $spec
	arch=$1 seed=$2
	m=$tmp/$arch.stp
	"$py" -m stipple_train.export --arch "$arch" --num-classes 20 --random-init --seed "$seed" \
		-o "$m" >/dev/null || harness_error "export $arch"
	"$py" -m stipple_train.set_input "$m" --short-side 224 --max-long-side 352 ||
		harness_error "set_input $arch"
	spread "$m" "$tmp/small.png" || harness_error "spread $arch"
	for img in small tall wide; do
		run=$m
		cal=
		case $arch in sparse-*) cal="--calibrated-model $tmp/$arch-$img.stp"; run=$tmp/$arch-$img.stp ;; esac
		# shellcheck disable=SC2086
		"$py" -m stipple_train.task_golden --model "$m" --image "$tmp/$img.png" $cal \
			-o "$tmp/ref.json" || harness_error "reference $arch $img"
		"$py" -c 'import json, sys
labels = {d["label"] for d in json.load(open(sys.argv[1]))["detections"]}
sys.exit(len(labels) < 8)' "$tmp/ref.json" || harness_error "$arch $img: under 8 labels detected"
		for threads in 1 2; do
			printf '%s %s %dt: ' "$arch" "$img" "$threads"
			check_task detect 50 "$run" "$tmp/$img.png" --threads $threads --score-threshold 0
		done
	done
done

# Budget mode keeps ceil(budget x post_nms_top_n) proposals: on the dense
# model (no masks) budget 0.1 changes only that, and must equal the
# reference keeping as many.
m=$tmp/resnet18-fpn-det.stp
cap=$("$py" -c 'import json, math, sys
from stipple_train.export import load_model
print(math.ceil(0.1 * load_model(sys.argv[1]).rpn.cfg["post_nms_top_n"]))' "$m") ||
	harness_error "post_nms_top_n"
for img in small wide; do
	"$py" -m stipple_train.task_golden --model "$m" --image "$tmp/$img.png" --proposals "$cap" \
		-o "$tmp/ref.json" || harness_error "reference $img, $cap proposals"
	printf 'resnet18-fpn-det %s budget 0.1 (%s proposals): ' "$img" "$cap"
	check_task detect 50 "$m" "$tmp/$img.png" --threads 2 --score-threshold 0 --budget 0.1
done
exit $failed
