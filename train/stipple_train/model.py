"""StippleNet: a backbone, an optional neck and optional task heads, built
from an architecture dict.

The architecture dict is the one of proto/model-format.md; arch_for() gives it
for the --arch names of the exporter. Parameter names are "backbone.*" and
"neck.*", as the model file stores them, and torchvision's FasterRCNN names
"rpn.*" and "roi_heads.*" plus "seg_head.*" for the heads. forward() takes an
already normalised NCHW batch and returns the ordered outputs (c2..c5,
logits, or p2..p6) named as the C engine names them; predict() runs the task
heads on raw images (detection.py).

Task architectures append "-det" (Faster R-CNN), "-seg" (semantic FPN) or
"-detseg" (both, on one backbone) to an FPN name: "resnet50-fpn-det",
"sparse-resnet50-fpn-detseg".
"""
import copy

from torch import nn

from . import detection
from .fpn import FPN
from .nanodet import NanoDet
from .resnet import ResNet
from .sparse import sparse_settings

RESNET_LAYERS = {
    18: ("basic", [2, 2, 2, 2]),
    34: ("basic", [3, 4, 6, 3]),
    50: ("bottleneck", [3, 4, 6, 3]),
    101: ("bottleneck", [3, 4, 23, 3]),
    152: ("bottleneck", [3, 8, 36, 3]),
}

DENSE_ARCH_NAMES = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                    "resnet18-fpn", "resnet50-fpn", "resnet101-fpn"]
# "sparse-" + a dense name: every block sparse, docs/method.md's COCO settings.
ARCH_NAMES = DENSE_ARCH_NAMES + ["sparse-" + n for n in DENSE_ARCH_NAMES]

# FPN names + a task suffix: the heads each suffix adds.
TASK_HEADS = {"det": ["faster_rcnn"], "seg": ["semantic_fpn"],
              "detseg": ["faster_rcnn", "semantic_fpn"]}
TASK_ARCH_NAMES = ["%s-%s" % (n, t) for n in ARCH_NAMES if n.endswith("-fpn") for t in TASK_HEADS]
DEFAULT_NUM_CLASSES = 80  # foreground classes (COCO); background is class 0

EXPANSION = {"basic": 1, "bottleneck": 4}


def arch_for(name, num_classes=DEFAULT_NUM_CLASSES):
    """The architecture dict for an --arch name such as "resnet50-fpn" or
    "resnet50-fpn-det" (num_classes: foreground classes of the heads)."""
    base, _, task = name.rpartition("-")
    if name in TASK_ARCH_NAMES:
        arch = arch_for(base)
        for kind in TASK_HEADS[task]:
            arch["heads"].append(detection.faster_rcnn_config(num_classes) if kind == "faster_rcnn"
                                 else detection.semantic_fpn_config(num_classes))
        return arch
    if name not in ARCH_NAMES:
        raise ValueError("unknown architecture %r (one of %s)"
                         % (name, ", ".join(ARCH_NAMES + TASK_ARCH_NAMES)))
    sparse = name.startswith("sparse-")
    if sparse:
        name = name[len("sparse-"):]
    base, _, neck = name.partition("-")
    depth = int(base[len("resnet"):])
    block, layers = RESNET_LAYERS[depth]
    widths = [64, 128, 256, 512]
    arch = {
        "backbone": {
            "kind": "resnet",
            "depth": depth,
            "block": block,
            "layers": list(layers),
            "stem_width": 64,
            "widths": widths,
            "bn_eps": 1e-05,
            "num_classes": 0,
            "sparse": sparse_settings(layers=layers) if sparse else None,
        },
        "neck": None,
        "heads": [],
        "classes": [],
        "input": {
            "channels": 3,
            "mean": [123.675, 116.28, 103.53],
            "std": [58.395, 57.12, 57.375],
            "resize": {"short_side": 800, "max_long_side": 1333},
            "size_divisor": 32,
        },
    }
    if neck == "fpn":
        arch["neck"] = {
            "kind": "fpn",
            "in_channels": [w * EXPANSION[block] for w in widths],
            "out_channels": 256,
            "extra_block": "maxpool",
        }
    return arch


def output_names(arch):
    """The output names, in order, as the C engine reports them."""
    if arch["neck"] is not None:
        n = ["p2", "p3", "p4", "p5"]
        return n + ["p6"] if arch["neck"]["extra_block"] == "maxpool" else n
    if arch["backbone"]["num_classes"] > 0:
        return ["logits"]
    return ["c2", "c3", "c4", "c5"]


class StippleNet(nn.Module):
    def __init__(self, arch):
        super().__init__()
        self.arch = copy.deepcopy(arch)
        self.backbone = ResNet(arch["backbone"], arch["input"]["channels"])
        self.neck = None
        if arch["neck"] is not None:
            if arch["backbone"]["num_classes"] > 0:
                raise ValueError("an FPN neck needs num_classes 0")
            self.neck = FPN(arch["neck"])
        self.rpn = self.roi_heads = self.seg_head = None
        if arch["heads"]:
            detection.check_heads(arch, output_names(arch))
            self.rpn, self.roi_heads, self.seg_head = detection.build_heads(
                arch, arch["neck"]["out_channels"])

    def forward(self, x):
        out = self.backbone(x)
        if self.neck is not None:
            out = self.neck(out)
        return out

    def predict(self, images, max_proposals=None):
        """Task outputs of a list of (C, h, w) images in 0-255 units
        (detection.predict)."""
        return detection.predict(self, images, max_proposals)


def build_model(arch):
    """The module of an architecture dict: a NanoDet for a "cspnet"
    backbone (nanodet.py), else a StippleNet."""
    if arch["backbone"]["kind"] == "cspnet":
        return NanoDet(arch)
    return StippleNet(arch)
