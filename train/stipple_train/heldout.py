"""Does a detector find what a person sees? Scoring on held-out photos.

    python3 -m stipple_train.heldout engine --stipple build/stipple --model M.stp \
        [--budget 0.5] [--labels bench/heldout-photos.json]
    python3 -m stipple_train.heldout preprocessing --model M.stp [--labels ...]

The labels (bench/heldout-photos.json) list, per photo, the COCO objects a
person sees and how many, counted by eye; no boxes exist for these photos,
so scoring counts classes: an object is found when the photo has a
detection of its class scoring at least 0.3 (n objects of a class need n
such detections); a false alarm is a detection scoring at least 0.3 whose
class the photo does not list. "engine" runs `stipple detect` on every photo
(the shipped pipeline, at a budget); "preprocessing" runs the PyTorch model
with each input preprocessing it knows (PREPROCESSING) on the same photos,
to show which the shipped one should be.
"""
import argparse
import json
import os
import subprocess
import sys

import torch
import torch.nn.functional as F

from . import transform
from .dataset.assets import assets_dir
from .export import load_model
from .nanodet import gfl_decode
from .task_golden import load_image

THRESHOLD = 0.3
LABELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench",
                      "heldout-photos.json")


def load_labels(path=LABELS):
    with open(path) as f:
        return json.load(f)["photos"]


def score_photo(objects, detections, threshold=THRESHOLD):
    """(found, listed, false alarms, scores of the found) for one photo:
    objects {"a|b": n}, detections [(class name, score)]."""
    shown = [(c, s) for c, s in detections if s >= threshold]
    found, listed, scores = 0, 0, []
    accepted = set()
    for names, n in objects.items():
        alternatives = names.split("|")
        accepted.update(alternatives)
        hits = sorted((s for c, s in shown if c in alternatives), reverse=True)[:n]
        found += len(hits)
        listed += n
        scores += hits
    false_alarms = sum(1 for c, _ in shown if c not in accepted)
    return found, listed, false_alarms, scores


def summary(photos, detections_by_photo, threshold=THRESHOLD):
    """Totals over the photos: found, listed, false alarms, mean score of the
    found objects, and the photos' names with a false alarm or a miss."""
    found = listed = alarms = 0
    scores, notes = [], []
    for p in photos:
        f, n, a, s = score_photo(p["objects"], detections_by_photo[p["path"]], threshold)
        found += f
        listed += n
        alarms += a
        scores += s
        if f < n or a:
            notes.append("%s: %d/%d found, %d false alarm(s)" % (p["path"], f, n, a))
    return {"found": found, "listed": listed, "recall": found / listed,
            "false_alarms": alarms, "false_alarms_per_photo": alarms / len(photos),
            "mean_score": sum(scores) / len(scores) if scores else 0.0, "notes": notes}


def _photo_path(p):
    return os.path.join(assets_dir(), "photos", p["path"])


def engine_detections(stipple, model, photos, budget):
    """{photo: [(class, score)]} from `stipple detect --json`."""
    out = {}
    for p in photos:
        cmd = [stipple, "detect", model, _photo_path(p), "--json", "--score-threshold", "0",
               "--budget", budget, "--threads", "2"]
        doc = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        out[p["path"]] = [(d["class"], d["score"]) for d in doc["detections"]]
    return out


# Preprocessing variants: image (3, h, w) RGB 0-255 -> the network input
# (1, 3, H, W). "shipped" is the model file's own rule (transform.py).
def _shipped(model, img):
    return transform.preprocess([img], model.arch["input"])[0]


def _normalised(model, img):
    cfg = model.arch["input"]
    return transform.normalize(img.flip(0), cfg["mean"], cfg["std"])


def _letterbox(model, img):
    """NanoDet's own test pipeline: the image scaled to fit 416 x 416,
    centred, the border black (before normalisation)."""
    side = model.arch["input"]["resize"]["max_long_side"]
    h, w = img.shape[1:]
    scale = min(side / h, side / w)
    rh, rw = int(round(h * scale)), int(round(w * scale))
    canvas = torch.zeros(3, side, side)
    y0, x0 = (side - rh) // 2, (side - rw) // 2
    canvas[:, y0:y0 + rh, x0:x0 + rw] = transform.resize(img, (rh, rw))
    return _normalised(model, canvas)[None]


