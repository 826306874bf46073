"""Training losses of the task heads, as torchvision 0.14 computes them.

RPN (RegionProposalNetwork.compute_loss): anchors matched to the targets by
IoU (Matcher 0.7 / 0.3 with low-quality matches: every target's best anchors,
ties included, stay positive); 256 anchors sampled per image, at most half
positive (torch.randperm); objectness: binary cross-entropy with logits, mean
over the sampled anchors; boxes: smooth L1 (beta 1/9), summed over the
sampled positives and divided by the number of sampled anchors, targets
encoded with weights (1, 1, 1, 1).

Box branch (RoIHeads, fastrcnn_loss): the targets are appended to the
proposals (2000 per image in training, from the RPN with pre/post NMS top-n
2000), matched at IoU 0.5 (>= 0.5 foreground, else background); 512 sampled
per image, at most a quarter foreground; classification: cross-entropy;
boxes: smooth L1 (beta 1/9, as torchvision 0.14, not 1.0) on the deltas of
the target class, summed over the foreground and divided by the number of
sampled proposals, targets encoded with weights (10, 10, 5, 5).

Semantic head (not in torchvision): the logits bilinearly upsampled to the
padded input, cross-entropy with ignore index 255; the target masks are
resized with nearest neighbours like the image and padded with 255.

The random draws happen in torchvision's order (RPN sampler, then the box
sampler, per image positives then negatives), so with the same seed and
inputs the losses equal torchvision's. BatchNorm: torchvision trains
detectors with frozen BatchNorm; freeze_batchnorm() does the same here.
"""
import torch
import torch.nn.functional as F
from torch import nn

from . import box_ops
from .transform import preprocess

TRAIN_DEFAULTS = {
    "rpn_pre_nms_top_n": 2000, "rpn_post_nms_top_n": 2000,
    "rpn_fg_iou_thresh": 0.7, "rpn_bg_iou_thresh": 0.3,
    "rpn_batch_size_per_image": 256, "rpn_positive_fraction": 0.5,
    "box_fg_iou_thresh": 0.5, "box_bg_iou_thresh": 0.5,
    "box_batch_size_per_image": 512, "box_positive_fraction": 0.25,
    "ignore_index": 255,
}

BELOW_LOW_THRESHOLD = -1
BETWEEN_THRESHOLDS = -2


def match(quality, high, low, allow_low_quality):
    """torchvision's Matcher: quality (M targets, N elements) -> (N,) target
    index, or -1 (below low) / -2 (between)."""
    if quality.numel() == 0:
        raise ValueError("matching needs targets and elements")
    vals, matches = quality.max(dim=0)
    all_matches = matches.clone()
    matches[vals < low] = BELOW_LOW_THRESHOLD
    matches[(vals >= low) & (vals < high)] = BETWEEN_THRESHOLDS
    if allow_low_quality:
        best = quality.max(dim=1)[0]
        upd = torch.where(quality == best[:, None])[1]
        matches[upd] = all_matches[upd]
    return matches


def sample(labels, batch_size, positive_fraction):
    """torchvision's BalancedPositiveNegativeSampler for one image: boolean
    masks of the sampled positives (labels >= 1) and negatives (== 0)."""
    positive = torch.where(labels >= 1)[0]
    negative = torch.where(labels == 0)[0]
    num_pos = min(positive.numel(), int(batch_size * positive_fraction))
    num_neg = min(negative.numel(), batch_size - num_pos)
    pos = positive[torch.randperm(positive.numel())[:num_pos]]
    neg = negative[torch.randperm(negative.numel())[:num_neg]]
    pos_mask = torch.zeros_like(labels, dtype=torch.bool)
    neg_mask = torch.zeros_like(labels, dtype=torch.bool)
    pos_mask[pos] = True
    neg_mask[neg] = True
    return pos_mask, neg_mask


def rpn_loss(rpn, extras, targets, cfg):
    """(objectness loss, box loss) from the RPN's extras (rpn.RPN.forward)."""
    anchors = extras["anchors"]
    labels, reg_targets, pos, neg = [], [], [], []
    for t in targets:
        gt = t["boxes"]
        if gt.numel() == 0:
            lab = torch.zeros(anchors.shape[0])
            tgt = torch.zeros_like(anchors)
        else:
            m = match(box_ops.box_iou(gt, anchors), cfg["rpn_fg_iou_thresh"],
                      cfg["rpn_bg_iou_thresh"], True)
            lab = (m >= 0).to(torch.float32)
            lab[m == BELOW_LOW_THRESHOLD] = 0.0
            lab[m == BETWEEN_THRESHOLDS] = -1.0
            tgt = rpn.box_coder.encode(gt[m.clamp(min=0)], anchors)
        labels.append(lab)
        reg_targets.append(tgt)
    for lab in labels:
        p, n = sample(lab, cfg["rpn_batch_size_per_image"], cfg["rpn_positive_fraction"])
        pos.append(p)
        neg.append(n)
    pos = torch.where(torch.cat(pos))[0]
    neg = torch.where(torch.cat(neg))[0]
    sampled = torch.cat([pos, neg])
    obj = extras["objectness"].flatten()
    deltas = extras["deltas"].reshape(-1, 4)
    labels, reg_targets = torch.cat(labels), torch.cat(reg_targets)
    box = F.smooth_l1_loss(deltas[pos], reg_targets[pos], beta=1 / 9,
                           reduction="sum") / sampled.numel()
    objectness = F.binary_cross_entropy_with_logits(obj[sampled], labels[sampled])
    return objectness, box


