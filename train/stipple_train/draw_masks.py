"""Pictures of where a sparse one-stage detector computes: the cells each
mask samples, drawn over the photo, with the detections.

    python3 -m stipple_train.draw_masks --model M.stp -o masks.png PHOTO [PHOTO ...]

One row per photo: the photo with the detections scoring at least 0.3,
then one panel per mask (the CSP stages' masks, then the head levels'):
sampled cells bright, the others darkened, in the photo's own pixels (a
cell of a stride-s map covers s x s pixels of the padded network input,
scaled back by the resize factor). The model's own (deterministic)
masks, the cells the engine computes with --budget auto.
"""
import argparse
import sys

import numpy as np
import torch
from PIL import Image, ImageDraw

from . import nanodet, transform
from .export import load_model
from .sparse import sampling_mode
from .task_golden import load_image

PANEL = 256


def _masks(model):
    stages = [s.last_masks[0] for s in model.backbone.stages if s.mask is not None]
    return stages + [m for m in model.head.last_masks if m is not None]


def draw(model, paths):
    rows = []
    names = model.arch["classes"]
    for path in paths:
        img = load_image(path)
        x, sizes, originals, _ = transform.preprocess([img], model.arch["input"])
        (rh, rw), (h, w) = sizes[0], originals[0]
        with torch.no_grad(), sampling_mode("deterministic"):
            det = model.predict([img])[0]
            masks = _masks(model)
        photo = Image.open(path).convert("RGB")
        drawn = photo.copy()
        d = ImageDraw.Draw(drawn)
        for b, s, l in zip(det["boxes"], det["scores"], det["labels"]):
            if s >= 0.3:
                d.rectangle([float(v) for v in b], outline=(255, 40, 40), width=3)
                d.text((float(b[0]) + 3, float(b[1]) + 2), "%s %.2f" % (names[int(l) - 1], s),
                       fill=(255, 255, 0))
        panels = [drawn]
        for i, m in enumerate(masks):
            mm = m[0, 0]
            stride = x.shape[2] // mm.shape[0]
            # network pixels -> photo pixels: the resize factor, then crop the padding
            cell = Image.fromarray((mm.numpy() * 255).astype(np.uint8)).resize(
                (mm.shape[1] * stride, mm.shape[0] * stride), Image.NEAREST)
            cell = cell.crop((0, 0, rw, rh)).resize((w, h), Image.NEAREST)
            dark = Image.blend(photo, Image.new("RGB", photo.size), 0.75)
            panel = Image.composite(photo, dark, cell)
            label = "mask %d: stride %d, %.0f%% of cells" % (i, stride, 100 * float(mm.mean()))
            ImageDraw.Draw(panel).text((6, 6), label, fill=(255, 255, 0))
            panels.append(panel)
        row = Image.new("RGB", (PANEL * len(panels), int(PANEL * h / w)))
        for j, p in enumerate(panels):
            row.paste(p.resize((PANEL, int(PANEL * h / w)), Image.BILINEAR), (j * PANEL, 0))
        rows.append(row)
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height
    return sheet


def main(argv=None):
    ap = argparse.ArgumentParser(prog="stipple_train.draw_masks", description=__doc__.split("\n")[0])
    ap.add_argument("photos", nargs="+")
    ap.add_argument("--model", required=True)
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    model = load_model(args.model).float().eval()
    if not nanodet.masks_of(model):
        ap.error("%s has no masks" % args.model)
    draw(model, args.photos).save(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