def _stretched(model, img):
    side = model.arch["input"]["resize"]["max_long_side"]
    return transform.resize(_normalised(model, img), (side, side))[None]


def _rgb(model, img):
    """The shipped rule with the channels left in RGB order."""
    cfg = dict(model.arch["input"], channel_order="rgb")
    return transform.preprocess([img], cfg)[0]


def _human_js(model, img):
    """@vladmandic/human's: stretched to 416 x 416, RGB, divided by 255."""
    side = model.arch["input"]["resize"]["max_long_side"]
    return transform.resize(img / 255.0, (side, side))[None]


def _antialiased(model, img):
    """The shipped rule with an antialiased (area-weighted) downscale."""
    cfg = model.arch["input"]
    x = transform.normalize(img.flip(0), cfg["mean"], cfg["std"])
    rh, rw = transform.resized_size(*img.shape[1:], cfg["resize"]["short_side"],
                                    cfg["resize"]["max_long_side"])
    x = F.interpolate(x[None], size=(rh, rw), mode="bilinear", align_corners=False,
                      antialias=True)
    ph, pw = transform.padded_size([(rh, rw)], cfg["size_divisor"])
    return F.pad(x, (0, pw - rw, 0, ph - rh))


PREPROCESSING = {
    "shipped: BGR, ImageNet mean/std, long side 416, mean-colour padding to x32": _shipped,
    "NanoDet's test pipeline: the same, letterboxed in 416x416, black border": _letterbox,
    "the same, stretched to 416x416 (aspect not kept)": _stretched,
    "shipped, channels left in RGB order": _rgb,
    "@vladmandic/human's: RGB / 255, stretched to 416x416": _human_js,
    "shipped, antialiased downscale": _antialiased,
}


def pytorch_detections(model, photos, prepare):
    out = {}
    names = model.arch["classes"]
    for p in photos:
        x = prepare(model, load_image(_photo_path(p)))
        with torch.no_grad():
            outs = model(x)
        _, scores, labels = gfl_decode(model.arch["heads"][0], [o[0] for o in outs],
                                       x.shape[2], x.shape[3])
        out[p["path"]] = [(names[int(l) - 1], float(s)) for s, l in zip(scores, labels)]
    return out


def _row(name, s):
    return "| %s | %d/%d (%.0f%%) | %.2f | %.3f |" % (
        name, s["found"], s["listed"], 100 * s["recall"], s["false_alarms_per_photo"],
        s["mean_score"])


HEADER = ("| configuration | objects found (score >= 0.3) | false alarms per photo | "
          "mean score of the found |\n|---|---|---|---|")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="stipple_train.heldout", description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["engine", "preprocessing"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--labels", default=LABELS)
    ap.add_argument("--stipple", help="engine: the stipple binary")
    ap.add_argument("--budget", default="dense", help="engine: --budget of stipple detect")
    ap.add_argument("--notes", action="store_true", help="list the photos with misses or alarms")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    photos = load_labels(args.labels)
    missing = [p["path"] for p in photos if not os.path.exists(_photo_path(p))]
    if missing:
        print("heldout: photos missing (scripts/install-assets.sh): %s" % missing,
              file=sys.stderr)
        return 1
    print(HEADER)
    if args.what == "engine":
        if not args.stipple:
            ap.error("engine needs --stipple")
        rows = {"stipple detect --budget %s" % args.budget:
                engine_detections(args.stipple, args.model, photos, args.budget)}
    else:
        model = load_model(args.model).float().eval()
        rows = {name: pytorch_detections(model, photos, f) for name, f in PREPROCESSING.items()}
    for name, dets in rows.items():
        s = summary(photos, dets)
        print(_row(name, s))
        if args.notes:
            for n in s["notes"]:
                print("    " + n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
