"""Faster R-CNN with FPN, the inference semantics of torchvision 0.14's
fasterrcnn_resnet50_fpn, and the task heads' entry point.

A model's "heads" list (proto/model-format.md, "Heads") holds at most one
"faster_rcnn" and one "semantic_fpn" dict; StippleNet builds them as its
modules rpn, roi_heads (rpn.py, roi_heads.py) and seg_head
(segmentation.py), so their tensors carry torchvision's FasterRCNN names.
predict() runs the whole pipeline of one batch of images:
    transform.preprocess (normalise, resize, pad)
    -> backbone and FPN (StippleNet.forward: dense, or sparse under the
       current sampling_mode)
    -> RPN proposals -> box branch -> detections rescaled to original pixels
    -> semantic logits -> labels at the original size.
torchvision defaults kept: every inference setting of FasterRCNN (anchors
32..512 x (0.5, 1, 2), pre/post NMS top-n 1000/1000, RPN NMS 0.7, score
threshold 0.0, min size 1e-3; RoIAlign 7x7, sampling 2, aligned False,
canonical 224 / level 4; representation 1024; box weights (10, 10, 5, 5),
score > 0.05, NMS 0.5, 100 detections, min size 1e-2; resize min 800 /
max 1333, size divisor 32). Changed: ties in every sort and top-k broken by
the lower index (box_ops.py), RoIAlign scales fixed to 2^-k (roi_align.py),
batched NMS never shifts coordinates (box_ops.py), normalisation in 0-255
units.
"""
import torch

from . import box_ops
from .roi_heads import RoIHeads, box_config, roi_config
from .rpn import RPN, rpn_config
from .segmentation import SemanticFPNHead
from .transform import preprocess, rescale_boxes

HEAD_KINDS = ("faster_rcnn", "semantic_fpn")

FASTER_RCNN_KEYS = {"kind", "num_classes", "rpn", "roi", "box", "bbox_xform_clip"}
RPN_KEYS = {"in_features", "anchor_sizes", "aspect_ratios", "pre_nms_top_n", "post_nms_top_n",
            "nms_thresh", "score_thresh", "min_size", "box_weights"}
ROI_KEYS = {"in_features", "output_size", "sampling_ratio", "aligned", "canonical_scale",
            "canonical_level", "eps"}
BOX_KEYS = {"representation_size", "box_weights", "score_thresh", "nms_thresh",
            "detections_per_img", "min_size"}
SEMANTIC_KEYS = {"kind", "num_classes", "in_features", "channels"}


def faster_rcnn_config(num_classes):
    """A "faster_rcnn" head dict with torchvision 0.14's defaults."""
    return {"kind": "faster_rcnn", "num_classes": int(num_classes), "rpn": rpn_config(),
            "roi": roi_config(), "box": box_config(),
            "bbox_xform_clip": box_ops.BBOX_XFORM_CLIP}


def semantic_fpn_config(num_classes, channels=128):
    return {"kind": "semantic_fpn", "num_classes": int(num_classes),
            "in_features": ["p2", "p3", "p4", "p5"], "channels": int(channels)}


def _keys(d, want, where):
    if set(d) != want:
        raise ValueError("%s: keys %s, expected %s" % (where, sorted(d), sorted(want)))


def check_heads(arch, feature_names):
    """Validates arch["heads"] against the network's feature names."""
    heads = arch["heads"]
    kinds = [h.get("kind") for h in heads]
    for k in kinds:
        if k not in HEAD_KINDS:
            raise ValueError("unknown head kind %r (one of %s)" % (k, ", ".join(HEAD_KINDS)))
    if len(set(kinds)) != len(kinds):
        raise ValueError("at most one head of each kind")
    if heads and arch["neck"] is None:
        raise ValueError("task heads need an FPN neck")
    for h in heads:
        if h["kind"] == "faster_rcnn":
            _keys(h, FASTER_RCNN_KEYS, "faster_rcnn")
            _keys(h["rpn"], RPN_KEYS, "faster_rcnn.rpn")
            _keys(h["roi"], ROI_KEYS, "faster_rcnn.roi")
            _keys(h["box"], BOX_KEYS, "faster_rcnn.box")
            used = h["rpn"]["in_features"] + h["roi"]["in_features"]
            if len(h["rpn"]["anchor_sizes"]) != len(h["rpn"]["in_features"]):
                raise ValueError("faster_rcnn.rpn: one anchor_sizes list per in_features level")
            if h["roi"]["sampling_ratio"] < 1:
                raise ValueError("faster_rcnn.roi: sampling_ratio must be >= 1")
        else:
            _keys(h, SEMANTIC_KEYS, "semantic_fpn")
            used = h["in_features"]
        missing = [f for f in used if f not in feature_names]
        if missing:
            raise ValueError("%s: features %s are not outputs of the network" % (h["kind"], missing))
        if h["num_classes"] < 1:
            raise ValueError("%s: num_classes must be >= 1" % h["kind"])
        if arch["classes"] and len(arch["classes"]) != h["num_classes"]:
            raise ValueError("classes must list num_classes names")


def build_heads(arch, channels):
    """(rpn, roi_heads, seg_head) modules for arch["heads"] (None when absent)."""
    rpn = roi_heads = seg = None
    for h in arch["heads"]:
        if h["kind"] == "faster_rcnn":
            clip = h["bbox_xform_clip"]
            rpn = RPN(h["rpn"], channels, clip)
            roi_heads = RoIHeads(h["roi"], h["box"], channels, h["num_classes"], clip)
        else:
            seg = SemanticFPNHead(h, channels)
    return rpn, roi_heads, seg


@torch.no_grad()
def predict(model, images, max_proposals=None):
    """Runs model (a StippleNet with heads, in eval mode) on a list of
    (C, h, w) images in 0-255 units. Returns one dict per image: "boxes"
    (D, 4) in original pixels, "scores" (D,), "labels" (D,) (1..K) with a
    faster_rcnn head; "semantic" (h, w) int64 labels (0 = background) and
    "semantic_logits" (K + 1, h, w) with a semantic_fpn head.
    max_proposals caps the RPN's post_nms_top_n, as the engine's budget
    mode does (ceil(budget x post_nms_top_n), docs/sparse.md)."""
    batch, sizes, originals, _ = preprocess(images, model.arch["input"])
    feats = model(batch)
    results = [{} for _ in images]
    padded = tuple(batch.shape[-2:])
    if model.rpn is not None:
        post = model.rpn.cfg["post_nms_top_n"]
        if max_proposals is not None:
            post = min(post, max_proposals)
        proposals, _, _ = model.rpn(feats, padded, sizes, post_nms_top_n=post)
        dets = model.roi_heads(feats, proposals, sizes)
        for r, d, s, o in zip(results, dets, sizes, originals):
            r["boxes"] = rescale_boxes(d["boxes"], s, o)
            r["scores"] = d["scores"]
            r["labels"] = d["labels"]
    if model.seg_head is not None:
        logits = model.seg_head(feats)
        for i, (r, s, o) in enumerate(zip(results, sizes, originals)):
            r["semantic"], r["semantic_logits"] = model.seg_head.postprocess(logits[i], padded, s, o)
    return results
