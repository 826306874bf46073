"""The task heads (detection.py and its parts) against torchvision 0.14, which
serves only as the reference here: anchors, box coder, NMS (and our tie
rules), RoIAlign, the resize rule, the whole Faster R-CNN and its training
losses; the semantic head against its definition; the model file."""
import json
import struct

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stipple_train import box_ops, det_losses, export, transform
from stipple_train.anchors import AnchorGenerator, cell_anchors
from stipple_train.model import TASK_ARCH_NAMES, StippleNet, arch_for
from stipple_train.roi_align import MultiScaleRoIAlign, box_levels, roi_align
from stipple_train.segmentation import SemanticFPNHead, up
from stipple_train.sparse import sampling_mode

tv = pytest.importorskip("torchvision")
from torchvision.models.detection import FasterRCNN  # noqa: E402
from torchvision.models.detection import _utils as tv_utils  # noqa: E402
from torchvision.models.detection.anchor_utils import AnchorGenerator as TVAnchorGenerator  # noqa: E402
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead  # noqa: E402
from torchvision.models.detection.image_list import ImageList  # noqa: E402
from torchvision.models.detection.transform import GeneralizedRCNNTransform  # noqa: E402
from torchvision import ops as tv_ops  # noqa: E402

SIZES = ((32,), (64,), (128,), (256,), (512,))
RATIOS = (0.5, 1.0, 2.0)
NUM_CLASSES = 5
SHORT, LONG = 128, 224


def random_boxes(n, size, gen, min_side=1.0, max_side=60.0):
    h, w = size
    xy = torch.rand(n, 2, generator=gen) * torch.tensor([w, h])
    wh = min_side + torch.rand(n, 2, generator=gen) * (max_side - min_side)
    return torch.cat([xy, xy + wh], dim=1)


# --- anchors and box coder -------------------------------------------------

def test_cell_anchors_match_torchvision():
    theirs = TVAnchorGenerator(SIZES, (RATIOS,) * 5)
    for s, want in zip(SIZES, theirs.cell_anchors):
        assert torch.equal(cell_anchors(s, RATIOS), want)
    assert cell_anchors((32,), RATIOS).tolist() == [[-23, -11, 23, 11], [-16, -16, 16, 16],
                                                    [-11, -23, 11, 23]]
    # several sizes per level: ratio-major order, as torchvision
    assert torch.equal(cell_anchors((32, 64), RATIOS),
                       TVAnchorGenerator(((32, 64),), (RATIOS,)).cell_anchors[0])


