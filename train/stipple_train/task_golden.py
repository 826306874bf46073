"""Reference results of a task model (detection and/or semantic
segmentation) on one image, for the C engine's golden tests.

    python3 -m stipple_train.task_golden --model M.stp --image IMG.png \
        [--calibrated-model C.stp] [--proposals N] -o REF.json [--labels REF.png]

Loads the image (8-bit RGB, as the engine decodes it), runs detection.predict
in float32, deterministic sampling (at most N proposals: the engine's
budget mode), and writes REF.json: "detections" (boxes
x1, y1, x2, y2 in original pixels, scores, labels; by descending score),
"size" [h, w], and with --labels the semantic label map as an 8-bit PNG.
A sparse model is first calibrated on this image's network input
(golden.calibrate: no mask cell near its threshold, so float32 and float64
sample the same cells) and written to --calibrated-model, the model the
engine must run; "min_margin" reports the smallest distance to a threshold.
"""
import argparse
import json
import sys

import numpy as np
import torch
from PIL import Image

from . import golden
from .export import load_model, save_model
from .sparse import MaskPredictor, sampling_mode
from .transform import preprocess


def load_image(path):
    """(3, h, w) float32 in 0-255 units."""
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    return torch.from_numpy(a).permute(2, 0, 1).contiguous()


def calibrate_on(model, image):
    """Moves model's mask biases so its network input for image has no cell
    near a threshold (deterministic sampling)."""
    batch, _, _, _ = preprocess([image], model.arch["input"])
    golden.calibrate(model.float().eval(), batch[0].permute(1, 2, 0), "deterministic", 0)


def reference(model, image, max_proposals=None):
    """(predict's dict for image, smallest margin or None). float32, as the
    engine: preprocessing is float32 in both (transform.preprocess)."""
    model = model.float().eval()
    margins = []

    def record(predictor, inputs, output):
        logit = predictor.logits(inputs[0])
        margins.append(float(golden._compared_values(predictor, logit).abs().min())
                       if logit.numel() else float("inf"))

    hooks = [m.register_forward_hook(record) for m in model.modules()
             if isinstance(m, MaskPredictor)]
    try:
        with torch.no_grad(), sampling_mode("deterministic"):
            kwargs = {} if max_proposals is None else {"max_proposals": max_proposals}
            out = model.predict([image], **kwargs)[0]
    finally:
        for h in hooks:
            h.remove()
    return out, (min(margins) if margins else None)


def main(argv=None):
    p = argparse.ArgumentParser(prog="stipple_train.task_golden",
                                description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--calibrated-model", help="sparse models (required): the calibrated model")
    p.add_argument("-o", "--output", required=True, help="the reference JSON")
    p.add_argument("--labels", help="write the semantic label map here (PNG)")
    p.add_argument("--proposals", type=int, help="keep at most N proposals")
    args = p.parse_args(argv)

    torch.set_num_threads(1)
    model = load_model(args.model)
    image = load_image(args.image)
    if model.arch["backbone"].get("sparse") is not None:
        if not args.calibrated_model:
            p.error("a sparse model needs --calibrated-model")
        calibrate_on(model, image)
        save_model(model, args.calibrated_model, golden._file_dtype(args.model))
        model = load_model(args.calibrated_model)
    out, margin = reference(model, image, args.proposals)
    if margin is not None and margin < golden.MIN_MARGIN:
        raise RuntimeError("calibrated masks leave a compared value %.3g from 0" % margin)
    doc = {"size": list(image.shape[1:]), "min_margin": margin}
    if "boxes" in out:
        doc["detections"] = [{"box": [float(v) for v in b], "score": float(s), "label": int(l)}
                             for b, s, l in zip(out["boxes"], out["scores"], out["labels"])]
    if "semantic" in out:
        if not args.labels:
            p.error("a segmenting model needs --labels")
        Image.fromarray(out["semantic"].numpy().astype(np.uint8), mode="L").save(args.labels)
        doc["labels_present"] = sorted(int(v) for v in out["semantic"].unique())
    with open(args.output, "w") as f:
        json.dump(doc, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
