"""NanoDet-style one-stage detectors: a CSP backbone, a PAN neck and a GFL
head (proto/model-format.md, "One-stage detectors"), the PyTorch reference
of the C engine's engine/nets/cspnet.c, pan.c and engine/heads/gfl*.c.

The layout follows RangiLyu's NanoDet (v0.x, "nanodet-g"), rewritten with
readable names; BatchNorm is already folded into every conv (the published
weights come that way), so each conv has a bias:

    backbone.stem             3x3 stride 2 conv + activation, then 3x3/2 max-pool
    backbone.stages.{i}       a CSP stage of C channels (output 2C):
        .in_conv              k x k conv C -> C at the stage's stride
        .blocks.{j}           tiny residual blocks: in_conv C -> C/2,
                              mid_conv C/2 -> C/2, output cat(mid, in)
        .out_conv             k x k conv C -> C
                              output: cat(out_conv(blocks(x)), x)
    neck.lateral.{i}          1x1 conv (no activation) per input level; top-down
                              then bottom-up sums with bilinear resizing
    head.convs.{l}.{k}        the level's stacked 3x3 convs + activation
    head.out.{l}              1x1 conv to num_classes + 4 * (reg_max + 1)

Sparse form (backbone.sparse, proto/model-format.md "Sparse one-stage
detectors"): each flagged CSP stage has a sampling module on its input
(`backbone.stages.{i}.mask`, docs/method.md's MaskPredictor, at the stage's
stride) whose mask every conv of the stage shares; each such conv runs
(here: is kept) only at sampled cells and its output is interpolated
everywhere else (`<conv>.interp`, the RBF module), after its activation.
Each flagged head level has its own module on the PAN output
(`head.masks.{l}`): the level's convs run only at its sampled cells, which
alone become candidate detections (no interpolation: nothing reads the
other cells). Mask numbers: the stages' in order, then the head levels'.

forward() returns, per level, the raw head output (N, K + 4(R+1), H, W):
class logits first, then four groups of R+1 distance bins (left, top,
right, bottom). decode() turns them into detections as NanoDet's
get_bboxes does (sigmoid scores; per level the nms_pre locations with the
highest class score; expected distance of the bin softmax times the
stride, from cell centres (x + center_offset) * stride; every (box, class)
pair above score_thresh, or with multi_label false only each location's
best class; class-aware NMS; the best detections_per_img).
"""
import copy

import torch
import torch.nn.functional as F
from torch import nn

from . import box_ops, transform
from .sparse import Interpolation, MaskPredictor



