"""The box branch of torchvision 0.14's Faster R-CNN (inference).

For the proposals of each image: MultiScaleRoIAlign over P2..P5 (7 x 7,
sampling ratio 2, aligned False; roi_align.py) -> flatten in (channel, y, x)
order -> fc6 + ReLU -> fc7 + ReLU (TwoMLPHead, 1024) -> cls_score (K + 1
logits, 0 = background) and bbox_pred (4 (K + 1) deltas, index 4 c + j).
Tensor names are torchvision's: roi_heads.box_head.fc6.*, .fc7.*,
roi_heads.box_predictor.cls_score.*, .bbox_pred.*.

postprocess, per image:
 1. scores = softmax(logits) over the K + 1 classes (float32);
 2. boxes = class-specific decode with weights (10, 10, 5, 5) (BoxCoder:
    dx / 10, dy / 10, dw / 5, dh / 5, dw and dh clamped above at
    log(1000 / 16)), clipped to the resized image;
 3. drop background; candidates in (proposal, class) order, proposal-major,
    labels 1..K;
 4. keep scores > score_thresh (0.05, strictly), then sides >= min_size (1e-2);
 5. batched_nms per class, IoU > 0.5 suppresses; by descending score, equal
    scores by candidate order; keep the first detections_per_img (100).
"""
import torch
import torch.nn.functional as F
from torch import nn

from . import box_ops
from .roi_align import MultiScaleRoIAlign


class Linear(nn.Linear):
    """nn.Linear computed as a 1x1 convolution: the same parameters and
    result, but Debian's torch has only a generic BLAS for matmul (about 1
    GFLOP/s) while convolutions run on oneDNN (about 20x faster)."""

    def forward(self, x):
        return F.conv2d(x[:, :, None, None], self.weight[:, :, None, None], self.bias)[:, :, 0, 0]


class TwoMLPHead(nn.Module):
    def __init__(self, in_features, representation):
        super().__init__()
        self.fc6 = Linear(in_features, representation)
        self.fc7 = Linear(representation, representation)

    def forward(self, x):
        return F.relu(self.fc7(F.relu(self.fc6(x.flatten(start_dim=1)))))


class FastRCNNPredictor(nn.Module):
    def __init__(self, in_features, num_outputs):
        super().__init__()
        self.cls_score = Linear(in_features, num_outputs)
        self.bbox_pred = Linear(in_features, num_outputs * 4)

    def forward(self, x):
        x = x.flatten(start_dim=1)
        return self.cls_score(x), self.bbox_pred(x)


class RoIHeads(nn.Module):
    """roi, box: the "roi" and "box" dicts of a faster_rcnn head;
    num_classes: foreground classes (the predictor has num_classes + 1)."""

    def __init__(self, roi, box, channels, num_classes, bbox_xform_clip=box_ops.BBOX_XFORM_CLIP):
        super().__init__()
        self.roi_cfg, self.cfg = dict(roi), dict(box)
        p = roi["output_size"]
        self.box_roi_pool = MultiScaleRoIAlign(roi["in_features"], p, roi["sampling_ratio"],
                                               roi["aligned"], roi["canonical_scale"],
                                               roi["canonical_level"], roi["eps"])
        self.box_head = TwoMLPHead(channels * p * p, box["representation_size"])
        self.box_predictor = FastRCNNPredictor(box["representation_size"], num_classes + 1)
        self.box_coder = box_ops.BoxCoder(box["box_weights"], bbox_xform_clip)

    def predict(self, feats, proposals):
        """Class logits (R, K + 1) and deltas (R, 4 (K + 1)) of all proposals."""
        x = self.box_roi_pool(feats, proposals)
        return self.box_predictor(self.box_head(x))

    def forward(self, feats, proposals, image_sizes):
        """Detections in resized-image pixels: a dict of boxes (D, 4),
        scores (D,) and labels (D,) per image."""
        logits, deltas = self.predict(feats, proposals)
        out, start = [], 0
        for props, size in zip(proposals, image_sizes):
            n = len(props)
            out.append(self.postprocess(logits[start:start + n], deltas[start:start + n], props, size))
            start += n
        return out

    def postprocess(self, logits, deltas, proposals, size):
        k1 = logits.shape[-1]
        boxes = box_ops.clip_boxes(self.box_coder.decode(deltas, proposals), size)
        scores = F.softmax(logits, -1)
        labels = torch.arange(k1).view(1, -1).expand_as(scores)
        boxes = boxes[:, 1:].reshape(-1, 4)
        scores = scores[:, 1:].reshape(-1)
        labels = labels[:, 1:].reshape(-1)
        keep = torch.where(scores > self.cfg["score_thresh"])[0]
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = box_ops.remove_small_boxes(boxes, self.cfg["min_size"])
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = box_ops.batched_nms(boxes, scores, labels, self.cfg["nms_thresh"])
        keep = keep[:self.cfg["detections_per_img"]]
        return {"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]}


def roi_config(in_features=("p2", "p3", "p4", "p5")):
    """torchvision 0.14's MultiScaleRoIAlign settings of Faster R-CNN."""
    return {"in_features": list(in_features), "output_size": 7, "sampling_ratio": 2,
            "aligned": False, "canonical_scale": 224, "canonical_level": 4, "eps": 1e-6}


def box_config():
    """torchvision 0.14's box-branch inference defaults."""
    return {"representation_size": 1024, "box_weights": [10.0, 10.0, 5.0, 5.0],
            "score_thresh": 0.05, "nms_thresh": 0.5, "detections_per_img": 100, "min_size": 1e-2}
