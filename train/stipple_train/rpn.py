"""The region proposal network of torchvision 0.14's Faster R-CNN (inference).

RPNHead, shared by every level: t = ReLU(conv3x3(x) + b) (C -> C, padding 1),
objectness = conv1x1(t) (A channels, channel a = cell anchor a), deltas =
conv1x1(t) (4A channels, channel 4a + j = coordinate j of anchor a). Tensor
names are torchvision's: rpn.head.conv.0.0.*, rpn.head.cls_logits.*,
rpn.head.bbox_pred.*.

Proposals of one image (filter_proposals):
 1. flatten each level in (y, x, a) order (the anchors' order, anchors.py);
 2. per level, the pre_nms_top_n largest objectness logits (box_ops.topk_indices:
    descending, ties by the lower flattened index), levels concatenated in order;
 3. decode those anchors' deltas with BoxCoder weights (1, 1, 1, 1);
 4. score = sigmoid(logit) in float32 (saturates: distinct logits may give
    equal scores, ordered afterwards by candidate position);
 5. clip to the resized image (not the padded one): x in [0, w], y in [0, h];
 6. drop boxes with a side < min_size (1e-3), then scores < score_thresh (0.0);
 7. batched_nms with the level as the category, IoU > nms_thresh (0.7)
    suppresses; kept boxes by descending score, equal scores by candidate
    position (level, then rank in that level's top-k);
 8. keep the first post_nms_top_n.
Only the top-k anchors need decoding (decoding is per anchor).
"""
import torch
from torch import nn

from . import box_ops
from .anchors import AnchorGenerator


class RPNHead(nn.Module):
    def __init__(self, channels, num_anchors):
        super().__init__()
        self.conv = nn.Sequential(nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1),
                                                nn.ReLU(inplace=True)))
        self.cls_logits = nn.Conv2d(channels, num_anchors, 1)
        self.bbox_pred = nn.Conv2d(channels, num_anchors * 4, 1)

    def forward(self, feats):
        logits, deltas = [], []
        for x in feats:
            t = self.conv(x)
            logits.append(self.cls_logits(t))
            deltas.append(self.bbox_pred(t))
        return logits, deltas


def flatten_levels(logits, deltas):
    """Per-level head outputs to (N, sum HWA) logits and (N, sum HWA, 4)
    deltas in (level, y, x, a) order."""
    obj, reg = [], []
    for lg, dl in zip(logits, deltas):
        n, a, h, w = lg.shape
        obj.append(lg.permute(0, 2, 3, 1).reshape(n, -1))
        reg.append(dl.view(n, a, 4, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, 4))
    return torch.cat(obj, dim=1), torch.cat(reg, dim=1)


class RPN(nn.Module):
    """cfg: the "rpn" dict of a faster_rcnn head (proto/model-format.md)."""

    def __init__(self, cfg, channels, bbox_xform_clip=box_ops.BBOX_XFORM_CLIP):
        super().__init__()
        self.cfg = dict(cfg)
        self.in_features = list(cfg["in_features"])
        self.anchor_generator = AnchorGenerator(cfg["anchor_sizes"], cfg["aspect_ratios"])
        counts = set(self.anchor_generator.num_anchors_per_location())
        if len(counts) != 1:
            raise ValueError("every RPN level needs the same number of anchors")
        self.head = RPNHead(channels, counts.pop())
        self.box_coder = box_ops.BoxCoder(cfg["box_weights"], bbox_xform_clip)

    def forward(self, feats, padded_size, image_sizes, pre_nms_top_n=None, post_nms_top_n=None):
        """feats: name -> (N, C, H, W); padded_size: (H, W) of the batch;
        image_sizes: the resized (h, w) of each image. Returns (proposals,
        scores, extras): one (R_i, 4) and (R_i,) tensor per image, and a dict
        with the flattened logits, deltas and the anchors (for the losses)."""
        x = [feats[k] for k in self.in_features]
        logits, deltas = self.head(x)
        counts = [lg.shape[1] * lg.shape[2] * lg.shape[3] for lg in logits]
        anchors = self.anchor_generator(padded_size, [tuple(f.shape[-2:]) for f in x])
        obj, reg = flatten_levels(logits, deltas)
        pre = self.cfg["pre_nms_top_n"] if pre_nms_top_n is None else pre_nms_top_n
        post = self.cfg["post_nms_top_n"] if post_nms_top_n is None else post_nms_top_n
        boxes, scores = [], []
        for i, size in enumerate(image_sizes):
            b, s = self.filter_proposals(obj[i].detach(), reg[i].detach(), anchors, counts,
                                         size, pre, post)
            boxes.append(b)
            scores.append(s)
        return boxes, scores, {"objectness": obj, "deltas": reg, "anchors": anchors}

    def filter_proposals(self, obj, reg, anchors, counts, size, pre, post):
        idx, lvl, start = [], [], 0
        for k, n in enumerate(counts):
            top = box_ops.topk_indices(obj[start:start + n], pre) + start
            idx.append(top)
            lvl.append(torch.full((len(top),), k, dtype=torch.int64))
            start += n
        idx, lvl = torch.cat(idx), torch.cat(lvl)
        boxes = self.box_coder.decode(reg[idx], anchors[idx])[:, 0]
        scores = torch.sigmoid(obj[idx])
        boxes = box_ops.clip_boxes(boxes, size)
        keep = box_ops.remove_small_boxes(boxes, self.cfg["min_size"])
        boxes, scores, lvl = boxes[keep], scores[keep], lvl[keep]
        keep = torch.where(scores >= self.cfg["score_thresh"])[0]
        boxes, scores, lvl = boxes[keep], scores[keep], lvl[keep]
        keep = box_ops.batched_nms(boxes, scores, lvl, self.cfg["nms_thresh"])[:post]
        return boxes[keep], scores[keep]


def rpn_config(anchor_sizes=((32,), (64,), (128,), (256,), (512,)),
               aspect_ratios=(0.5, 1.0, 2.0), in_features=("p2", "p3", "p4", "p5", "p6")):
    """torchvision 0.14's inference defaults."""
    return {
        "in_features": list(in_features),
        "anchor_sizes": [list(s) for s in anchor_sizes],
        "aspect_ratios": list(aspect_ratios),
        "pre_nms_top_n": 1000,
        "post_nms_top_n": 1000,
        "nms_thresh": 0.7,
        "score_thresh": 0.0,
        "min_size": 1e-3,
        "box_weights": [1.0, 1.0, 1.0, 1.0],
    }
