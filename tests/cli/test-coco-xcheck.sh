#!/bin/sh
# test-coco-xcheck.sh - the C COCO evaluator (cli/coco-eval.c) against the
# Python one (train/stipple_train/coco_eval.py) on random cases: ground truth
# of every size, crowds, detections near, on and far from it, zero-size
# boxes, ties in score within and across images (listed out of id order),
# images without detections, more than 100 detections in a cell. Every AP
# must agree to 1e-9. Then `stipple eval` on a tiny dataset with a random
# detector + segmenter: a full JSON report; AP and mIoU 1 on a dataset
# labelled with that model's own output, whose --detections file holds the
# boxes and scores `stipple detect` gave and scores the same in Python; and
# clear errors for a missing folder, a --detections path that cannot be
# written (and no such file left by a run that fails midway), a dataset
# whose classes are not the model's, or a malformed annotations file.
#
# Environment (set by make check): top_srcdir, top_builddir, PYTHON_TORCH.
# Exit: 0 pass, 1 fail, 77 no torch, 99 harness error.

srcdir=${top_srcdir:-$(dirname "$0")/../..}
builddir=${top_builddir:-.}
py=${PYTHON_TORCH:-/usr/bin/python3}
tool=$builddir/tests/cli/coco-eval-json
stipple=$builddir/stipple

"$py" -c 'import torch' >/dev/null 2>&1 || { echo "SKIP: $py cannot import torch"; exit 77; }
[ -x "$tool" ] && [ -x "$stipple" ] || { echo "HARNESS ERROR: tools not built"; exit 99; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/stipple-coco.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
PYTHONPATH=$srcdir/train${PYTHONPATH:+:$PYTHONPATH}
export PYTHONPATH
failed=0

"$py" - "$tmp" "$tool" <<'PY' || failed=1
import json, subprocess, sys
import numpy as np
from stipple_train import coco_eval

tmp, tool = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(11)
bad = 0
cases = 24
for case in range(cases):
    nimg, ncat = int(rng.integers(1, 6)), int(rng.integers(1, 4))
    images = [{"id": 10 + 3 * int(i), "file_name": "%d.jpg" % i} for i in rng.permutation(nimg)]
    cats = [{"id": c + 1, "name": "c%d" % c} for c in range(ncat)]
    anns, dets = [], []
    for im in images:
        for _ in range(int(rng.integers(0, 6))):
            w, h = float(rng.uniform(2, 150)), float(rng.uniform(2, 150))
            x, y = float(rng.uniform(0, 300)), float(rng.uniform(0, 300))
            c = int(rng.integers(1, ncat + 1))
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": c,
                         "bbox": [x, y, w, h], "area": w * h * float(rng.uniform(0.5, 1)),
                         "iscrowd": int(rng.random() < 0.1)})
            for _ in range(int(rng.integers(0, 3))):   # near the ground truth
                j = rng.normal(0, 0.15 * min(w, h), 4)
                dets.append({"image_id": im["id"], "category_id": c,
                             "bbox": [x + j[0], y + j[1], max(1, w + j[2]), max(1, h + j[3])],
                             "score": float(np.round(rng.random(), 2))})   # ties
        many = 130 if case == 5 else int(rng.integers(0, 8))
        for _ in range(many):   # far or random
            dets.append({"image_id": im["id"], "category_id": int(rng.integers(1, ncat + 1)),
                         "bbox": [float(v) for v in rng.uniform(0, 300, 2)] +
                                 [float(v) * (rng.random() > 0.05) for v in rng.uniform(1, 120, 2)],
                         "score": float(np.round(rng.random(), 1))})
    doc = {"images": images, "categories": cats, "annotations": anns}
    with open(tmp + "/a.json", "w") as f:
        json.dump(doc, f)
    with open(tmp + "/d.json", "w") as f:
        json.dump(dets, f)
    want = coco_eval.evaluate(doc, dets)
    got = json.loads(subprocess.run([tool, tmp + "/a.json", tmp + "/d.json"], check=True,
                                    capture_output=True, text=True).stdout)
    diff = max(abs(want[k] - got[k]) for k in want)
    if diff > 1e-9:
        bad += 1
        print("FAIL: case %d: C %r, Python %r" % (case, got, want))
