"""coco_eval against cases whose answers are known by hand."""
import numpy as np
import pytest

from stipple_train import coco_eval


def coco(boxes, categories=(1, 2), images=(1,)):
    """A COCO dict; boxes: (image_id, category_id, [x, y, w, h]) ground truth."""
    return {"images": [{"id": i} for i in images],
            "categories": [{"id": c, "name": "c%d" % c} for c in categories],
            "annotations": [{"id": k + 1, "image_id": i, "category_id": c, "bbox": b,
                             "area": b[2] * b[3], "iscrowd": 0}
                            for k, (i, c, b) in enumerate(boxes)]}


def det(image, cat, box, score):
    return {"image_id": image, "category_id": cat, "bbox": box, "score": score}


def test_perfect_detections_score_one():
    gt = coco([(1, 1, [10, 10, 50, 50]), (1, 2, [100, 100, 20, 20])])
    r = coco_eval.evaluate(gt, [det(1, 1, [10, 10, 50, 50], 0.9), det(1, 2, [100, 100, 20, 20], 0.8)])
    assert r["ap"] == pytest.approx(1.0) and r["ap50"] == pytest.approx(1.0)
    assert r["ap_small"] == pytest.approx(1.0)      # 20 x 20 = 400 < 32^2
    assert r["ap_medium"] == pytest.approx(1.0)     # 50 x 50 = 2500
    assert r["ap_large"] == -1                      # no large ground truth


def test_a_known_precision_recall_curve():
    # two ground truths; detections by score: hit, miss, hit.
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1: made monotone 1, 2/3, 2/3.
    # recall thresholds 0..0.5 (51 of them) get 1, 0.51..1 (50) get 2/3.
    gt = coco([(1, 1, [0, 0, 10, 10]), (1, 1, [50, 50, 10, 10])], categories=(1,))
    dets = [det(1, 1, [0, 0, 10, 10], 0.9), det(1, 1, [200, 200, 10, 10], 0.8),
            det(1, 1, [50, 50, 10, 10], 0.7)]
    r = coco_eval.evaluate(gt, dets)
    assert r["ap50"] == pytest.approx((51 * 1.0 + 50 * 2 / 3) / 101)
    assert r["ap"] == pytest.approx(r["ap50"])      # exact boxes: every threshold alike


def test_duplicates_are_false_positives_and_iou_thresholds():
    gt = coco([(1, 1, [0, 0, 10, 10])], categories=(1,))
    # the second detection duplicates the first: a false positive after full recall
    r = coco_eval.evaluate(gt, [det(1, 1, [0, 0, 10, 10], 0.9), det(1, 1, [0, 0, 10, 10], 0.8)])
    assert r["ap"] == pytest.approx(1.0)
    # [0, 0, 10, 8] inside the 10 x 10 ground truth: IoU 80 / 100 = 0.8
    r = coco_eval.evaluate(gt, [det(1, 1, [0, 0, 10, 8], 0.9)])
    # matched at thresholds 0.50..0.80 (7 of 10), missed at 0.85..0.95
    assert r["ap50"] == pytest.approx(1.0) and r["ap75"] == pytest.approx(1.0)
    assert r["ap"] == pytest.approx(0.7)


def test_max_detections_per_image_and_category():
    gt = coco([(1, 1, [0, 0, 10, 10])], categories=(1,))
    misses = [det(1, 1, [300 + 20 * k, 0, 10, 10], 0.9) for k in range(100)]
    # the hit ranks 101st: cut by maxDets, recall 0
    r = coco_eval.evaluate(gt, misses + [det(1, 1, [0, 0, 10, 10], 0.1)])
    assert r["ap"] == 0.0


def test_categories_without_ground_truth_are_left_out():
    gt = coco([(1, 1, [0, 0, 10, 10])], categories=(1, 2))
    r = coco_eval.evaluate(gt, [det(1, 1, [0, 0, 10, 10], 0.9), det(1, 2, [0, 0, 10, 10], 0.9)])
    assert r["ap"] == pytest.approx(1.0)
    assert coco_eval.evaluate(coco([], categories=(1,)), [])["ap"] == -1


def test_area_ranges_ignore_other_sizes():
    gt = coco([(1, 1, [0, 0, 10, 10]), (1, 1, [100, 100, 100, 100])], categories=(1,))
    # only the large one is found: small AP 0, large AP 1; the unmatched
    # large detection does not count against the small range
    r = coco_eval.evaluate(gt, [det(1, 1, [100, 100, 100, 100], 0.9)])
    assert r["ap_small"] == 0.0 and r["ap_large"] == pytest.approx(1.0)


def test_confusion_matrix_miou():
    cm = coco_eval.ConfusionMatrix(3)
    gt = np.array([[0, 0, 1, 1], [2, 2, 255, 255]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 2, 1]])
    cm.add(pred, gt)
    # class 0: tp 1, fp 1 (the 2 labelled 0), fn 1 -> 1/3; class 1: tp 2, fp 1 -> 2/3;
    # class 2: tp 1, fn 1 -> 1/2 (the pixels labelled 255 do not count)
    assert cm.iou() == pytest.approx([1 / 3, 2 / 3, 1 / 2])
    assert cm.miou() == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    with pytest.raises(ValueError):
        cm.add(np.array([3]), np.array([0]))


def test_crowds_take_every_detection_inside_them():
    gt = coco([(1, 1, [0, 0, 10, 10]), (1, 1, [50, 50, 40, 40])], categories=(1,))
    gt["annotations"][1]["iscrowd"] = 1
    # two detections inside the crowd, scored above the hit: IoU with a crowd
    # is over the detection's own area (1 here), the crowd is matched by both,
    # and detections matched to it are ignored. Plain IoU (100 / 1600) would
    # make them false positives: precision 1/3 at full recall.
    dets = [det(1, 1, [55, 55, 10, 10], 0.95), det(1, 1, [70, 70, 10, 10], 0.94),
            det(1, 1, [0, 0, 10, 10], 0.9)]
    assert coco_eval.evaluate(gt, dets)["ap"] == pytest.approx(1.0)


def test_score_ties_across_images_go_by_image_id():
    # file order lists image 2 first; pycocotools sorts image ids, so at the
    # tied score 0.5 image 1's hit ranks before image 2's miss:
    # hit, miss, hit -> (51 + 50 * 2/3) / 101, not 2/3 (miss, hit, hit).
    gt = coco([(1, 1, [0, 0, 10, 10]), (2, 1, [0, 0, 10, 10])], categories=(1,), images=(2, 1))
    dets = [det(2, 1, [100, 100, 10, 10], 0.5), det(1, 1, [0, 0, 10, 10], 0.5),
            det(2, 1, [0, 0, 10, 10], 0.4)]
    assert coco_eval.evaluate(gt, dets)["ap50"] == pytest.approx((51 + 50 * 2 / 3) / 101)


def test_degenerate_boxes_never_match():
    gt = coco([(1, 1, [0, 0, 10, 10])], categories=(1,))
    gt["annotations"][0]["bbox"] = [5, 5, 0, 0]   # area field stays 100
    # a zero-size detection on a zero-size box: IoU 0 (not 0 / 0), a false positive
    assert coco_eval.evaluate(gt, [det(1, 1, [5, 5, 0, 0], 0.9)])["ap"] == 0.0