@pytest.mark.parametrize("padded", [(128, 192), (800, 1216), (96, 64)])
def test_anchors_match_torchvision(padded):
    h, w = padded
    grids = [(h // 4, w // 4), (h // 8, w // 8), (h // 16, w // 16), (h // 32, w // 32),
             ((h // 32 + 1) // 2, (w // 32 + 1) // 2)]
    feats = [torch.zeros(1, 1, *g) for g in grids]
    theirs = TVAnchorGenerator(SIZES, (RATIOS,) * 5)(ImageList(torch.zeros(1, 3, h, w), [(h, w)]), feats)[0]
    ours = AnchorGenerator([list(s) for s in SIZES], RATIOS)(padded, grids)
    assert torch.equal(ours, theirs)
    if padded == (800, 1216):  # P6 of 800 rows: 13 rows, stride 800 // 13 = 61
        last = ours[-3 * grids[4][0] * grids[4][1]:]
        assert last[3 * grids[4][1], 1] - last[0, 1] == 61


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_box_coder_matches_torchvision(weights):
    gen = torch.Generator().manual_seed(1)
    anchors = random_boxes(300, (200, 300), gen)
    deltas = torch.randn(300, 4 * 3, generator=gen) * 3
    deltas[:5, 2] = 20.0  # beyond bbox_xform_clip
    deltas[5:10, 3] = 40.0
    ours, theirs = box_ops.BoxCoder(weights), tv_utils.BoxCoder(weights)
    assert torch.equal(ours.decode(deltas, anchors), theirs.decode(deltas, [anchors]))
    gt = random_boxes(300, (200, 300), gen)
    assert torch.equal(ours.encode(gt, anchors), theirs.encode_single(gt, anchors))
    assert torch.isfinite(ours.decode(deltas, anchors)).all()


def test_clip_and_remove_small_match_torchvision():
    gen = torch.Generator().manual_seed(2)
    boxes = random_boxes(200, (50, 70), gen, 0.0, 40.0) - 10
    assert torch.equal(box_ops.clip_boxes(boxes, (50, 70)), tv_ops.clip_boxes_to_image(boxes, (50, 70)))
    boxes[::7, 2] = boxes[::7, 0] + 1e-3  # exactly min_size wide: kept (>=)
    assert torch.equal(box_ops.remove_small_boxes(boxes, 1e-3), tv_ops.remove_small_boxes(boxes, 1e-3))
    assert torch.equal(box_ops.box_iou(boxes[:20], boxes), tv_ops.box_iou(boxes[:20], boxes))


# --- NMS and top-k ---------------------------------------------------------

@pytest.mark.parametrize("n,thresh", [(50, 0.5), (700, 0.7), (2500, 0.5)])
def test_nms_matches_torchvision(n, thresh):
    gen = torch.Generator().manual_seed(n)
    boxes = random_boxes(n, (300, 400), gen, 5.0, 120.0)
    scores = torch.randperm(n, generator=gen).to(torch.float32) / n  # distinct
    assert torch.equal(box_ops.nms(boxes, scores, thresh), tv_ops.nms(boxes, scores, thresh))


@pytest.mark.parametrize("n", [300, 2000])  # torchvision: coordinate trick / per-class loop
def test_batched_nms_matches_torchvision(n):
    gen = torch.Generator().manual_seed(n)
    boxes = random_boxes(n, (300, 400), gen, 5.0, 120.0)
    scores = torch.randperm(n, generator=gen).to(torch.float32) / n
    idxs = torch.randint(0, 4, (n,), generator=gen)
    assert torch.equal(box_ops.batched_nms(boxes, scores, idxs, 0.5),
                       tv_ops.batched_nms(boxes, scores, idxs, 0.5))


def naive_nms(boxes, scores, thresh):
    """The documented rule, one pair at a time."""
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    keep, dead = [], set()
    for a, i in enumerate(order):
        if i in dead:
            continue
        keep.append(i)
        for j in order[a + 1:]:
            if box_ops.box_iou(boxes[i:i + 1], boxes[j:j + 1])[0, 0] > thresh:
                dead.add(j)
    return keep


def test_nms_ties_keep_lower_index():
    # identical boxes and scores: the first survives
    b = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30], [20, 20, 30, 30.]])
    s = torch.tensor([0.5, 0.5, 0.9, 0.9])
    assert box_ops.nms(b, s, 0.5).tolist() == [2, 0]
    # IoU exactly at the threshold does not suppress (strictly greater)
    b = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 5.]])
    assert box_ops.nms(b, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0, 1]
    assert box_ops.nms(b, torch.tensor([0.9, 0.8]), 0.49).tolist() == [0]
    # many ties: the documented rule
    gen = torch.Generator().manual_seed(3)
    boxes = random_boxes(400, (100, 100), gen, 5.0, 40.0)
    scores = torch.randint(0, 6, (400,), generator=gen).to(torch.float32) / 5
    assert box_ops.nms(boxes, scores, 0.5).tolist() == naive_nms(boxes, scores, 0.5)
    # batched: the final order is by score, ties by ascending index
    idxs = torch.randint(0, 3, (400,), generator=gen)
    keep = box_ops.batched_nms(boxes, scores, idxs, 0.5).tolist()
    assert keep == sorted(keep, key=lambda i: (-float(scores[i]), i))
    for c in range(3):
        members = torch.where(idxs == c)[0]
        want = members[naive_nms(boxes[members], scores[members], 0.5)].tolist()
        assert sorted(want) == sorted(i for i in keep if idxs[i] == c)


def test_nms_row_path_equals_matrix_path(monkeypatch):
    gen = torch.Generator().manual_seed(4)
    boxes = random_boxes(600, (200, 200), gen, 5.0, 60.0)
    scores = torch.randint(0, 20, (600,), generator=gen).to(torch.float32)
    matrix = box_ops.nms(boxes, scores, 0.6)
    monkeypatch.setattr(box_ops, "_MATRIX_NMS_MAX", 10)
    assert torch.equal(box_ops.nms(boxes, scores, 0.6), matrix)


