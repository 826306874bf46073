"""How sure is a box-AP difference? A paired bootstrap over test images.

Two models' detections on one test split (COCO results files, e.g. from
`stipple eval MODEL DIR --detections FILE`) give two box APs; the split is a
sample of images, so each AP, and their difference, carries sampling noise.
This resamples the images with replacement (the same draw for both models,
so the noise they share cancels), recomputes both APs on every draw, and
reports the percentile interval of each AP and of their difference.

The AP is coco_eval's (pycocotools' protocol, area range "all"): every
detection is matched once against the ground truth of its image and
category, and a draw only reweights images, so an image drawn k times
contributes its detections and ground truth k times (as k copies of the
image would, ties in score included). On the full split the result equals
coco_eval.evaluate's "ap" exactly. Every image of the annotations counts:
detections written with `stipple eval --limit` would leave the rest as
misses, so score whole splits.

    PYTHONPATH=train /usr/bin/python3 -m stipple_train.ap_compare \\
        DIR/annotations.json A.json B.json [--resamples 2000] [--json]
"""
import argparse
import json
import sys

import numpy as np

from . import coco_eval


class MatchedCategory:
    """One category's detections over a split, matched once: scores (D,),
    true positives and ignored flags (T, D) per IoU threshold, the image
    index of each detection (D,), and the non-ignored ground truth count of
    each image (N,). Detections are ordered by image id, then by score."""

    def __init__(self, per_image, nimages):
        self.image = np.concatenate(
            [np.full(len(p[0]), i) for i, p in per_image] or [np.zeros(0, int)]).astype(int)
        self.scores = np.concatenate([p[0] for _, p in per_image] or [np.zeros(0)])
        nt = len(coco_eval.IOU_THRESHOLDS)
        self.tp = np.concatenate([p[1] & ~p[2] for _, p in per_image] or
                                 [np.zeros((nt, 0), bool)], axis=1)
        self.fp = np.concatenate([~p[1] & ~p[2] for _, p in per_image] or
                                 [np.zeros((nt, 0), bool)], axis=1)
        self.gt = np.zeros(nimages)
        for i, p in per_image:
            self.gt[i] = p[3]

    def precision(self, weights):
        """The (T, R) interpolated precision with image i counted weights[i]
        times, or None when that leaves no ground truth."""
        npig = float(weights @ self.gt)
        if npig == 0:
            return None
        counts = weights[self.image]
        keep = np.repeat(np.arange(len(self.scores)), counts)
        # pycocotools' order for the repeated split: by image, copy by copy,
        # then by score (stable), so ties keep that order
        copy = np.arange(len(keep)) - np.repeat(np.cumsum(counts) - counts, counts)
        keep = keep[np.lexsort((keep, copy, self.image[keep]))]
        order = keep[np.argsort(-self.scores[keep], kind="mergesort")]
        tps = np.cumsum(self.tp[:, order], axis=1, dtype=np.float64)
        fps = np.cumsum(self.fp[:, order], axis=1, dtype=np.float64)
        precision = tps / (tps + fps + np.spacing(1))
        precision = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
        out = np.zeros((len(coco_eval.IOU_THRESHOLDS), len(coco_eval.RECALL_THRESHOLDS)))
        for t in range(len(out)):
            idx = np.searchsorted(tps[t] / npig, coco_eval.RECALL_THRESHOLDS, side="left")
            inside = idx < precision.shape[1]
            out[t, inside] = precision[t, idx[inside]]
        return out


def match(annotations, detections):
    """The MatchedCategory of every category of annotations (a COCO dict)
    for detections (a COCO results list), images by ascending id."""
    gt, dt, images, categories = coco_eval.by_cell(annotations, detections)
    unknown = {d["image_id"] for d in detections} - set(images)
    if unknown:
        raise ValueError("detections of images not in the annotations: %s" % sorted(unknown)[:5])
    area = coco_eval.AREA_RANGES["all"]
    return [MatchedCategory([(n, coco_eval.evaluate_image(dt.get((i, c), []), gt.get((i, c), []),
                                                         area))
                             for n, i in enumerate(images) if (i, c) in gt or (i, c) in dt],
                            len(images))
            for c in categories]


def box_ap(categories, weights):
    """Box AP (coco_eval's "ap") with image i counted weights[i] times;
    -1 when no category has ground truth."""
    precisions = [p for p in (c.precision(weights) for c in categories) if p is not None]
    return float(np.mean(precisions)) if precisions else -1.0


def compare(annotations, detections_a, detections_b, resamples=2000, seed=0, level=0.95):
    """AP of a and of b on the full split, their difference b - a, and the
    percentile intervals (at level) of all three over resamples paired
    bootstrap draws of the images."""
    a, b = match(annotations, detections_a), match(annotations, detections_b)
    n = len(annotations["images"])
    ones = np.ones(n, dtype=int)
    rng = np.random.default_rng(seed)
    draws = np.zeros((resamples, 2))
    for r in range(resamples):
        w = np.bincount(rng.integers(0, n, n), minlength=n)
        draws[r] = box_ap(a, w), box_ap(b, w)
    lo, hi = 50 * (1 - level), 50 * (1 + level)

    def interval(v):
        return [float(np.percentile(v, lo)), float(np.percentile(v, hi))]
    ap_a, ap_b = box_ap(a, ones), box_ap(b, ones)
    return {"images": n, "resamples": resamples, "seed": seed, "level": level,
            "ap_a": ap_a, "ap_a_interval": interval(draws[:, 0]),
            "ap_b": ap_b, "ap_b_interval": interval(draws[:, 1]),
            "difference": ap_b - ap_a, "difference_interval": interval(draws[:, 1] - draws[:, 0]),
            "difference_std": float(np.std(draws[:, 1] - draws[:, 0], ddof=1)),
            "b_above_a": float(np.mean(draws[:, 1] > draws[:, 0]))}   # share of draws


def main(argv=None):
    p = argparse.ArgumentParser(prog="stipple_train.ap_compare",
                                description="Box AP of two models' detections on one split, "
                                "with a paired bootstrap interval of their difference (B - A).")
    p.add_argument("annotations", help="the split's annotations.json (COCO)")
    p.add_argument("a", help="model A's detections (COCO results JSON)")
    p.add_argument("b", help="model B's detections")
    p.add_argument("--resamples", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--level", type=float, default=0.95, help="interval coverage")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if args.resamples < 2 or not 0 < args.level < 1:
        p.error("--resamples must be at least 2 and --level in (0, 1)")
    try:
        docs = []
        for path in (args.annotations, args.a, args.b):
            with open(path) as f:
                docs.append(json.load(f))
        r = compare(*docs, resamples=args.resamples, seed=args.seed, level=args.level)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        print("stipple_train.ap_compare: %s" % e, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(r))
        return 0
    pct = 100 * args.level
    print("%d images, %d paired bootstrap draws, %g%% percentile intervals" %
          (r["images"], r["resamples"], pct))
    for name, key in (("A", "ap_a"), ("B", "ap_b"), ("B - A", "difference")):
        v, (lo, hi) = r[key], r[key + "_interval"]
        print("%-6s box AP %6.2f  [%6.2f, %6.2f]" % (name, 100 * v, 100 * lo, 100 * hi))
    print("B above A in %.1f%% of the draws" % (100 * r["b_above_a"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