def select_training_samples(roi_heads, proposals, targets, cfg):
    """Sampled proposals, their labels and regression targets, per image."""
    out_props, out_labels, out_targets = [], [], []
    props_all = [torch.cat((p, t["boxes"].to(p.dtype))) for p, t in zip(proposals, targets)]
    labels_all, matched_all = [], []
    for props, t in zip(props_all, targets):
        gt = t["boxes"]
        if gt.numel() == 0:
            matched = torch.zeros(props.shape[0], dtype=torch.int64)
            labels = torch.zeros(props.shape[0], dtype=torch.int64)
        else:
            m = match(box_ops.box_iou(gt, props), cfg["box_fg_iou_thresh"],
                      cfg["box_bg_iou_thresh"], False)
            matched = m.clamp(min=0)
            labels = t["labels"][matched].to(torch.int64)
            labels[m == BELOW_LOW_THRESHOLD] = 0
            labels[m == BETWEEN_THRESHOLDS] = -1
        labels_all.append(labels)
        matched_all.append(matched)
    for props, labels, matched, t in zip(props_all, labels_all, matched_all, targets):
        p, n = sample(labels, cfg["box_batch_size_per_image"], cfg["box_positive_fraction"])
        idx = torch.where(p | n)[0]
        gt = t["boxes"] if t["boxes"].numel() else torch.zeros((1, 4))
        out_props.append(props[idx])
        out_labels.append(labels[idx])
        out_targets.append(roi_heads.box_coder.encode(gt[matched[idx]].to(props.dtype), props[idx]))
    return out_props, out_labels, out_targets


def fastrcnn_loss(class_logits, box_regression, labels, regression_targets):
    labels = torch.cat(labels)
    regression_targets = torch.cat(regression_targets)
    classification = F.cross_entropy(class_logits, labels)
    pos = torch.where(labels > 0)[0]
    n = class_logits.shape[0]
    box_regression = box_regression.reshape(n, box_regression.size(-1) // 4, 4)
    box = F.smooth_l1_loss(box_regression[pos, labels[pos]], regression_targets[pos],
                           beta=1 / 9, reduction="sum") / labels.numel()
    return classification, box


def semantic_loss(logits, masks, sizes, padded, ignore_index=255):
    """logits (N, K + 1, H/4, W/4); masks: (h, w) int64 per image at the
    original size; sizes: the resized sizes."""
    target = torch.full((len(masks),) + tuple(padded), ignore_index, dtype=torch.int64)
    for i, (m, s) in enumerate(zip(masks, sizes)):
        r = F.interpolate(m[None, None].to(torch.float32), size=s, mode="nearest")[0, 0]
        target[i, :s[0], :s[1]] = r.to(torch.int64)
    up = F.interpolate(logits, size=tuple(padded), mode="bilinear", align_corners=False)
    return F.cross_entropy(up, target, ignore_index=ignore_index)


def freeze_batchnorm(model):
    """BatchNorm as torchvision's FrozenBatchNorm2d: eval mode, no gradients.
    Call after model.train()."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)
    return model


def feature_distillation(student, teacher):
    """The mean over FPN levels of ||student - teacher||^2 / ||teacher||^2:
    how far, relatively, the student's features are from the teacher's."""
    terms = [((s - t) ** 2).sum() / (t ** 2).sum().clamp_min(1e-12)
             for s, t in zip(student.values(), teacher.values())]
    return sum(terms) / len(terms)


def training_losses(model, images, targets, cfg=None, teacher=None):
    """The losses of one batch: images as for predict(); targets: one dict per
    image with "boxes" (T, 4) in original pixels and "labels" (T,) int64
    (1..K) for a faster_rcnn head, "semantic" (h, w) int64 for a
    semantic_fpn head. Returns torchvision's loss names (plus
    loss_semantic, and loss_distill when a teacher network is given: its
    features on the same batch, without gradients, through
    feature_distillation, unweighted)."""
    cfg = dict(TRAIN_DEFAULTS, **(cfg or {}))
    batch, sizes, _, targets = preprocess(images, model.arch["input"], targets)
    feats = model(batch)
    losses = {}
    if teacher is not None:
        with torch.no_grad():
            taught = teacher(batch)
        losses["loss_distill"] = feature_distillation(feats, taught)
    if model.rpn is not None:
        proposals, _, extras = model.rpn(feats, tuple(batch.shape[-2:]), sizes,
                                         cfg["rpn_pre_nms_top_n"], cfg["rpn_post_nms_top_n"])
        losses["loss_objectness"], losses["loss_rpn_box_reg"] = rpn_loss(model.rpn, extras, targets, cfg)
        props, labels, reg = select_training_samples(model.roi_heads, proposals, targets, cfg)
        logits, deltas = model.roi_heads.predict(feats, props)
        losses["loss_classifier"], losses["loss_box_reg"] = fastrcnn_loss(logits, deltas, labels, reg)
    if model.seg_head is not None:
        losses["loss_semantic"] = semantic_loss(model.seg_head(feats), [t["semantic"] for t in targets],
                                                sizes, tuple(batch.shape[-2:]), cfg["ignore_index"])
    return losses
