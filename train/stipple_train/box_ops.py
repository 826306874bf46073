"""Box arithmetic, NMS and top-k for the detection heads, in plain torch.

This is the reference the C engine follows, so every rule is spelled out and
computed in float32 in the order torchvision 0.14 computes it (elementwise
torch ops round like scalar C code compiled without FMA contraction):

- Boxes are (x1, y1, x2, y2) in pixels, no "+1": area = (x2 - x1) * (y2 - y1).
- clip_boxes: x to [0, width], y to [0, height] (width itself, not width - 1).
- remove_small_boxes keeps w >= min_size and h >= min_size (inclusive).
- IoU of boxes i, j: w = max(0, min(x2i, x2j) - max(x1i, x1j)), h likewise,
  inter = w * h, iou = inter / ((area_i + area_j) - inter).
- nms: order the boxes by score, descending; equal scores keep their input
  order (a stable sort: the lower index first). Walk that order: a box not yet
  suppressed is kept and suppresses every later box with iou > threshold
  (strictly greater). The result lists the kept indices in that order.
  torchvision sorts with an unstable sort, so its order among equal scores is
  unspecified; ours is the rule the C engine must follow.
- batched_nms: nms run independently per category (each category's boxes in
  their input order), then the union of the kept indices sorted by score,
  descending, equal scores by ascending input index. torchvision gets the
  same sets either by a per-class loop or by offsetting the boxes of each
  category by idx * (max coordinate + 1) (its "coordinate trick", used below
  4000 coordinates on the CPU), which rounds the shifted coordinates
  differently; we never shift.
- topk_indices: the k largest, by value descending, equal values by ascending
  index (torch.topk leaves ties unspecified).
- BoxCoder: torchvision's encode/decode with weights (wx, wy, ww, wh); decode
  divides the deltas by the weights (a division, not a multiplication by the
  reciprocal), clamps dw, dh at bbox_xform_clip = float32(log(1000 / 16))
  from above only, then ctr = d * size + ctr_anchor, size = exp(d) * size,
  corners ctr -/+ 0.5 * size.
"""
import math

import numpy as np
import torch

BBOX_XFORM_CLIP = math.log(1000.0 / 16)


def box_area(boxes):
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1, boxes2):
    """The (N, M) IoU matrix, torchvision's box_iou formula."""
    area1, area2 = box_area(boxes1), box_area(boxes2)
    lt = torch.max(boxes1[:, None, :2], boxes2[:, :2])
    rb = torch.min(boxes1[:, None, 2:], boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    return inter / (area1[:, None] + area2 - inter)


def clip_boxes(boxes, size):
    """Clips (..., 4) boxes to an image of size (height, width)."""
    h, w = size
    x = boxes[..., 0::2].clamp(min=0, max=w)
    y = boxes[..., 1::2].clamp(min=0, max=h)
    return torch.stack((x, y), dim=-1).reshape(boxes.shape)


def remove_small_boxes(boxes, min_size):
    """Indices of the boxes whose width and height are both >= min_size."""
    ws, hs = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return torch.where((ws >= min_size) & (hs >= min_size))[0]


def sort_desc(scores):
    """Indices ordering scores descending, ties by ascending index."""
    return torch.sort(scores, dim=0, descending=True, stable=True)[1]


def topk_indices(values, k):
    """The indices of the min(k, n) largest values, descending, ties by index."""
    return sort_desc(values)[:min(int(k), values.numel())]


def _iou_rows(boxes, areas, i, js):
    """IoU of box i with boxes js, with torchvision's nms arithmetic."""
    xx1 = torch.max(boxes[i, 0], boxes[js, 0])
    yy1 = torch.max(boxes[i, 1], boxes[js, 1])
    xx2 = torch.min(boxes[i, 2], boxes[js, 2])
    yy2 = torch.min(boxes[i, 3], boxes[js, 3])
    w = (xx2 - xx1).clamp(min=0)
    h = (yy2 - yy1).clamp(min=0)
    inter = w * h
    return inter / (areas[i] + areas[js] - inter)


def _iou_matrix(b, areas):
    xx1 = torch.max(b[:, None, 0], b[None, :, 0])
    yy1 = torch.max(b[:, None, 1], b[None, :, 1])
    xx2 = torch.min(b[:, None, 2], b[None, :, 2])
    yy2 = torch.min(b[:, None, 3], b[None, :, 3])
    inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
    return inter / (areas[:, None] + areas[None, :] - inter)


# Above this many boxes nms works row by row instead of on the IoU matrix.
_MATRIX_NMS_MAX = 2048


def nms(boxes, scores, iou_threshold):
    """Greedy NMS (module docstring): kept indices, by descending score."""
    n = boxes.shape[0]
    if n == 0:
        return torch.zeros(0, dtype=torch.int64)
    order = sort_desc(scores)
    b = boxes[order]
    areas = box_area(b)
    suppressed = np.zeros(n, dtype=bool)
    keep = []
    if n <= _MATRIX_NMS_MAX:
        # IoU is symmetric bit for bit (max, min, products and the sum of the
        # two areas commute), so the matrix equals the row-wise computation.
        over = (_iou_matrix(b, areas) > iou_threshold).numpy()
        for i in range(n):
            if suppressed[i]:
                continue
            keep.append(i)
            suppressed[i + 1:] |= over[i, i + 1:]
    else:
        for i in range(n):
            if suppressed[i]:
                continue
            keep.append(i)
            rest = torch.arange(i + 1, n)
            if rest.numel():
                suppressed[i + 1:] |= (_iou_rows(b, areas, i, rest) > iou_threshold).numpy()
    return order[torch.tensor(keep, dtype=torch.int64)]



def batched_nms(boxes, scores, idxs, iou_threshold):
    """NMS per category idxs (module docstring): kept indices, by descending
    score, ties by ascending index."""
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64)
    keep_mask = torch.zeros(scores.shape[0], dtype=torch.bool)
    for c in torch.unique(idxs):
        members = torch.where(idxs == c)[0]
        keep_mask[members[nms(boxes[members], scores[members], iou_threshold)]] = True
    kept = torch.where(keep_mask)[0]
    return kept[sort_desc(scores[kept])]


