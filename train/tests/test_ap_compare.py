"""ap_compare's paired bootstrap against coco_eval: the full split gives
coco_eval's AP, a draw gives the AP of the split with its images repeated,
and the intervals behave as a comparison must."""
import json

import numpy as np
import pytest

from stipple_train import ap_compare, coco_eval


def random_split(rng, nimages=12, ncats=3, jitter=0.15, score_digits=None):
    """A COCO dict and detections near and far from its ground truth;
    scores distinct, or rounded to score_digits (ties within and across
    images)."""
    def score():
        v = float(rng.random())
        return round(v, score_digits) if score_digits is not None else v
    images = [{"id": 5 + 2 * i} for i in range(nimages)]
    anns, dets = [], []
    for im in images:
        for _ in range(int(rng.integers(0, 5))):
            w, h = rng.uniform(5, 120, 2)
            x, y = rng.uniform(0, 300, 2)
            c = int(rng.integers(1, ncats + 1))
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": c,
                         "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
            if rng.random() < 0.8:
                j = rng.normal(0, jitter * min(w, h), 4)
                dets.append({"image_id": im["id"], "category_id": c,
                             "bbox": [x + j[0], y + j[1], max(1, w + j[2]), max(1, h + j[3])],
                             "score": score()})
        for _ in range(int(rng.integers(0, 3))):
            dets.append({"image_id": im["id"], "category_id": int(rng.integers(1, ncats + 1)),
                         "bbox": list(rng.uniform(0, 300, 2)) + list(rng.uniform(5, 80, 2)),
                         "score": score()})
    return {"images": images, "annotations": anns,
            "categories": [{"id": c, "name": "c%d" % c} for c in range(1, ncats + 1)]}, dets


def repeated(doc, dets, weights):
    """The split with image k present weights[k] times (copies get new ids
    right after the original, so the id order keeps copies together)."""
    images, anns, out = [], [], []
    for k, im in enumerate(sorted(doc["images"], key=lambda im: im["id"])):
        for copy in range(weights[k]):
            new = 1000 * im["id"] + copy
            images.append({"id": new})
            anns += [dict(a, image_id=new, id=len(anns) + 1) for a in doc["annotations"]
                     if a["image_id"] == im["id"]]
            out += [dict(d, image_id=new) for d in dets if d["image_id"] == im["id"]]
    return dict(doc, images=images, annotations=anns), out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_full_split_is_coco_evals_ap(seed):
    doc, dets = random_split(np.random.default_rng(seed))
    got = ap_compare.box_ap(ap_compare.match(doc, dets), np.ones(len(doc["images"]), int))
    assert got == pytest.approx(coco_eval.evaluate(doc, dets)["ap"], abs=1e-12)


@pytest.mark.parametrize("seed,digits", [(4, None), (5, None), (9, 0), (10, 1)])
def test_a_draw_is_the_ap_of_the_repeated_split(seed, digits):
    rng = np.random.default_rng(seed)
    doc, dets = random_split(rng, score_digits=digits)
    w = rng.integers(0, 3, len(doc["images"]))
    want = coco_eval.evaluate(*repeated(doc, dets, w))["ap"]
    assert ap_compare.box_ap(ap_compare.match(doc, dets), w) == pytest.approx(want, abs=1e-12)


def test_ties_within_an_image_are_ordered_as_in_the_repeated_split():
    # every detection scores 0.5: pycocotools keeps them in image order, a
    # repeated image's copies one after the other; a hit and a miss per
    # image in alternating order make the precision curve depend on it
    images, anns, dets = [{"id": i} for i in (1, 2, 3)], [], []
    for i in (1, 2, 3):
        anns.append({"id": i, "image_id": i, "category_id": 1, "bbox": [10, 10, 20, 20],
                     "area": 400, "iscrowd": 0})
        hit = {"image_id": i, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.5}
        miss = dict(hit, bbox=[200, 200, 20, 20])
        dets += [miss, hit] if i == 1 else [hit, miss]
    doc = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "c1"}]}
    w = np.array([3, 0, 2])
    want = coco_eval.evaluate(*repeated(doc, dets, w))["ap"]
    assert ap_compare.box_ap(ap_compare.match(doc, dets), w) == pytest.approx(want, abs=1e-12)


def test_same_detections_differ_by_nothing():
    doc, dets = random_split(np.random.default_rng(6))
    r = ap_compare.compare(doc, dets, dets, resamples=50)
    assert r["difference"] == 0 and r["difference_interval"] == [0.0, 0.0]
    assert r["ap_a_interval"][0] <= r["ap_a"] <= r["ap_a_interval"][1]
    assert r["ap_a_interval"][0] < r["ap_a_interval"][1]      # one model's AP does vary


def test_a_better_model_is_above_in_every_draw():
    rng = np.random.default_rng(7)
    doc, _ = random_split(rng, nimages=30)
    exact = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
              "score": float(rng.random())} for a in doc["annotations"]]
    # b: the same boxes, but every other one shifted off its object
    worse = [dict(d, bbox=[d["bbox"][0] + (d["bbox"][2] if k % 2 else 0)] + d["bbox"][1:])
             for k, d in enumerate(exact)]
    r = ap_compare.compare(doc, exact, worse, resamples=200, seed=3)
    assert r["ap_a"] == pytest.approx(1.0) and r["ap_b"] < 0.7
    assert r["difference_interval"][1] < 0 and r["b_above_a"] == 0.0
    again = ap_compare.compare(doc, exact, worse, resamples=200, seed=3)
    assert again == r                                         # a seed fixes the draws


def test_cli(tmp_path, capsys):
    doc, dets = random_split(np.random.default_rng(8))
    for name, obj in (("a.json", doc), ("d.json", dets)):
        (tmp_path / name).write_text(json.dumps(obj))
    paths = [str(tmp_path / n) for n in ("a.json", "d.json", "d.json")]
    assert ap_compare.main(paths + ["--resamples", "20", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["difference"] == 0 and r["images"] == 12 and r["resamples"] == 20
    assert ap_compare.main(paths + ["--resamples", "20"]) == 0
    assert "B - A" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text(json.dumps([dict(dets[0], image_id=999)]))
    assert ap_compare.main(paths[:2] + [str(tmp_path / "bad.json")]) == 1
    assert "not in the annotations" in capsys.readouterr().err
    assert ap_compare.main(paths[:2] + [str(tmp_path / "missing.json")]) == 1