def test_topk_ties_by_index():
    v = torch.tensor([1.0, 3.0, 3.0, 2.0, 3.0, 1.0])
    assert box_ops.topk_indices(v, 4).tolist() == [1, 2, 4, 3]
    assert box_ops.topk_indices(v, 100).tolist() == [1, 2, 4, 3, 0, 5]


# --- RoIAlign --------------------------------------------------------------

@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("scale,ratio", [(0.25, 2), (0.5, 1), (1.0, 3)])
def test_roi_align_matches_torchvision(aligned, scale, ratio):
    gen = torch.Generator().manual_seed(5)
    feat = torch.randn(2, 6, 13, 17, generator=gen)
    size = (13 / scale, 17 / scale)
    boxes = random_boxes(40, size, gen, 0.0, 40.0 / scale)
    boxes[:4] = torch.tensor([[-30.0, -30, -10, -10], [0, 0, 0, 0], [5, 5, 5.2, 5.3],
                              [-8.0, -8, 1000, 1000]]) / scale  # outside, empty, tiny, huge
    rois = torch.cat([torch.randint(0, 2, (40, 1), generator=gen).to(torch.float32), boxes], 1)
    ours = roi_align(feat, rois, 7, scale, ratio, aligned)
    theirs = tv_ops.roi_align(feat, rois, 7, scale, ratio, aligned)
    assert (ours - theirs).abs().max() <= 1e-6


def test_multiscale_roi_align_matches_torchvision():
    gen = torch.Generator().manual_seed(6)
    h, w = 512, 640
    feats = {"p%d" % k: torch.randn(1, 4, h >> k, w >> k, generator=gen) for k in (2, 3, 4, 5)}
    boxes = random_boxes(160, (h, w), gen, 2.0, 600.0)
    levels = box_levels(boxes, 2, 5)
    assert set(levels.tolist()) == {0, 1, 2, 3}
    ours = MultiScaleRoIAlign(["p2", "p3", "p4", "p5"], 7, 2)(feats, [boxes])
    theirs = tv_ops.MultiScaleRoIAlign(["p2", "p3", "p4", "p5"], 7, 2)(feats, [boxes], [(h, w)])
    assert (ours - theirs).abs().max() <= 1e-6


def test_level_mapper_rule():
    # side 224 -> level 4; 112 -> 3; 448 -> 5; 56 and smaller -> 2; huge -> 5
    sides = torch.tensor([224.0, 112.0, 448.0, 56.0, 10.0, 2000.0, 223.9])
    boxes = torch.stack([torch.zeros(7), torch.zeros(7), sides, sides], 1)
    assert box_levels(boxes, 2, 5).tolist() == [2, 1, 3, 0, 0, 3, 1]


# --- preprocessing ---------------------------------------------------------

@pytest.mark.parametrize("h,w,short,long,want", [
    (480, 640, 800, 1333, (800, 1066)), (375, 500, 800, 1333, (799, 1066)),
    (427, 640, 800, 1333, (799, 1199)), (100, 1000, 800, 1333, (133, 1333)),
    (100, 140, 128, 224, (127, 179))])
def test_resize_rule(h, w, short, long, want):
    assert transform.resized_size(h, w, short, long) == want
    t = GeneralizedRCNNTransform(short, long, [0, 0, 0], [1, 1, 1]).eval()
    assert tuple(t([torch.zeros(3, h, w)])[0].image_sizes[0]) == want


