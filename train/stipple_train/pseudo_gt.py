"""A detection dataset whose ground truth is a detector's own output: the
pseudo ground truth that scores configurations of a COCO detector where no
annotated photos exist (docs/results.md, "The COCO detector").

    python3 -m stipple_train.pseudo_gt --stipple build/stipple \
        --model models/nanodet-g/1/model.stp -o DIR [--threshold 0.35]

Takes every JPEG and PNG still of the held-out photo sources (the Debian
packages darknet, opencv-doc and python3-skimage, under
$STIPPLE_ASSETS/photos/: never trained on), runs the model densely at its
own input size (`stipple detect --budget dense`), keeps detections scoring
at least --threshold as ground truth boxes and writes DIR in the Stipple
dataset layout (docs/dataset.md): DIR/images/SOURCE-NAME (copies) and
DIR/annotations.json (COCO: images, annotations with bbox [x, y, w, h] and
area, categories with ids 1..N = the model's labels and its class names).
`stipple eval MODEL DIR` then scores any configuration by COCO's protocol
against it.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

from .dataset.assets import assets_dir

SOURCES = ("darknet", "opencv", "skimage")
EXTENSIONS = (".jpg", ".jpeg", ".png")


def heldout_images(sources=SOURCES):
    """(source, path) of every JPEG and PNG of the held-out sources, sorted."""
    out = []
    for src in sources:
        root = os.path.join(assets_dir(), "photos", src)
        for name in sorted(os.listdir(root)):
            if name.lower().endswith(EXTENSIONS) and os.path.isfile(os.path.join(root, name)):
                out.append((src, os.path.join(root, name)))
    return out


def detect(stipple, model, path, threshold):
    cmd = [stipple, "detect", model, path, "--json", "--budget", "dense", "--threads", "2",
           "--score-threshold", repr(threshold)]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        return None, run.stderr.strip()
    return json.loads(run.stdout), None


def build(stipple, model, out, threshold, sources=SOURCES):
    """Writes the dataset; returns (images, boxes, skipped [(path, why)])."""
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    doc = {"images": [], "annotations": [], "categories": []}
    skipped = []
    names = None
    for src, path in heldout_images(sources):
        det, why = detect(stipple, model, path, threshold)
        if det is None:
            skipped.append((path, why))  # e.g. a 16-bit or paletted PNG the decoder refuses
            continue
        image_id = len(doc["images"]) + 1
        file_name = "%s-%s" % (src, os.path.basename(path))
        shutil.copyfile(path, os.path.join(out, "images", file_name))
        doc["images"].append({"id": image_id, "file_name": file_name,
                              "width": det["image"]["width"], "height": det["image"]["height"]})
        for d in det["detections"]:
            x1, y1, x2, y2 = d["box"]
            doc["annotations"].append({"id": len(doc["annotations"]) + 1, "image_id": image_id,
                                       "category_id": d["label"], "iscrowd": 0,
                                       "bbox": [x1, y1, x2 - x1, y2 - y1],
                                       "area": (x2 - x1) * (y2 - y1)})
        if names is None:
            names = _class_names(stipple, model)
    doc["categories"] = [{"id": i + 1, "name": n} for i, n in enumerate(names or [])]
    with open(os.path.join(out, "annotations.json"), "w") as f:
        json.dump(doc, f)
    return len(doc["images"]), len(doc["annotations"]), skipped


def _class_names(stipple, model):
    info = json.loads(subprocess.run([stipple, "info", model, "--json"], check=True,
                                     capture_output=True, text=True).stdout)
    return info["architecture"]["classes"]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="stipple_train.pseudo_gt", description=__doc__.split("\n")[0])
    ap.add_argument("--stipple", required=True, help="the stipple binary")
    ap.add_argument("--model", required=True)
    ap.add_argument("-o", "--output", required=True, help="the dataset directory to write")
    ap.add_argument("--threshold", type=float, default=0.35,
                    help="detections scoring at least this are ground truth (default 0.35)")
    args = ap.parse_args(argv)
    images, boxes, skipped = build(args.stipple, args.model, args.output, args.threshold)
    for path, why in skipped:
        print("pseudo_gt: skipped %s: %s" % (path, why), file=sys.stderr)
    print("pseudo_gt: %d images, %d boxes (score >= %g) in %s"
          % (images, boxes, args.threshold, args.output))
    return 0 if images else 1


if __name__ == "__main__":
    sys.exit(main())
