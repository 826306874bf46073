"""ResNet backbones with torchvision's module and tensor names.

The network is built from the "backbone" part of the architecture dict of
proto/model-format.md, so every depth (18..152) and any stage widths come from
one code path. Stride 2 sits on the 3x3 convolution of the first block of
stages 2-4, as in torchvision. Blocks that backbone["sparse"] marks are
sparse.SparseBlock (masks numbered in network order, as the engine does);
variant "a" keeps strided bottleneck blocks dense, as the engine does. forward() returns an ordered dict: c2..c5 for a
feature extractor, or "logits" when num_classes > 0.
"""
from collections import OrderedDict

import torch
from torch import nn

from .sparse import SparseBlock


def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def conv1x1(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride, downsample, eps):
        super().__init__()
        self.conv1 = conv3x3(cin, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes, eps=eps)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes, eps=eps)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride, downsample, eps):
        super().__init__()
        self.conv1 = conv1x1(cin, planes)
        self.bn1 = nn.BatchNorm2d(planes, eps=eps)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes, eps=eps)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion, eps=eps)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    """backbone: the "backbone" dict; in_channels: the input's channels."""

    def __init__(self, backbone, in_channels=3):
        super().__init__()
        block = BLOCKS[backbone["block"]]
        eps = float(backbone["bn_eps"])
        stem = backbone["stem_width"]
        self.out_channels = [w * block.expansion for w in backbone["widths"]]
        self.conv1 = nn.Conv2d(in_channels, stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem, eps=eps)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = stem
        self.nmasks = 0
        for s, (planes, count) in enumerate(zip(backbone["widths"], backbone["layers"])):
            stride = 1 if s == 0 else 2
            stage, cin = self._make_stage(block, cin, planes, count, stride, eps,
                                          backbone.get("sparse"), s)
            setattr(self, "layer%d" % (s + 1), stage)
        self.num_classes = backbone["num_classes"]
        if self.num_classes > 0:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, self.num_classes)

    def _make_stage(self, block, cin, planes, count, stride, eps, sparse, stage):
        cout = planes * block.expansion
        blocks = []
        for i in range(count):
            s = stride if i == 0 else 1
            downsample = None
            if s != 1 or cin != cout:
                downsample = nn.Sequential(conv1x1(cin, cout, s), nn.BatchNorm2d(cout, eps=eps))
            bottleneck = block is Bottleneck
            if (sparse and sparse["blocks"][stage][i]
                    and not (sparse["variant"] == "a" and bottleneck and s != 1)):
                b = SparseBlock(bottleneck, cin, planes, s, downsample, eps, sparse, self.nmasks)
                self.nmasks += b.nmasks
            else:
                b = block(cin, planes, s, downsample, eps)
            blocks.append(b)
            cin = cout
        return nn.Sequential(*blocks), cout

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        feats = OrderedDict()
        for s in range(4):
            x = getattr(self, "layer%d" % (s + 1))(x)
            feats["c%d" % (s + 2)] = x
        if self.num_classes > 0:
            logits = self.fc(torch.flatten(self.avgpool(x), 1))
            return OrderedDict(logits=logits)
        return feats