print("%d random cases: %s" % (cases, "C and Python agree" if not bad else "%d differ" % bad))
sys.exit(1 if bad else 0)
PY

# stipple eval on a tiny dataset (train/tests/test_train.py's writer)
"$py" - "$tmp" <<'PY' || { echo "HARNESS ERROR: tiny dataset"; exit 99; }
import sys
from stipple_train.export import main as export
from stipple_train.set_input import set_classes, set_resize
import importlib.util, os
spec = importlib.util.spec_from_file_location("tt", os.path.join(os.environ["PYTHONPATH"].split(":")[0], "tests", "test_train.py"))
tt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tt)
tt.write_dataset(sys.argv[1] + "/data", count=3)
export(["--arch", "sparse-resnet18-fpn-detseg", "--num-classes", "2", "--random-init", "--seed", "5",
        "-o", sys.argv[1] + "/m.stp"])
set_resize(sys.argv[1] + "/m.stp", 64, 96)
set_classes(sys.argv[1] + "/m.stp", ["red", "green"])
PY
if "$stipple" eval "$tmp/m.stp" "$tmp/data" --budget 0.5 --json >"$tmp/eval.json" 2>"$tmp/err"; then
	"$py" - "$tmp/eval.json" <<'PY' || failed=1
import json, sys
r = json.load(open(sys.argv[1]))
need = ["ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large", "miou", "backbone_gmacs",
        "dense_backbone_gmacs", "density", "latency_ms", "latency_ms_p50", "backbone_ms", "images"]
ok = all(k in r for k in need) and r["images"] == 3 and -1 <= r["ap"] <= 1 and 0 <= r["miou"] <= 1 \
    and 0 < r["backbone_gmacs"] <= 0.5 * 1.02 * r["dense_backbone_gmacs"] and r["latency_ms"] > 0 \
    and 0 < r["backbone_ms"] < r["latency_ms"] and r["budget"] == 0.5
print(("ok" if ok else "FAIL") + ": stipple eval --json: %s" % r)
sys.exit(0 if ok else 1)
PY
else
	echo "FAIL: stipple eval failed: $(cat "$tmp/err")"
	failed=1