class BoxCoder:
    """torchvision's BoxCoder (module docstring)."""

    def __init__(self, weights, bbox_xform_clip=BBOX_XFORM_CLIP):
        self.weights = tuple(float(w) for w in weights)
        self.bbox_xform_clip = bbox_xform_clip

    def encode(self, gt_boxes, anchors):
        """Regression targets (N, 4) of gt_boxes relative to anchors (N, 4)."""
        wx, wy, ww, wh = self.weights
        ex_w = anchors[:, 2] - anchors[:, 0]
        ex_h = anchors[:, 3] - anchors[:, 1]
        ex_x = anchors[:, 0] + 0.5 * ex_w
        ex_y = anchors[:, 1] + 0.5 * ex_h
        gt_w = gt_boxes[:, 2] - gt_boxes[:, 0]
        gt_h = gt_boxes[:, 3] - gt_boxes[:, 1]
        gt_x = gt_boxes[:, 0] + 0.5 * gt_w
        gt_y = gt_boxes[:, 1] + 0.5 * gt_h
        return torch.stack((wx * (gt_x - ex_x) / ex_w, wy * (gt_y - ex_y) / ex_h,
                            ww * torch.log(gt_w / ex_w), wh * torch.log(gt_h / ex_h)), dim=1)

    def decode(self, deltas, boxes):
        """deltas (N, 4 * K) relative to boxes (N, 4): (N, K, 4) boxes."""
        boxes = boxes.to(deltas.dtype)
        widths = boxes[:, 2] - boxes[:, 0]
        heights = boxes[:, 3] - boxes[:, 1]
        ctr_x = boxes[:, 0] + 0.5 * widths
        ctr_y = boxes[:, 1] + 0.5 * heights
        wx, wy, ww, wh = self.weights
        dx = deltas[:, 0::4] / wx
        dy = deltas[:, 1::4] / wy
        dw = torch.clamp(deltas[:, 2::4] / ww, max=self.bbox_xform_clip)
        dh = torch.clamp(deltas[:, 3::4] / wh, max=self.bbox_xform_clip)
        pred_x = dx * widths[:, None] + ctr_x[:, None]
        pred_y = dy * heights[:, None] + ctr_y[:, None]
        pred_w = torch.exp(dw) * widths[:, None]
        pred_h = torch.exp(dh) * heights[:, None]
        half_w = 0.5 * pred_w
        half_h = 0.5 * pred_h
        return torch.stack((pred_x - half_w, pred_y - half_h, pred_x + half_w, pred_y + half_h), dim=2)
