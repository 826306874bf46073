"""COCO box AP and semantic mIoU, numpy only (pycocotools is not installable
here). The reference the C evaluator follows.

Box AP follows pycocotools' COCOeval (iouType "bbox") step by step:
- per image and category, detections by score descending (stable), the
  first maxDets (100) kept (as pycocotools: per image *and category*);
  ground truth outside the area range (its "area" field) or crowd is
  "ignored" and sorted after the rest (stable);
- IoU of boxes (x, y, w, h) as maskUtils.iou: intersection over
  area(d) + area(g) - intersection, over area(d) alone for a crowd;
  0 when the boxes do not overlap;
- per IoU threshold t in 0.50:0.05:0.95, each detection in turn takes the
  ground truth of highest IoU >= min(t, 1 - 1e-10) not yet matched (a
  crowd may be matched again; a non-ignored one is never given up for an
  ignored one); a detection matched to an ignored ground truth, or
  unmatched with an area (w * h) outside the range, is ignored;
- per category and area range: detections of every image, images by
  ascending id, then by score (stable), cumulative TP and FP, precision
  TP / (TP + FP + eps) made non-increasing from the right, sampled at the
  101 recall thresholds 0:0.01:1 (the first index with recall >= r; 0 past
  the end); categories without ground truth are left out; AP is the mean
  over thresholds, recalls and categories.
Area ranges: all [0, 1e10], small [0, 32^2], medium [32^2, 96^2], large
[96^2, 1e10]. Values are fractions in [0, 1], -1 when undefined.

mIoU: a confusion matrix over labels 0..N (255 ignored); IoU of a class =
TP / (TP + FP + FN); mIoU = the mean over classes with a non-empty union.
"""
import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
AREA_RANGES = {"all": (0, 1e10), "small": (0, 32 ** 2), "medium": (32 ** 2, 96 ** 2),
               "large": (96 ** 2, 1e10)}
MAX_DETS = 100


def _iou(d, g, crowd):
    """IoU matrix of (D, 4) and (G, 4) boxes in COCO's (x, y, w, h); crowd:
    (G,) bool."""
    if len(d) == 0 or len(g) == 0:
        return np.zeros((len(d), len(g)))
    dx2, dy2 = d[:, 0] + d[:, 2], d[:, 1] + d[:, 3]
    gx2, gy2 = g[:, 0] + g[:, 2], g[:, 1] + g[:, 3]
    w = np.minimum(dx2[:, None], gx2[None]) - np.maximum(d[:, 0][:, None], g[:, 0][None])
    h = np.minimum(dy2[:, None], gy2[None]) - np.maximum(d[:, 1][:, None], g[:, 1][None])
    overlap = (w > 0) & (h > 0)
    inter = np.where(overlap, w * h, 0.0)
    d_area = (d[:, 2] * d[:, 3])[:, None]
    union = np.where(crowd[None], d_area, d_area + (g[:, 2] * g[:, 3])[None] - inter)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(overlap, inter / union, 0.0)


def evaluate_image(dts, gts, area):
    """(scores, matched (T, D), ignored (T, D), non-ignored gt count) of
    one image and category in one area range."""
    lo, hi = area
    crowd = np.array([bool(g.get("iscrowd", 0)) for g in gts], dtype=bool)
    g_ignore = crowd | np.array([not (lo <= g["area"] <= hi) for g in gts], dtype=bool)
    gorder = np.argsort(g_ignore, kind="mergesort")
    gts = [gts[i] for i in gorder]
    crowd, g_ignore = crowd[gorder], g_ignore[gorder]
    dorder = np.argsort([-d["score"] for d in dts], kind="mergesort")[:MAX_DETS]
    dts = [dts[i] for i in dorder]
    ious = _iou(np.array([d["bbox"] for d in dts], dtype=np.float64).reshape(-1, 4),
                np.array([g["bbox"] for g in gts], dtype=np.float64).reshape(-1, 4), crowd)
    nt = len(IOU_THRESHOLDS)
    matched = np.zeros((nt, len(dts)), dtype=bool)
    ignored = np.zeros((nt, len(dts)), dtype=bool)
    for ti, t in enumerate(IOU_THRESHOLDS):
        taken = np.zeros(len(gts), dtype=bool)
        for di in range(len(dts)):
            best, m = min(t, 1 - 1e-10), -1
            for gi in range(len(gts)):
                if taken[gi] and not crowd[gi]:
                    continue
                if m > -1 and not g_ignore[m] and g_ignore[gi]:
                    break
                if ious[di, gi] < best:
                    continue
                best, m = ious[di, gi], gi
            if m == -1:
                continue
            matched[ti, di] = True
            ignored[ti, di] = g_ignore[m]
            taken[m] = True
    d_area = np.array([d["bbox"][2] * d["bbox"][3] for d in dts], dtype=np.float64)
    outside = (d_area < lo) | (d_area > hi)
    ignored |= ~matched & outside[None]
    return (np.array([d["score"] for d in dts], dtype=np.float64), matched, ignored,
            int((~g_ignore).sum()))


