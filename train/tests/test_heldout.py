"""heldout.py's count-based scoring of detections against the objects a
person sees."""
from stipple_train import heldout


def test_score_photo_counts_found_objects_and_false_alarms():
    objects = {"dog": 1, "truck|car": 1, "horse": 2}
    dets = [("dog", 0.9), ("dog", 0.5), ("car", 0.4), ("horse", 0.35), ("cow", 0.6),
            ("horse", 0.29), ("bench", 0.2), ("cat", 0.31)]
    found, listed, alarms, scores = heldout.score_photo(objects, dets)
    # dog 1/1 (the second dog is not an alarm), car stands for truck, one
    # horse above 0.3 of two; cow and cat are alarms, bench is below 0.3
    assert (found, listed, alarms) == (3, 4, 2)
    assert sorted(scores) == [0.35, 0.4, 0.9]


def test_summary_totals_and_notes():
    photos = [{"path": "a.jpg", "objects": {"cat": 1}}, {"path": "b.jpg", "objects": {"cup": 1}}]
    s = heldout.summary(photos, {"a.jpg": [("cat", 0.8)], "b.jpg": [("bowl", 0.5)]})
    assert s["found"] == 1 and s["listed"] == 2 and s["false_alarms"] == 1
    assert s["false_alarms_per_photo"] == 0.5 and s["mean_score"] == 0.8
    assert s["notes"] == ["b.jpg: 0/1 found, 1 false alarm(s)"]


def test_labels_file_names_coco_classes():
    from stipple_train.nanodet import COCO_CLASSES
    for p in heldout.load_labels():
        for names in p["objects"]:
            assert all(n in COCO_CLASSES for n in names.split("|")), (p["path"], names)
