"""The synthetic dataset generator (stipple_train.dataset, docs/dataset.md):
determinism, COCO validity, label consistency, split hygiene, coverage.
Skips when scripts/install-assets.sh has not been run."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from stipple_train.dataset import rle, stats, writer
from stipple_train.dataset.assets import (CATEGORIES, PHOTOS, Assets, AssetsMissing,
                                          mnist_split, photos_for)
from stipple_train.dataset.compose import Composer

TRAIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

try:
    ASSETS = Assets()
except AssetsMissing as e:  # pragma: no cover - depends on the machine
    pytest.skip("dataset assets not installed (%s)" % e, allow_module_level=True)


def build(tmp_path_factory, name, split, seed, count, jobs=1):
    out = str(tmp_path_factory.mktemp(name))
    writer.build(out, split, seed, count, jobs=jobs, log=open(os.devnull, "w"))
    return out


def load(out):
    with open(os.path.join(out, "annotations.json")) as f:
        return json.load(f)


def tree_bytes(out):
    files = {}
    for root, _, names in os.walk(out):
        for n in names:
            p = os.path.join(root, n)
            with open(p, "rb") as f:
                files[os.path.relpath(p, out)] = f.read()
    return files


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory):
    return build(tmp_path_factory, "train", "train", 7, 24)


@pytest.fixture(scope="module")
def test_dir(tmp_path_factory):
    return build(tmp_path_factory, "test", "test", 7, 16)


# ----- RLE -------------------------------------------------------------------

def naive_rle(mask):
    """Reference: walk the pixels column by column, count runs."""
    h, w = mask.shape
    counts, current, run = [], False, 0
    for x in range(w):
        for y in range(h):
            v = bool(mask[y, x])
            if v != current:
                counts.append(run)
                current, run = v, 0
            run += 1
    counts.append(run)
    return {"size": [h, w], "counts": counts}


def test_rle_matches_definition():
    rng = np.random.default_rng(0)
    for shape in ((1, 1), (5, 7), (13, 4), (32, 19)):
        for density in (0.0, 0.2, 0.8, 1.0):
            m = rng.random(shape) < density
            encoded = rle.encode(m)
            ref = naive_rle(m)
            # the reference may end with a run of ones; encode never adds a 0-run after it
            assert encoded == ref, (shape, density)
            assert (rle.decode(encoded) == m).all()
            assert rle.area(encoded) == int(m.sum())
            assert sum(encoded["counts"]) == m.size


def test_rle_of_box_equals_rle_of_full_mask():
    rng = np.random.default_rng(1)
    for _ in range(50):
        H, W = rng.integers(1, 30, size=2)
        h, w = rng.integers(1, H + 1), rng.integers(1, W + 1)
        y0, x0 = rng.integers(0, H - h + 1), rng.integers(0, W - w + 1)
        sub = rng.random((h, w)) < 0.5
        full = np.zeros((H, W), bool)
        full[y0:y0 + h, x0:x0 + w] = sub
        assert rle.encode_box(sub, int(x0), int(y0), int(H), int(W)) == rle.encode(full)


# ----- determinism -----------------------------------------------------------

def test_same_seed_same_bytes(train_dir, tmp_path_factory):
    again = build(tmp_path_factory, "train-again", "train", 7, 24, jobs=2)
    a, b = tree_bytes(train_dir), tree_bytes(again)
    assert sorted(a) == sorted(b)
    assert len([n for n in a if n.startswith("images" + os.sep)]) == 24
    for name in a:
        assert a[name] == b[name], name


def test_other_seed_other_images(train_dir, tmp_path_factory):
    other = build(tmp_path_factory, "train-seed8", "train", 8, 2)
    a, b = tree_bytes(train_dir), tree_bytes(other)
    name = os.path.join("images", "000001.jpg")
    assert a[name] != b[name]


def test_prefix_stable(train_dir, tmp_path_factory):
    """Image i depends on (seed, split, i) only: a shorter run is a prefix."""
    short = build(tmp_path_factory, "train-short", "train", 7, 5)
    a, b = tree_bytes(train_dir), tree_bytes(short)
    for i in range(1, 6):
        for name in ("images/%06d.jpg" % i, "semantic/%06d.png" % i):
            name = name.replace("/", os.sep)
            assert a[name] == b[name]


# ----- COCO validity and label consistency -------------------------------------

def check_dataset(out, split):
    coco = load(out)
    assert [c["id"] for c in coco["categories"]] == list(range(1, 21))
    assert len({c["name"] for c in coco["categories"]}) == 20
    images = {im["id"]: im for im in coco["images"]}
    assert len(images) == len(coco["images"])
    ann_ids = [a["id"] for a in coco["annotations"]]
    assert len(set(ann_ids)) == len(ann_ids) and min(ann_ids) >= 1
    by_image = {}
    for a in coco["annotations"]:
        assert a["image_id"] in images
        assert a["iscrowd"] == 0
        assert 1 <= a["category_id"] <= 20
        by_image.setdefault(a["image_id"], []).append(a)
    for image_id, im in images.items():
        W, H = im["width"], im["height"]
        assert 320 <= W <= 640 and 320 <= H <= 640
        with Image.open(os.path.join(out, "images", im["file_name"])) as jpg:
            assert jpg.format == "JPEG" and jpg.mode == "RGB" and jpg.size == (W, H)
        with Image.open(os.path.join(out, im["sem_seg_file_name"])) as png:
            assert png.format == "PNG" and png.mode == "L" and png.size == (W, H)
            sem = np.array(png)
        assert sem.max() <= 20
        covered = np.zeros((H, W), bool)
        anns = by_image.get(image_id, [])
        assert 1 <= len(anns) <= 8
        for a in anns:
            segmentation = a["segmentation"]
            assert segmentation["size"] == [H, W] and sum(segmentation["counts"]) == H * W
            assert all(isinstance(c, int) and c >= 0 for c in segmentation["counts"])
            m = rle.decode(segmentation)
            assert a["area"] == int(m.sum()) > 0
            assert a["area"] <= a["full_area"]
            ys, xs = np.nonzero(m)
            x, y, w, h = a["bbox"]
            assert [x, y, w, h] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= W and y + h <= H
            # masks are the visible parts: the semantic map says this class there
            assert (sem[m] == a["category_id"]).all()
            assert not (covered & m).any(), "instance masks overlap"
            covered |= m
        # and nothing else is labelled
        assert ((sem != 0) == covered).all()
    meta = json.load(open(os.path.join(out, "dataset.json")))
    assert meta["split"] == split and meta["num_images"] == len(images)
    assert meta["num_annotations"] == len(coco["annotations"])
    assert len(meta["classes"]) == 20
    return coco


def test_train_is_valid_coco(train_dir):
    check_dataset(train_dir, "train")


def test_test_is_valid_coco(test_dir):
    check_dataset(test_dir, "test")


# ----- splits ------------------------------------------------------------------

def test_photo_lists_are_disjoint_and_complete():
    test, trainval = set(photos_for("test")), set(photos_for("train"))
    assert photos_for("val") == photos_for("train")
    assert test and trainval and not (test & trainval)
    listed = {s + "/" + p for s in PHOTOS for p in PHOTOS[s]}
    assert test | trainval == listed
    for source in PHOTOS:  # every source gives photos to both sides
        assert any(k.startswith(source + "/") for k in test)
        assert any(k.startswith(source + "/") for k in trainval)


def test_datasets_respect_splits(train_dir, test_dir):
    for out, split in ((train_dir, "train"), (test_dir, "test")):
        coco = load(out)
        allowed = set(photos_for(split))
        assert all(im["photo"] in allowed for im in coco["images"])
        for a in coco["annotations"]:
            kind, *rest = a["source"].split("/")
            if kind == "mnist":
                digit, index = int(rest[0]), int(rest[1])
                assert digit == a["category_id"] - 1
                assert mnist_split(index) == split
            else:
                assert kind == "emoji" and a["category_id"] >= 11


def test_mnist_pools_disjoint():
    for d in range(10):
        pools = [set(ASSETS.mnist_indices(s, d).tolist()) for s in ("train", "val", "test")]
        assert pools[0] and pools[1] and pools[2]
        assert not (pools[0] & pools[1]) and not (pools[0] & pools[2]) and not (pools[1] & pools[2])


# ----- coverage ----------------------------------------------------------------

def test_classes_sizes_and_counts():
    """Over 120 train images (composed in memory): every class, every COCO
    size range, image sides over the whole 320..640 range."""
    c = Composer(ASSETS, "train")
    coco = {"categories": list(CATEGORIES), "images": [], "annotations": []}
    for i in range(120):
        r = c.compose(11, i)
        H, W = r.semantic.shape
        coco["images"].append({"id": i, "width": W, "height": H})
        for o in r.objects:
            coco["annotations"].append(dict(o, image_id=i))
    s = stats.summarize(coco)
    assert all(n > 0 for n in s["objects_per_class"].values()), s["objects_per_class"]
    for k in ("small", "medium", "large"):
        assert s["size_fractions"][k] >= 0.1, s["size_fractions"]
    assert s["image_width"]["min"] < 360 and s["image_width"]["max"] > 600
    assert s["image_height"]["min"] < 360 and s["image_height"]["max"] > 600
    assert 3 <= s["objects_per_image"]["mean"] <= 6
    assert s["occluded"] > 0


# ----- the command line ----------------------------------------------------------

def run_cli(args, env_extra=None):
    env = dict(os.environ, PYTHONPATH=TRAIN_DIR, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "stipple_train.dataset"] + args,
                          env=env, capture_output=True, text=True, timeout=120)


def test_cli(tmp_path):
    out = str(tmp_path / "val")
    r = run_cli(["--out", out, "--split", "val", "--seed", "3", "--count", "3"])
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ["annotations.json", "dataset.json", "images", "semantic"]
    assert sorted(os.listdir(os.path.join(out, "images"))) == ["000001.jpg", "000002.jpg", "000003.jpg"]
    check_dataset(out, "val")
    # rewriting a dataset directory replaces it
    r = run_cli(["--out", out, "--split", "val", "--seed", "3", "--count", "2"])
    assert r.returncode == 0, r.stderr
    assert len(os.listdir(os.path.join(out, "images"))) == 2


def test_cli_refuses_foreign_directory(tmp_path):
    (tmp_path / "keep.txt").write_text("not a dataset")
    r = run_cli(["--out", str(tmp_path), "--split", "val", "--count", "1"])
    assert r.returncode != 0 and (tmp_path / "keep.txt").exists()


def test_cli_missing_assets(tmp_path):
    r = run_cli(["--out", str(tmp_path / "x"), "--split", "test", "--count", "1"],
                {"STIPPLE_ASSETS": str(tmp_path / "no-assets")})
    assert r.returncode == 1
    assert "scripts/install-assets.sh" in r.stderr
