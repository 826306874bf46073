"""Feature pyramid network with torchvision's FeaturePyramidNetwork names.

inner_blocks.{i}.0 is the 1x1 lateral conv of level i (c2..c5), and
layer_blocks.{i}.0 the 3x3 output conv (padding 1); both have biases. Top-down:
the coarsest lateral is the start, each finer level adds the nearest-neighbour
upsampling of the coarser merged map, resized to the lateral's exact size.
extra_block "maxpool" appends p6 = max_pool2d(p5, kernel 1, stride 2), as
torchvision's LastLevelMaxPool.
"""
from collections import OrderedDict

import torch.nn.functional as F
from torch import nn


class FPN(nn.Module):
    """neck: the "neck" dict of the architecture."""

    def __init__(self, neck):
        super().__init__()
        cout = neck["out_channels"]
        self.inner_blocks = nn.ModuleList()
        self.layer_blocks = nn.ModuleList()
        for cin in neck["in_channels"]:
            self.inner_blocks.append(nn.Sequential(nn.Conv2d(cin, cout, 1)))
            self.layer_blocks.append(nn.Sequential(nn.Conv2d(cout, cout, 3, padding=1)))
        self.extra_maxpool = neck["extra_block"] == "maxpool"

    def forward(self, feats):
        xs = list(feats.values())
        n = len(xs)
        merged = self.inner_blocks[n - 1](xs[n - 1])
        outs = [self.layer_blocks[n - 1](merged)]
        for i in range(n - 2, -1, -1):
            lateral = self.inner_blocks[i](xs[i])
            top_down = F.interpolate(merged, size=lateral.shape[-2:], mode="nearest")
            merged = lateral + top_down
            outs.insert(0, self.layer_blocks[i](merged))
        result = OrderedDict(("p%d" % (i + 2), o) for i, o in enumerate(outs))
        if self.extra_maxpool:
            result["p%d" % (n + 2)] = F.max_pool2d(outs[-1], 1, 2, 0)
        return result