def _average_precision(per_image):
    """The (T, R) precision of one category and area range, None without
    ground truth."""
    npig = sum(p[3] for p in per_image)
    if npig == 0:
        return None
    scores = np.concatenate([p[0] for p in per_image])
    order = np.argsort(-scores, kind="mergesort")
    matched = np.concatenate([p[1] for p in per_image], axis=1)[:, order]
    ignored = np.concatenate([p[2] for p in per_image], axis=1)[:, order]
    tps = np.cumsum(matched & ~ignored, axis=1, dtype=np.float64)
    fps = np.cumsum(~matched & ~ignored, axis=1, dtype=np.float64)
    out = np.zeros((len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS)))
    for t in range(len(IOU_THRESHOLDS)):
        tp, fp = tps[t], fps[t]
        rc = tp / npig
        pr = tp / (tp + fp + np.spacing(1))
        for i in range(len(pr) - 1, 0, -1):
            pr[i - 1] = max(pr[i - 1], pr[i])
        idx = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
        out[t] = [pr[i] if i < len(pr) else 0.0 for i in idx]
    return out


def by_cell(annotations, detections):
    """(ground truth, detections, image ids, category ids): the first two
    are lists keyed by (image_id, category_id); ids ascending."""
    gt, dt = {}, {}
    for a in annotations["annotations"]:
        gt.setdefault((a["image_id"], a["category_id"]), []).append(a)
    for d in detections:
        dt.setdefault((d["image_id"], d["category_id"]), []).append(d)
    return (gt, dt, sorted(im["id"] for im in annotations["images"]),
            sorted(c["id"] for c in annotations["categories"]))


def evaluate(annotations, detections):
    """COCO box AP of detections ([{image_id, category_id, bbox [x, y, w, h],
    score}]) against annotations (a COCO dict): ap, ap50, ap75, ap_small,
    ap_medium, ap_large."""
    gt, dt, images, categories = by_cell(annotations, detections)
    result = {}
    for name, area in AREA_RANGES.items():
        precisions = []
        for c in categories:
            per_image = [evaluate_image(dt.get((i, c), []), gt.get((i, c), []), area)
                         for i in images if (i, c) in gt or (i, c) in dt]
            p = _average_precision(per_image) if per_image else None
            if p is not None:
                precisions.append(p)
        stack = np.array(precisions) if precisions else None
        if name == "all":
            result["ap"] = float(stack.mean()) if stack is not None else -1.0
            result["ap50"] = float(stack[:, 0].mean()) if stack is not None else -1.0
            result["ap75"] = float(stack[:, 5].mean()) if stack is not None else -1.0
        else:
            result["ap_" + name] = float(stack.mean()) if stack is not None else -1.0
    return result


class ConfusionMatrix:
    """Accumulates (prediction, ground truth) label pairs, labels 0..n-1."""

    def __init__(self, num_classes):
        self.n = int(num_classes)
        self.matrix = np.zeros((self.n, self.n), dtype=np.int64)

    def add(self, pred, gt):
        pred, gt = np.asarray(pred).ravel().astype(np.int64), np.asarray(gt).ravel().astype(np.int64)
        keep = gt != 255
        pred, gt = pred[keep], gt[keep]
        if pred.size and (pred.max() >= self.n or gt.max() >= self.n or pred.min() < 0):
            raise ValueError("labels outside 0..%d" % (self.n - 1))
        self.matrix += np.bincount(gt * self.n + pred, minlength=self.n * self.n).reshape(self.n, self.n)

    def iou(self):
        """Per-class IoU (NaN where the union is empty)."""
        tp = np.diag(self.matrix).astype(np.float64)
        union = self.matrix.sum(0) + self.matrix.sum(1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, tp / union, np.nan)

    def miou(self):
        iou = self.iou()
        return float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else -1.0
