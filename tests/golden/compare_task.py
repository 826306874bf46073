"""Compares the engine's task results (`stipple detect|segment --json`) with
task_golden.py's reference.

    python3 compare_task.py detect REF.json C.json MIN_DETECTIONS
    python3 compare_task.py segment REF.json C.json REF.png C.png MIN_LABELS

detect: the same detections in the same order (labels equal, box
coordinates within 1e-3 relative (of max(1, |value|)), scores within 1e-4),
except that detections whose scores tie within 1e-4 may come in either
order, and at least MIN_DETECTIONS of them (so a case cannot pass empty).
segment: label maps of the image's size that differ in at most 0.1% of the
pixels (ties), and at least MIN_LABELS labels present in the reference.
Prints one line; exit 0 when equal, 1 when not.
"""
import json
import sys

import numpy as np
from PIL import Image

SCORE_TOL = 1e-4


def _same(a, b):
    return a["label"] == b["label"] and abs(a["score"] - b["score"]) <= SCORE_TOL and all(
        abs(x - y) <= 1e-3 * max(1.0, abs(x)) for x, y in zip(a["box"], b["box"]))


def detect(ref, out, least):
    """Each engine detection must equal the reference detection at its rank,
    or, when scores tie within SCORE_TOL (float rounding may swap them), one
    of the reference detections of that tie; detections whose scores tie
    with the last one kept may fall in or out of the limit."""
    r, c = ref["detections"], out["detections"]
    if len(r) < least:
        return "reference has %d detections, the case needs %d" % (len(r), least)
    if abs(len(r) - len(c)) > 0 and not (r and c and abs(r[-1]["score"] - c[-1]["score"]) <= SCORE_TOL):
        return "%d detections, reference %d" % (len(c), len(r))
    used = [False] * len(r)
    last = min(s["score"] for s in r) if r else 0.0
    for i, b in enumerate(c):
        match = None
        for j, a in enumerate(r):
            if not used[j] and abs(a["score"] - b["score"]) <= SCORE_TOL and _same(a, b):
                match = j
                break
        if match is None:
            if abs(b["score"] - last) <= SCORE_TOL:
                continue
            return "detection %d (label %d, score %.6f, box %s) is not in the reference" % (
                i, b["label"], b["score"], b["box"])
        if r[i]["score"] - b["score"] > SCORE_TOL or b["score"] - r[i]["score"] > SCORE_TOL:
            return "detection %d: score %.6f out of order (reference %.6f)" % (
                i, b["score"], r[i]["score"]) if i < len(r) else "detection %d extra" % i
        used[match] = True
    return None


def segment(ref_png, out_png, least):
    r = np.asarray(Image.open(ref_png))
    c = np.asarray(Image.open(out_png))
    if r.shape != c.shape:
        return "label map %s, reference %s" % (c.shape, r.shape)
    if len(np.unique(r)) < least:
        return "reference has %d labels, the case needs %d" % (len(np.unique(r)), least)
    diff = float((r != c).mean())
    if diff > 1e-3:
        return "%.4f%% of the pixels differ (at most 0.1%%)" % (100 * diff)
    return None


def main(argv):
    kind = argv[1]
    with open(argv[2]) as f:
        ref = json.load(f)
    with open(argv[3]) as f:
        out = json.load(f)
    if kind == "detect":
        err = detect(ref, out, int(argv[4]))
        what = "%d detections" % len(ref.get("detections", []))
    else:
        err = segment(argv[4], argv[5], int(argv[6]))
        what = "labels %s" % ref.get("labels_present")
    print(("FAIL: " + err) if err else ("ok: " + what))
    return 1 if err else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