def test_preprocess_matches_torchvision():
    arch = arch_for("resnet18-fpn-det", NUM_CLASSES)
    inp = dict(arch["input"], resize={"short_side": SHORT, "max_long_side": LONG})
    gen = torch.Generator().manual_seed(7)
    imgs = [torch.rand(3, 100, 140, generator=gen) * 255, torch.rand(3, 90, 61, generator=gen) * 255]
    batch, sizes, originals, _ = transform.preprocess(imgs, inp)
    t = GeneralizedRCNNTransform(SHORT, LONG, inp["mean"], inp["std"]).eval()
    il, _ = t(imgs)
    # we resize the 8-bit photo and then normalise, torchvision the other
    # way round: both are linear, so only float rounding tells them apart
    assert batch.shape == il.tensors.shape
    assert torch.allclose(batch, il.tensors, atol=1e-5, rtol=0)
    assert sizes == [tuple(s) for s in il.image_sizes] and originals == [(100, 140), (90, 61)]
    assert batch.shape[-2] % 32 == 0 and batch.shape[-1] % 32 == 0
    boxes = torch.tensor([[1.0, 2.0, 50.5, 60.25]])
    want = tv.models.detection.transform.resize_boxes(boxes, sizes[0], originals[0])
    assert torch.equal(transform.rescale_boxes(boxes, sizes[0], originals[0]), want)


# --- the whole detector ----------------------------------------------------

class _Backbone(nn.Module):
    """Our StippleNet (backbone + FPN) as torchvision's FasterRCNN backbone;
    kept outside the module tree so train()/eval() leave it alone."""

    def __init__(self, net):
        super().__init__()
        self.net = [net]
        self.out_channels = net.arch["neck"]["out_channels"]

    def forward(self, x):
        return self.net[0](x)


def small_task_arch(name, rep=128):
    """A task arch with a small input, few proposals and a small box head."""
    arch = arch_for(name, NUM_CLASSES)
    arch["input"]["resize"] = {"short_side": SHORT, "max_long_side": LONG}
    for h in arch["heads"]:
        if h["kind"] == "faster_rcnn":
            h["rpn"]["pre_nms_top_n"], h["rpn"]["post_nms_top_n"] = 300, 100
            h["box"]["representation_size"] = rep
            h["box"]["score_thresh"] = 0.02
    return arch


@pytest.fixture(scope="module")
def det_model():
    return export.random_model(small_task_arch("resnet18-fpn-detseg"), 3).eval()


def torchvision_twin(model, pre=300, post=100):
    arch = model.arch
    det = arch["heads"][0]
    rep = det["box"]["representation_size"]
    theirs = FasterRCNN(
        _Backbone(model), num_classes=None, min_size=SHORT, max_size=LONG,
        image_mean=arch["input"]["mean"], image_std=arch["input"]["std"],
        rpn_pre_nms_top_n_test=pre, rpn_post_nms_top_n_test=post,
        rpn_pre_nms_top_n_train=pre, rpn_post_nms_top_n_train=post,
        box_score_thresh=det["box"]["score_thresh"],
        box_roi_pool=tv_ops.MultiScaleRoIAlign(["p2", "p3", "p4", "p5"], 7, 2),
        box_head=TwoMLPHead(256 * 49, rep), box_predictor=FastRCNNPredictor(rep, NUM_CLASSES + 1))
    ours = {k: v for k, v in model.state_dict().items() if k.startswith(("rpn.", "roi_heads."))}
    heads = {k: v for k, v in theirs.state_dict().items() if k.startswith(("rpn.", "roi_heads."))}
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in heads.items()}
    theirs.load_state_dict(ours, strict=False)
    return theirs.eval()


def test_detector_matches_torchvision(det_model):
    theirs = torchvision_twin(det_model)
    gen = torch.Generator().manual_seed(8)
    imgs = [torch.rand(3, 100, 140, generator=gen) * 255, torch.rand(3, 150, 96, generator=gen) * 255]
    batched = det_model.predict(imgs)
    for img, b in zip(imgs, batched):
        theirs.roi_heads.box_roi_pool.scales = None  # torchvision caches the first batch's
        with torch.no_grad():
            want = theirs([img])[0]
        got = det_model.predict([img])[0]
        assert len(want["boxes"]) > 10
        assert torch.equal(got["labels"], want["labels"])
        # inputs differ by rounding (resize before normalising, see above)
        assert torch.allclose(got["boxes"], want["boxes"], atol=1e-3, rtol=0)
        # our fully connected layers run as 1x1 convs (roi_heads.Linear): the
        # sums come in another order than torchvision's matmul
        assert torch.allclose(got["scores"], want["scores"], atol=1e-5, rtol=0)
        assert len(set(got["labels"].tolist())) > 1
        h, w = img.shape[-2:]
        assert got["semantic"].shape == (h, w) and got["semantic_logits"].shape == (NUM_CLASSES + 1, h, w)
    # a batch pads both images to the larger size: compare with torchvision's batch
    theirs.roi_heads.box_roi_pool.scales = None
    with torch.no_grad():
        want = theirs(imgs)
    for got, w in zip(batched, want):
        assert torch.equal(got["labels"], w["labels"])
        assert torch.allclose(got["boxes"], w["boxes"], atol=1e-3, rtol=0)


