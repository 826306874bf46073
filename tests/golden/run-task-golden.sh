#!/bin/sh
# run-task-golden.sh - the engine's task heads against PyTorch, end to end
# through the CLI: `stipple detect` and `stipple segment` on fixture PNGs
# against train/stipple_train/task_golden.py on the same model and pixels,
# on 1 and 2 threads.
#
# Models: random weights (export.py --random-init), dense and sparse ResNet-18
# FPN with both heads (Faster R-CNN with torchvision's defaults and semantic
# FPN), 5 classes, served at a small input size (set_input.py) so that
# resizing up and down both occur. Random weights put about 100 detections
# above the score threshold; a case needs at least 20. A sparse model is calibrated on
# each image first (task_golden.py), so float32 rounding cannot flip a mask
# cell; the engine runs the calibrated file. compare_task.py decides.
#
# Environment (set by make check): top_srcdir, top_builddir, PYTHON_TORCH;
# the setup is golden-env.sh's.
# Exit: 0 pass, 1 a comparison failed, 77 no torch, 99 harness error.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/golden/golden-env.sh"
golden_setup task-golden

# Fixture images: noise with a few flat rectangles.
draw_fixtures 5 wide:90x130 tall:300x170

# model: arch seed; each carries both heads
for spec in "resnet18-fpn-detseg 3" "sparse-resnet18-fpn-detseg 4"; do
	set -- $spec
	arch=$1 seed=$2
	m=$tmp/$arch.stp
	"$py" -m stipple_train.export --arch "$arch" --num-classes 5 --random-init --seed "$seed" \
		-o "$m" >/dev/null || harness_error "export $arch"
	"$py" -m stipple_train.set_input "$m" --short-side 160 --max-long-side 256 ||
		harness_error "set_input $arch"
	for img in wide tall; do
		run=$m
		cal=
		case $arch in sparse-*) cal="--calibrated-model $tmp/$arch-$img.stp"; run=$tmp/$arch-$img.stp ;; esac
		# shellcheck disable=SC2086
		"$py" -m stipple_train.task_golden --model "$m" --image "$tmp/$img.png" $cal \
			-o "$tmp/ref.json" --labels "$tmp/ref.png" || harness_error "reference $arch $img"
		for threads in 1 2; do
			printf '%s %s %dt segment: ' "$arch" "$img" "$threads"
			check_task segment 2 "$run" "$tmp/$img.png" --threads $threads
			printf '%s %s %dt detect: ' "$arch" "$img" "$threads"
			check_task detect 20 "$run" "$tmp/$img.png" --threads $threads --score-threshold 0
		done
	done
done
exit $failed