class ConvAct(nn.Conv2d):
    """A conv with bias and "same" padding, then LeakyReLU (slope) unless
    slope is None; in a sparse stage, then its interpolation module under
    the stage's mask (forward's m)."""

    def __init__(self, cin, cout, k, stride=1, slope=None, sparse=None):
        super().__init__(cin, cout, k, stride, (k - 1) // 2, bias=True)
        self.slope = slope
        self.interp = Interpolation(sparse["kernel"], sparse["window"]) if sparse else None

    def forward(self, x, m=None):
        x = super().forward(x)
        x = x if self.slope is None else F.leaky_relu(x, self.slope)
        return x if m is None else self.interp(x, m)


class TinyResBlock(nn.Module):
    def __init__(self, c, k, slope, sparse=None):
        super().__init__()
        self.in_conv = ConvAct(c, c // 2, k, 1, slope, sparse)
        self.mid_conv = ConvAct(c // 2, c // 2, k, 1, slope, sparse)

    def forward(self, x, m=None):
        x = self.in_conv(x, m)
        return torch.cat([self.mid_conv(x, m), x], 1)


class CspStage(nn.Module):
    """sparse: the backbone's sparse settings when this stage has a mask
    (number mask_index), else None."""

    def __init__(self, c, blocks, stride, k, slope, sparse=None, mask_index=0):
        super().__init__()
        self.in_conv = ConvAct(c, c, k, stride, slope, sparse)
        self.blocks = nn.ModuleList(TinyResBlock(c, k, slope, sparse) for _ in range(blocks))
        self.out_conv = ConvAct(c, c, k, 1, slope, sparse)
        self.mask = (MaskPredictor(c, stride, sparse["grid_stride"], mask_index)
                     if sparse else None)
        self.probs, self.last_masks = [], []

    def forward(self, x):
        m = None
        if self.mask is not None:
            m, p = self.mask(x)
            self.probs, self.last_masks = [p], [m]
        x = self.in_conv(x, m)
        y = x
        for block in self.blocks:
            y = block(y, m)
        return torch.cat([self.out_conv(y, m), x], 1)


def stage_flags(sparse, nstages):
    return list(sparse["stages"]) if sparse else [0] * nstages


class CspNet(nn.Module):
    """Outputs c2..c5 (strides 4..32), as a dict."""

    def __init__(self, cfg, in_channels):
        super().__init__()
        slope, sparse = cfg["negative_slope"], cfg.get("sparse")
        flags = stage_flags(sparse, len(cfg["stages"]))
        index = [sum(flags[:i]) for i in range(len(flags))]
        self.stem = ConvAct(in_channels, cfg["stem_width"], 3, 2, slope)
        self.stages = nn.ModuleList(
            CspStage(s["channels"], s["blocks"], s["stride"], cfg["kernel_size"], slope,
                     sparse if flags[i] else None, index[i])
            for i, s in enumerate(cfg["stages"]))

    def forward(self, x):
        x = F.max_pool2d(self.stem(x), 3, 2, 1)
        out = {}
        for i, stage in enumerate(self.stages):
            x = stage(x)
            out["c%d" % (i + 2)] = x
        return out


class Pan(nn.Module):
    """PAN without output convs: laterals, top-down sums of bilinearly
    upsampled coarser levels, then bottom-up sums of bilinearly downsampled
    finer ones (sizes of the level it is added to)."""

    def __init__(self, cfg):
        super().__init__()
        self.in_features = list(cfg["in_features"])
        self.lateral = nn.ModuleList(nn.Conv2d(c, cfg["out_channels"], 1)
                                     for c in cfg["in_channels"])

    def forward(self, feats):
        x = [conv(feats[name]) for conv, name in zip(self.lateral, self.in_features)]
        for i in range(len(x) - 1, 0, -1):
            x[i - 1] = x[i - 1] + F.interpolate(x[i], size=x[i - 1].shape[-2:], mode="bilinear",
                                                align_corners=False)
        for i in range(len(x) - 1):
            x[i + 1] = x[i + 1] + F.interpolate(x[i], size=x[i + 1].shape[-2:], mode="bilinear",
                                                align_corners=False)
        return {"p" + name[1:]: v for name, v in zip(self.in_features, x)}


class GflHead(nn.Module):
    """sparse: the backbone's sparse settings (head levels flagged in
    sparse["head"] get a mask each, numbered from mask_base); forward keeps
    each level's mask in self.last_masks (None where dense)."""

    def __init__(self, cfg, in_channels, slope, sparse=None, mask_base=0):
        super().__init__()
        self.cfg = dict(cfg)
        flags = list(sparse["head"]) if sparse else [0] * len(cfg["in_features"])
        index = [mask_base + sum(flags[:i]) for i in range(len(flags))]
        self.masks = nn.ModuleList(
            MaskPredictor(in_channels, 1, sparse["grid_stride"], index[i]) if flags[i]
            else nn.Identity() for i in range(len(flags)))
        self.probs, self.last_masks = [], []
        fc, out = cfg["feat_channels"], cfg["num_classes"] + 4 * (cfg["reg_max"] + 1)
        self.convs = nn.ModuleList()
        for _ in cfg["in_features"]:
            convs = []
            for k in range(cfg["stacked_convs"]):
                convs.append(ConvAct(in_channels if k == 0 else fc, fc, 3, 1, slope))
            self.convs.append(nn.Sequential(*convs))
        width = fc if cfg["stacked_convs"] else in_channels
        self.out = nn.ModuleList(nn.Conv2d(width, out, 1) for _ in cfg["in_features"])

    def forward(self, feats):
        outs, self.probs, self.last_masks = [], [], []
        for convs, out, mask, name in zip(self.convs, self.out, self.masks,
                                          self.cfg["in_features"]):
            x = feats[name]
            if isinstance(mask, MaskPredictor):
                m, p = mask(x)
                self.probs.append(p)
                self.last_masks.append(m)
            else:
                self.last_masks.append(None)
            outs.append(out(convs(x)))
        return outs


def level_outputs(cfg, out, mask=None):
    """One level's raw head output (C, H, W) as NanoDet's exported graph
    gives it: class scores (H*W, K) after the sigmoid and distance logits
    (H*W, 4 * (reg_max + 1)), locations row-major. mask (H, W): cells
    where it is 0 were not computed: their scores are 0, below any
    threshold (and last in any top-k)."""
    c, h, w = out.shape
    flat = out.permute(1, 2, 0).reshape(h * w, c)
    scores = torch.sigmoid(flat[:, :cfg["num_classes"]])
    if mask is not None:
        scores = scores * (mask.reshape(h * w, 1) > 0).to(scores.dtype)
    return scores, flat[:, cfg["num_classes"]:]


def gfl_decode(cfg, outputs, height, width, masks=None):
    """Detections of one image from its per-level head outputs ((C, H, W)
    each) on a height x width network input: boxes (D, 4) in input pixels,
    scores (D,), labels (D,) 1..num_classes, by descending score. masks:
    per level (H, W) sampled cells, or None (all)."""
    masks = masks or [None] * len(outputs)
    levels = [level_outputs(cfg, o, m) for o, m in zip(outputs, masks)]
    sizes = [tuple(o.shape[1:]) for o in outputs]
    return gfl_detections(cfg, levels, sizes, height, width)


def gfl_detections(cfg, levels, sizes, height, width):
    """gfl_decode from each level's (scores, distance logits) (level_outputs)
    and its (H, W)."""
    r = cfg["reg_max"] + 1
    bins = torch.arange(r, dtype=torch.float32)
    boxes, scores = [], []
    for (score, logits), (h, w), stride in zip(levels, sizes, cfg["strides"]):
        dist = F.softmax(logits.reshape(h * w * 4, r), dim=1)
        dist = (dist * bins).sum(1).reshape(h * w, 4) * stride
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                                torch.arange(w, dtype=torch.float32), indexing="ij")
        cx = ((xs.reshape(-1) + cfg["center_offset"]) * stride)
        cy = ((ys.reshape(-1) + cfg["center_offset"]) * stride)
        if h * w > cfg["nms_pre"]:
            keep = box_ops.topk_indices(score.max(1).values, cfg["nms_pre"])
            score, dist, cx, cy = score[keep], dist[keep], cx[keep], cy[keep]
        box = torch.stack([(cx - dist[:, 0]).clamp(0, width), (cy - dist[:, 1]).clamp(0, height),
                           (cx + dist[:, 2]).clamp(0, width), (cy + dist[:, 3]).clamp(0, height)],
                          1)
        boxes.append(box)
        scores.append(score)
    boxes, scores = torch.cat(boxes), torch.cat(scores)
    if cfg["multi_label"]:
        idx, cls = torch.nonzero(scores > cfg["score_thresh"], as_tuple=True)
    else:
        best, best_cls = scores.max(1)
        idx = torch.nonzero(best > cfg["score_thresh"], as_tuple=True)[0]
        cls = best_cls[idx]
    cand_boxes, cand_scores = boxes[idx], scores[idx, cls]
    keep = box_ops.batched_nms(cand_boxes, cand_scores, cls, cfg["nms_thresh"])
    keep = keep[:cfg["detections_per_img"]]
    return cand_boxes[keep], cand_scores[keep], cls[keep] + 1


class NanoDet(nn.Module):
    """A one-stage detector from an architecture dict (backbone.kind
    "cspnet", neck.kind "pan", one "gfl" head)."""

    def __init__(self, arch):
        super().__init__()
        self.arch = copy.deepcopy(arch)
        bb = arch["backbone"]
        sparse = bb.get("sparse")
        self.backbone = CspNet(bb, arch["input"]["channels"])
        self.neck = Pan(arch["neck"])
        self.head = GflHead(arch["heads"][0], arch["neck"]["out_channels"], bb["negative_slope"],
                            sparse, sum(stage_flags(sparse, len(bb["stages"]))))

    def forward(self, x):
        """Raw head outputs of a normalised NCHW batch, one per level."""
        return self.head(self.neck(self.backbone(x)))

    def predict(self, images):
        """Detections of a list of (3, h, w) RGB images in 0-255 units, in
        their own pixels: dicts of boxes, scores and labels."""
        results = []
        for img in images:
            x, sizes, originals, _ = transform.preprocess([img], self.arch["input"])
            outs = self(x)
            masks = [None if m is None else m[0, 0] for m in self.head.last_masks]
            boxes, scores, labels = gfl_decode(self.arch["heads"][0], [o[0] for o in outs],
                                               x.shape[2], x.shape[3], masks)
            (h, w), (rh, rw) = originals[0], sizes[0]
            boxes = box_ops.clip_boxes(transform.rescale_boxes(boxes, (rh, rw), (h, w)), (h, w))
            results.append({"boxes": boxes, "scores": scores, "labels": labels})
        return results


# COCO's 80 detection categories, in the order of the original model's
# class channels (labels 1..80 here; COCO's own category ids skip numbers).
COCO_CLASSES = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
    "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
    "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
    "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
    "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
    "toothbrush"]


def nanodet_g_arch(long_side=416):
    """NanoDet-g's architecture (nanodet-g.yml of NanoDet v0.x): input in BGR
    order with ImageNet's statistics, the long side resized to long_side
    (aspect kept) and padded to a multiple of 32; NanoDet's test settings
    (1000 locations per level before NMS, score > 0.05, IoU 0.6, 100 boxes),
    with one label per location: NanoDet's own decoding gives a location
    every class above the threshold, which puts two or three labels on one
    box (a horse also as a cow, a cat also as a dog): measured on the
    held-out photos, 1.56 false alarms per photo at score 0.3 with them,
    0.72 without (docs/results.md)."""
    return {
        "backbone": {
            "kind": "cspnet",
            "stem_width": 32,
            "kernel_size": 3,
            "stages": [{"channels": 32, "blocks": 1, "stride": 1},
                       {"channels": 64, "blocks": 2, "stride": 2},
                       {"channels": 128, "blocks": 2, "stride": 2},
                       {"channels": 256, "blocks": 3, "stride": 2}],
            "negative_slope": 0.1,
            "sparse": None,
        },
        "neck": {"kind": "pan", "in_features": ["c3", "c4", "c5"],
                 "in_channels": [128, 256, 512], "out_channels": 128},
        "heads": [{"kind": "gfl", "num_classes": 80, "in_features": ["p3", "p4", "p5"],
                   "strides": [8, 16, 32], "feat_channels": 128, "stacked_convs": 1,
                   "reg_max": 10, "center_offset": 0.5, "nms_pre": 1000,
                   "multi_label": False, "score_thresh": 0.05, "nms_thresh": 0.6,
                   "detections_per_img": 100}],
        "classes": list(COCO_CLASSES),
        "input": {"channels": 3, "channel_order": "bgr",
                  "mean": [103.53, 116.28, 123.675], "std": [57.375, 57.12, 58.395],
                  "resize": {"short_side": long_side, "max_long_side": long_side},
                  "size_divisor": 32},
    }


def sparse_settings(stages=(1, 1, 1, 1), head=(1, 1, 1), kernel="rbf", window=7, grid_stride=5,
                    temperature=1.0):
    """A cspnet backbone.sparse dict: masks on the flagged stages and head
    levels."""
    return {"kernel": kernel, "window": window, "grid_stride": grid_stride,
            "stages": list(stages), "head": list(head), "temperature": temperature}


def sparse_arch(arch, **settings):
    """arch with backbone.sparse set (a copy)."""
    out = copy.deepcopy(arch)
    out["backbone"]["sparse"] = sparse_settings(**settings)
    return out


def sparse_copy(dense, **settings):
    """A NanoDet with dense's weights and backbone.sparse set by settings
    (sparse_settings); its mask convs keep their initial weights."""
    model = NanoDet(sparse_arch(dense.arch, **settings))
    model.load_state_dict(dense.state_dict(), strict=False)
    return model


def masks_of(model):
    """The model's MaskPredictors in mask order (stages, then head levels)."""
    stages = [s.mask for s in model.backbone.stages if s.mask is not None]
    return stages + [m for m in model.head.masks if isinstance(m, MaskPredictor)]


def _conv_macs(conv, h, w):
    return conv.kernel_size[0] * conv.kernel_size[1] * conv.in_channels * conv.out_channels * h * w


def mask_costs(model, height, width):
    """(per-mask dense MACs of the convs each mask gates, MACs of everything
    else) of a height x width input, multiples of 32: the weights of the
    sparsity term over the whole network's cost."""
    per_mask, other = [], 0.0
    h, w = height // 2, width // 2
    other += _conv_macs(model.backbone.stem, h, w)
    h, w = h // 2, w // 2
    sizes = {}
    for i, st in enumerate(model.backbone.stages):
        s = st.in_conv.stride[0]
        h, w = h // s, w // s
        sizes["c%d" % (i + 2)] = (h, w)
        convs = [st.in_conv, st.out_conv] + [c for b in st.blocks for c in (b.in_conv, b.mid_conv)]
        macs = sum(_conv_macs(c, h, w) for c in convs)
        if st.mask is not None:
            per_mask.append(macs)
            other += 9.0 * st.in_conv.in_channels * h * w   # the mask conv
        else:
            other += macs
    for conv, name in zip(model.neck.lateral, model.neck.in_features):
        other += _conv_macs(conv, *sizes[name])
    for convs, out, mask, name in zip(model.head.convs, model.head.out, model.head.masks,
                                      model.head.cfg["in_features"]):
        hw = sizes["c" + name[1:]]
        macs = sum(_conv_macs(c, *hw) for c in convs) + _conv_macs(out, *hw)
        if isinstance(mask, MaskPredictor):
            per_mask.append(macs)
            other += 9.0 * convs[0].in_channels * hw[0] * hw[1]   # the mask conv
        else:
            other += macs
    return per_mask, other


def expected_cost(model, costs, from_masks=False):
    """The network's expected cost over its dense cost, from the last
    forward's mask probabilities (differentiable): sum of each mask's mean
    probability times its convs' MACs, plus everything else, over the
    dense total. costs: mask_costs(). from_masks: the masks themselves
    instead (grid included; with straight-through masks, the cost the
    forward pass ran, with the relaxation's gradient)."""
    per_mask, other = costs
    if from_masks:
        probs = [s.last_masks[0] for s in model.backbone.stages if s.mask is not None] + \
            [m for m in model.head.last_masks if m is not None]
    else:
        probs = [s.probs[0] for s in model.backbone.stages if s.mask is not None] + \
            model.head.probs
    total = sum(per_mask) + other
    return (sum(c * p.mean() for c, p in zip(per_mask, probs)) + other) / total