def test_sparse_detector_runs():
    model = export.random_model(small_task_arch("sparse-resnet18-fpn-detseg", rep=64), 4).eval()
    img = torch.rand(3, 70, 90, generator=torch.Generator().manual_seed(9)) * 255
    for mode in ("deterministic", "dense"):
        with sampling_mode(mode):
            r = model.predict([img])[0]
        assert r["boxes"].shape[1] == 4 and len(r["boxes"]) == len(r["scores"]) == len(r["labels"])
        assert ((r["labels"] >= 1) & (r["labels"] <= NUM_CLASSES)).all()
        assert (r["boxes"][:, 2] >= r["boxes"][:, 0]).all()
        assert r["semantic"].shape == (70, 90)


# --- semantic head ---------------------------------------------------------

def test_semantic_head_definition(det_model):
    head = det_model.seg_head
    gen = torch.Generator().manual_seed(10)
    feats = {"p%d" % k: torch.randn(1, 256, 64 >> k, 96 >> k, generator=gen) for k in (2, 3, 4, 5)}
    with torch.no_grad():
        got = head(feats)
        ys = [F.relu(F.conv2d(feats["p%d" % (i + 2)], c.weight, c.bias, padding=1))
              for i, c in enumerate(head.convs)]
        total = ys[0]
        for i, y in enumerate(ys[1:], start=1):
            for _ in range(i):  # x2 again and again to 1/4 scale
                y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
            total = total + y
        want = F.conv2d(total, head.classifier.weight, head.classifier.bias)
    assert got.shape == (1, NUM_CLASSES + 1, 16, 24)
    assert (got - want).abs().max() <= 1e-4 * want.abs().max()
    labels, logits = SemanticFPNHead.postprocess(got[0], (64, 96), (60, 90), (30, 45))
    assert labels.shape == (30, 45) and logits.shape == (NUM_CLASSES + 1, 30, 45)
    full = up(got, (64, 96))[:, :, :60, :90]
    assert torch.equal(logits, up(full, (30, 45))[0])
    assert torch.equal(labels, logits.argmax(0))


def test_semantic_argmax_ties_lowest_class():
    logits = torch.zeros(4, 8, 8)
    logits[2:, :, :4] = 1.0  # classes 2 and 3 tie on the left, all tie on the right
    labels, _ = SemanticFPNHead.postprocess(logits, (32, 32), (32, 32), (32, 32))
    assert (labels[:, :16] == 2).all() and (labels[:, 18:] == 0).all()


# --- model file ------------------------------------------------------------

def test_task_arch_names():
    assert "resnet50-fpn-det" in TASK_ARCH_NAMES and "sparse-resnet50-fpn-detseg" in TASK_ARCH_NAMES
    arch = arch_for("resnet50-fpn-detseg", 20)
    assert [h["kind"] for h in arch["heads"]] == ["faster_rcnn", "semantic_fpn"]
    det = arch["heads"][0]
    assert det["rpn"]["anchor_sizes"] == [[32], [64], [128], [256], [512]]
    assert det["box"]["box_weights"] == [10.0, 10.0, 5.0, 5.0]
    assert json.loads(json.dumps(arch)) == arch
    with pytest.raises(ValueError):
        arch_for("resnet50-det")
    bad = arch_for("resnet18-fpn-det", 3)
    bad["heads"][0]["rpn"]["typo"] = 1
    with pytest.raises(ValueError, match="keys"):
        StippleNet(bad)
    bad = arch_for("resnet18-fpn-seg", 3)
    bad["heads"][0]["in_features"] = ["p2", "p7"]
    with pytest.raises(ValueError, match="p7"):
        StippleNet(bad)