fi
# a dataset whose ground truth is the model's own output (stipple detect and
# segment, the same budget): box AP 1 in every defined range, mIoU 1. Checks
# the whole path: labels to category ids, corners to COCO boxes, image ids to
# semantic PNGs.
mkdir -p "$tmp/self/images" "$tmp/self/semantic"
cp "$tmp"/data/images/* "$tmp/self/images/"
ok=1
for i in 1 2 3; do
	f=$(printf '%06d' $i)
	"$stipple" detect "$tmp/m.stp" "$tmp/self/images/$f.jpg" --budget 0.5 --score-threshold 0 --json \
		>"$tmp/self/det$i.json" &&
		"$stipple" segment "$tmp/m.stp" "$tmp/self/images/$f.jpg" --budget 0.5 \
			-o "$tmp/self/semantic/$f.png" >/dev/null || ok=0
done
[ $ok = 1 ] && "$py" - "$tmp/self" <<'PY' || { echo "HARNESS ERROR: self dataset"; exit 99; }
import json, sys
d = sys.argv[1]
images, anns = [], []
for i in (1, 2, 3):
    r = json.load(open("%s/det%d.json" % (d, i)))
    images.append({"id": i, "file_name": "%06d.jpg" % i, **r["image"]})
    for det in r["detections"]:
        x1, y1, x2, y2 = det["box"]
        anns.append({"id": len(anns) + 1, "image_id": i, "category_id": det["label"],
                     "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                     "iscrowd": 0})
assert anns, "the model detects nothing"
json.dump({"images": images, "annotations": anns,
           "categories": [{"id": 1, "name": "red"}, {"id": 2, "name": "green"}]},
          open(d + "/annotations.json", "w"))
PY
if "$stipple" eval "$tmp/m.stp" "$tmp/self" --budget 0.5 --json --detections "$tmp/dets.json" \
	>"$tmp/eval.json" 2>"$tmp/err"; then
	"$py" - "$tmp/eval.json" "$tmp/self" "$tmp/dets.json" <<'PY' || failed=1
import json, sys
from stipple_train import coco_eval
r = json.load(open(sys.argv[1]))
# --detections: what stipple detect found, as COCO results, which the Python
# evaluator scores as stipple eval did
doc, dets = json.load(open(sys.argv[2] + "/annotations.json")), json.load(open(sys.argv[3]))
want = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"]}
        for a in doc["annotations"]]
scores = [d["score"] for k in (1, 2, 3)
          for d in json.load(open("%s/det%d.json" % (sys.argv[2], k)))["detections"]]
got = [{k: d[k] for k in ("image_id", "category_id", "bbox")} for d in dets]
same = len(got) == len(want) == len(scores) and all(
    g["image_id"] == w["image_id"] and g["category_id"] == w["category_id"] and
    max(abs(x - y) for x, y in zip(g["bbox"], w["bbox"])) < 1e-3 for g, w in zip(got, want)) \
    and all(abs(d["score"] - s) < 1e-6 for d, s in zip(dets, scores))
py_ap = coco_eval.evaluate(doc, dets)
if not same or any(abs(py_ap[k] - r[k]) > 1e-9 for k in py_ap):
    print("FAIL: --detections: %d written, %d detected; Python AP %s, stipple eval %s" %
          (len(got), len(want), py_ap["ap"], r["ap"]))
    sys.exit(1)
print("ok: --detections: the %d detections of stipple detect, AP %s in Python too" %
      (len(dets), py_ap["ap"]))
keys = ["ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large"]
ok = all(r[k] == -1 or abs(r[k] - 1) < 1e-12 for k in keys) and r["ap"] != -1 and \
    abs(r["miou"] - 1) < 1e-12
print(("ok" if ok else "FAIL") + ": stipple eval on the model's own output: %s" %
      {k: r[k] for k in keys + ["miou"]})
sys.exit(0 if ok else 1)
PY
else
	echo "FAIL: stipple eval on the model's own output: $(cat "$tmp/err")"
	failed=1
fi
"$stipple" eval "$tmp/m.stp" "$tmp/nowhere" >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -ne 1 ] || ! grep -q "nowhere/annotations.json" "$tmp/err"; then
	echo "FAIL: a missing folder: exit $rc, $(cat "$tmp/err")"
	failed=1
fi
"$stipple" eval "$tmp/m.stp" "$tmp/data" --detections "$tmp/nowhere/d.json" >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -ne 1 ] || ! grep -q "cannot write $tmp/nowhere/d.json" "$tmp/err"; then
	echo "FAIL: an unwritable --detections path: exit $rc, $(cat "$tmp/err")"
	failed=1
fi
cp -r "$tmp/data" "$tmp/holed" && rm "$tmp/holed/images/000002.jpg"
"$stipple" eval "$tmp/m.stp" "$tmp/holed" --detections "$tmp/holed.json" >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -ne 1 ] || [ -e "$tmp/holed.json" ] || ! grep -q "000002.jpg" "$tmp/err"; then
	echo "FAIL: a run that stops at a missing image must leave no --detections file: exit $rc, $(cat "$tmp/err")"
	failed=1
fi
cp "$tmp/data/annotations.json" "$tmp/good.json"
sed 's/"green"/"blue"/' "$tmp/good.json" >"$tmp/data/annotations.json"
"$stipple" eval "$tmp/m.stp" "$tmp/data" >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -ne 1 ] || ! grep -q "label 2 is 'green', the dataset's category 2 'blue'" "$tmp/err"; then
	echo "FAIL: a dataset of other classes: exit $rc, $(cat "$tmp/err")"
	failed=1
fi
printf '{"images": [{"id": 1}]' >"$tmp/data/annotations.json"
"$stipple" eval "$tmp/m.stp" "$tmp/data" >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -ne 1 ] || ! grep -q "annotations.json" "$tmp/err"; then
	echo "FAIL: malformed annotations: exit $rc, $(cat "$tmp/err")"
	failed=1
fi
exit $failed
