#!/usr/bin/env python3
"""What sharing the backbone's masks with the neck and the heads would cost
in accuracy before any retraining (issue "masks on any conv", item 2).

    PYTHONPATH=train /usr/bin/python3 bench/probe-shared-masks.py MODEL DATASET_DIR \\
        [--gate fpn,rpn,seg] [--images 100]

Runs a sparse ResNet FPN detector + segmenter in PyTorch with its trained
masks (deterministic) and, for the convs named by --gate, computes each
level's output only at the cells of the mask of the backbone stage at that
resolution (the last mask of the stage's last block: P2 takes layer1's,
..., P5 layer4's; P6 stays dense) and fills the others with that block's
interpolation module, as the engine's gated convs would:
  fpn  the FPN's 3x3 output convs,
  rpn  the RPN's shared 3x3 conv on each level,
  seg  the semantic head's 3x3 convs (after their ReLU).
Prints box AP, AP50 and mIoU (train.validate) on the first --images images.
The modules' forwards are replaced on this model instance only.
"""
import argparse
import types
from collections import OrderedDict

import torch
import torch.nn.functional as F

from stipple_train import segmentation, train
from stipple_train.export import load_model


def share_stage_masks(model, gate):
    """Gates model's convs named in gate by the stages' last masks."""
    stages = [getattr(model.backbone, "layer%d" % i) for i in range(1, 5)]
    lasts = [stage[-1] for stage in stages]
    masks = {}
    for level, block in enumerate(lasts):
        predictor = getattr(block, "mask%d" % block.nmasks)
        predictor.register_forward_hook(
            lambda mod, inp, out, level=level: masks.__setitem__(level, out[0]))
    interps = [getattr(block, "interp%d" % block.nmasks) for block in lasts]

    def gated(t, level, part):
        return interps[level](t, masks[level]) if part in gate and level < 4 else t

    def fpn_forward(self, feats):
        xs = list(feats.values())
        n = len(xs)
        merged = self.inner_blocks[n - 1](xs[n - 1])
        outs = [gated(self.layer_blocks[n - 1](merged), n - 1, "fpn")]
        for i in range(n - 2, -1, -1):
            lateral = self.inner_blocks[i](xs[i])
            merged = lateral + F.interpolate(merged, size=lateral.shape[-2:], mode="nearest")
            outs.insert(0, gated(self.layer_blocks[i](merged), i, "fpn"))
        result = OrderedDict(("p%d" % (i + 2), o) for i, o in enumerate(outs))
        if self.extra_maxpool:
            result["p%d" % (n + 2)] = F.max_pool2d(outs[-1], 1, 2, 0)
        return result

    def rpn_forward(self, feats):
        logits, deltas = [], []
        for level, x in enumerate(feats):
            t = gated(self.conv(x), level, "rpn")
            logits.append(self.cls_logits(t))
            deltas.append(self.bbox_pred(t))
        return logits, deltas

    def seg_forward(self, feats):
        ys = [gated(F.relu(conv(feats[k])), level, "seg")
              for level, (conv, k) in enumerate(zip(self.convs, self.in_features))]
        a = ys[-1]
        for y in reversed(ys[:-1]):
            a = segmentation.up(a, y.shape[-2:]) + y
        return self.classifier(a)

    model.neck.forward = types.MethodType(fpn_forward, model.neck)
    model.rpn.head.forward = types.MethodType(rpn_forward, model.rpn.head)
    model.seg_head.forward = types.MethodType(seg_forward, model.seg_head)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("dataset")
    p.add_argument("--gate", default="", help="comma-separated: fpn, rpn, seg (none: as trained)")
    p.add_argument("--images", type=int, default=100)
    args = p.parse_args()
    torch.set_num_threads(2)
    gate = {g for g in args.gate.split(",") if g}
    if gate - {"fpn", "rpn", "seg"}:
        p.error("--gate takes fpn, rpn and seg")
    model = load_model(args.model).float().eval()
    share_stage_masks(model, gate)
    print(sorted(gate), train.validate(model, train.Dataset(args.dataset), args.images))


if __name__ == "__main__":
    main()