def test_export_task_model(tmp_path):
    path = tmp_path / "m.safetensors"
    export.main(["--arch", "resnet18-fpn-detseg", "--random-init", "--seed", "1",
                 "--num-classes", "20", "-o", str(path)])
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    arch = json.loads(header.pop("__metadata__")["architecture"])
    assert arch == arch_for("resnet18-fpn-detseg", 20)
    shapes = {k: v["shape"] for k, v in header.items()}
    want = {
        "rpn.head.conv.0.0.weight": [256, 256, 3, 3], "rpn.head.conv.0.0.bias": [256],
        "rpn.head.cls_logits.weight": [3, 256, 1, 1], "rpn.head.cls_logits.bias": [3],
        "rpn.head.bbox_pred.weight": [12, 256, 1, 1], "rpn.head.bbox_pred.bias": [12],
        "roi_heads.box_head.fc6.weight": [1024, 12544], "roi_heads.box_head.fc6.bias": [1024],
        "roi_heads.box_head.fc7.weight": [1024, 1024], "roi_heads.box_head.fc7.bias": [1024],
        "roi_heads.box_predictor.cls_score.weight": [21, 1024],
        "roi_heads.box_predictor.cls_score.bias": [21],
        "roi_heads.box_predictor.bbox_pred.weight": [84, 1024],
        "roi_heads.box_predictor.bbox_pred.bias": [84],
        "seg_head.classifier.weight": [21, 128, 1, 1], "seg_head.classifier.bias": [21],
    }
    for i in range(4):
        want["seg_head.convs.%d.weight" % i] = [128, 256, 3, 3]
        want["seg_head.convs.%d.bias" % i] = [128]
    assert {k: v for k, v in shapes.items() if not k.startswith(("backbone.", "neck."))} == want
    model = export.load_model(path)
    assert model.roi_heads.box_predictor.cls_score.out_features == 21
    with pytest.raises(SystemExit):
        export.main(["--arch", "resnet18-fpn", "--random-init", "--num-classes", "20",
                     "-o", str(tmp_path / "x")])


# --- training losses -------------------------------------------------------

def test_training_losses_match_torchvision_and_step():
    model = export.random_model(small_task_arch("resnet18-fpn-detseg", rep=64), 5)
    model.train()
    det_losses.freeze_batchnorm(model)
    theirs = torchvision_twin(model).train()
    gen = torch.Generator().manual_seed(11)
    imgs = [torch.rand(3, 96, 128, generator=gen) * 255]
    targets = [{"boxes": torch.tensor([[10.0, 12.0, 60.0, 70.0], [70.0, 20.0, 120.0, 50.0]]),
                "labels": torch.tensor([1, 4]),
                "semantic": torch.randint(0, NUM_CLASSES + 1, (96, 128), generator=gen)}]
    cfg = {"rpn_pre_nms_top_n": 300, "rpn_post_nms_top_n": 100}
    torch.manual_seed(12)
    torch.empty(1).uniform_(0.0, 1.0)  # torchvision's training resize draws a min size first
    ours = det_losses.training_losses(model, imgs, targets, cfg)
    torch.manual_seed(12)
    want = theirs(imgs, [{"boxes": t["boxes"], "labels": t["labels"]} for t in targets])
    assert set(ours) == set(want) | {"loss_semantic"}
    for k, v in want.items():
        assert torch.allclose(ours[k], v, rtol=1e-5, atol=1e-6), (k, ours[k], v)
    total = sum(ours.values())
    assert torch.isfinite(total)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    opt.zero_grad()
    total.backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    for prefix in ("backbone.conv1.", "backbone.layer4.", "neck.", "rpn.head.", "roi_heads.box_head.",
                   "seg_head."):
        g = sum(p.grad.abs().sum() for n, p in model.named_parameters()
                if n.startswith(prefix) and p.requires_grad)
        assert g > 0, prefix
    assert all(not m.weight.requires_grad for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    opt.step()
    again = det_losses.training_losses(model, imgs, targets, cfg)
    assert all(torch.isfinite(v) for v in again.values())
