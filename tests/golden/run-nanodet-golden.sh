#!/bin/sh
# run-nanodet-golden.sh - the bundled COCO detector (models/nanodet-g: CSP
# backbone, PAN, GFL head) against its PyTorch reference
# (train/stipple_train/nanodet.py), end to end through the CLI: `stipple
# detect --score-threshold 0 --json` against task_golden.py on the same
# model file and pixels, at every ISA level the CPU has, on 1 and 2 threads.
#
# Images: examples/street.jpg (768 x 576) and two crops of it, a portrait
# (500 x 300) and a small one (120 x 160, scaled up); the model at its own
# input rule (long side 416) and at long sides 640 and 256 (set_input.py),
# so padded sizes, level sizes and bilinear PAN resizes vary, and at 416
# with the head's multi_label on (every class above the threshold a
# candidate, NanoDet's own decoding).
#
# Sparse: the same weights with masks on every stage and head level
# (random sampling modules and RBF scales, seeded), calibrated per image
# by task_golden.py so that no logit lies near its threshold: the engine's
# trained-mask run (deterministic) must equal PyTorch's, and its dense run
# (--budget dense) the dense model's reference. A case needs 30
# detections in the reference; compare_task.py decides (same labels and
# order, boxes within 1e-3 relative, scores 1e-4).
#
# Environment (set by make check): top_srcdir, top_builddir, PYTHON_TORCH;
# the setup is golden-env.sh's.
# Exit: 0 pass, 1 a comparison failed, 77 no torch, 99 harness error.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/golden/golden-env.sh"
golden_setup nanodet-golden

model=$srcdir/models/nanodet-g/1/model.stp
[ -f "$model" ] || harness_error "$model is missing"
"$py" - "$srcdir/examples/street.jpg" "$tmp" <<'PY' || harness_error "cannot cut the crops"
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
im.save(sys.argv[2] + "/street.png")
im.crop((300, 60, 600, 560)).save(sys.argv[2] + "/portrait.png")
im.crop((640, 40, 768, 200)).resize((120, 160), Image.BILINEAR).save(sys.argv[2] + "/small.png")
PY

# check LABEL MODEL IMAGE REF LEAST BUDGET: the engine's detections on IMAGE
# against REF at every ISA level the CPU has, on 1 and 2 threads.
check() {
	for isa in scalar avx2 avx512; do
		for threads in 1 2; do
			printf '%s %s %dt: ' "$1" "$isa" "$threads"
			if "$stipple" detect "$2" "$3" --budget "$6" --threads $threads --isa $isa \
				--score-threshold 0 --json >"$tmp/c.json" 2>"$tmp/err"; then
				"$py" "$srcdir/tests/golden/compare_task.py" detect "$4" "$tmp/c.json" "$5" ||
					failed=1
			elif grep -q "cannot create an engine.*unsupported" "$tmp/err"; then
				echo "skipped: this CPU has no $isa"
			else
				echo "FAIL: stipple detect failed: $(cat "$tmp/err")"
				failed=1
			fi
		done
	done
}

for side in 416 640 256 multi-label; do
	m=$model
	if [ "$side" = multi-label ]; then
		m=$tmp/multi.stp
		"$py" - "$model" "$m" <<'PY' || harness_error "multi_label model"
import sys
from stipple_train.export import load_model, save_model
model = load_model(sys.argv[1])
model.arch["heads"][0]["multi_label"] = True
save_model(model, sys.argv[2], "F16")
PY
	elif [ "$side" != 416 ]; then
		m=$tmp/side$side.stp
		cp "$model" "$m"
		"$py" -m stipple_train.set_input "$m" --short-side "$side" --max-long-side "$side" ||
			harness_error "set_input $side"
	fi
	for img in street portrait small; do
		"$py" -m stipple_train.task_golden --model "$m" --image "$tmp/$img.png" \
			-o "$tmp/ref.json" || harness_error "reference $side $img"
		check "long side $side $img" "$m" "$tmp/$img.png" "$tmp/ref.json" 30 auto
	done
done
# sparse: a model with random masks, its reference per image after calibration
"$py" - "$model" "$tmp/sparse.stp" <<'PY' || harness_error "sparse model"
import sys
import torch
from stipple_train import nanodet
from stipple_train.export import load_model, save_model
dense = load_model(sys.argv[1])
model = nanodet.NanoDet(nanodet.sparse_arch(dense.arch))
model.load_state_dict(dense.state_dict(), strict=False)
gen = torch.Generator().manual_seed(5)
with torch.no_grad():
    for m in nanodet.masks_of(model):
        m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.05)
        m.bias.zero_()
    for name, p in model.named_parameters():
        if name.endswith("interp.a"):
            p.fill_(2.0 + 2.0 * float(torch.rand(1, generator=gen)))
save_model(model, sys.argv[2], "F32")
PY
for img in street portrait small; do
	"$py" -m stipple_train.task_golden --model "$tmp/sparse.stp" --image "$tmp/$img.png" \
		--calibrated-model "$tmp/sparse-$img.stp" -o "$tmp/ref.json" ||
		harness_error "sparse reference $img"
	"$py" -m stipple_train.task_golden --model "$model" --image "$tmp/$img.png" \
		-o "$tmp/dense-ref.json" || harness_error "dense reference $img"
	check "sparse $img trained masks" "$tmp/sparse-$img.stp" "$tmp/$img.png" "$tmp/ref.json" 5 auto
	check "sparse $img budget dense" "$tmp/sparse-$img.stp" "$tmp/$img.png" \
		"$tmp/dense-ref.json" 5 dense
done
exit $failed
