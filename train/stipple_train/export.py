"""Writing StippleNet models as Stipple model files (proto/model-format.md).

    python3 -m stipple_train.export --arch resnet50-fpn --random-init --seed 1 \
        -o model.safetensors [--dtype f32|f16] [--onnx model.onnx --onnx-size 224x224]
        [--sparse-variant a|b|c] [--sparse-kernel rbf|learned|avgpool]
        [--grid-stride N] [--window K]      (the last four: sparse-* archs only)
    python3 -m stipple_train.export --arch resnet50-fpn-detseg --random-init --num-classes 20 -o m.stp
    python3 -m stipple_train.export --checkpoint RUN/checkpoint.pt -o m.stp [--dtype f16]

--checkpoint writes a model trained by train.py: the checkpoint's
architecture (class names, sizes, input rule) and weights, with the mean mask
temperature reached stored in backbone.sparse.temperature.

--random-init makes a model whose outputs exercise every part of an engine:
Kaiming-normal convolutions, BN affine parameters drawn away from (1, 0)
(smaller gammas closing the residual branches, see RESIDUAL_GAMMA_SCALE), BN
running statistics calibrated on N(0,1) inputs (cumulative average over a few
train-mode passes) and then perturbed, so that eval-mode activations stay O(1)
through the whole network and no output is all zero. Task heads (--arch
...-det, -seg, -detseg; --num-classes foreground classes) are drawn like the
neck (weights N(0, 1/fan-in), biases N(0, 0.1)), so proposals, scores and
labels vary. The same seed gives the same file. load_model() reads any
Stipple file back into a StippleNet.
"""
import argparse
import copy
import json
import sys

import torch
from torch import nn

from . import safetensors_io
from .model import (ARCH_NAMES, DEFAULT_NUM_CLASSES, TASK_ARCH_NAMES, StippleNet, arch_for,
                    build_model)
from .resnet import BasicBlock, Bottleneck
from .sparse import Interpolation, MaskPredictor, SparseBlock, sampling_mode

CALIBRATION_PASSES = 2
CALIBRATION_SHAPE = (2, 128, 128)  # batch, height, width
# Scales gamma of the last BN of every residual branch. Deep random ResNets
# with full-size branches are chaotic: float32 rounding grows ~3x per stage,
# and PyTorch's own float32 output of ResNet-101 missed float64 by 3e-4.
# With 0.2 the error stays near 1e-5 up to ResNet-152.
RESIDUAL_GAMMA_SCALE = 0.2


def state_tensors(model):
    """The tensors the model format stores, by name (no num_batches_tracked)."""
    return {k: v for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def metadata_for(arch):
    return {"format": "stipple", "format_version": "1",
            "architecture": json.dumps(arch)}


def save_model(model, path, dtype="F32"):
    safetensors_io.write(path, state_tensors(model), metadata_for(model.arch), dtype)


def load_model(path):
    """The model (StippleNet or NanoDet) in eval mode with the weights of the
    Stipple file at path."""
    tensors, meta, _ = safetensors_io.read(path)
    if meta.get("format") != "stipple" or meta.get("format_version") != "1":
        raise ValueError("%s: not a version 1 Stipple model" % path)
    model = build_model(json.loads(meta["architecture"]))
    expected = state_tensors(model)
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ValueError("%s: missing tensors %s, unexpected tensors %s" % (path, missing, extra))
    with torch.no_grad():
        for name, t in expected.items():
            src = torch.from_numpy(tensors[name].copy())
            if tuple(src.shape) != tuple(t.shape):
                raise ValueError("%s: tensor %s has shape %s, expected %s"
                                 % (path, name, list(src.shape), list(t.shape)))
            t.copy_(src)
    return model.eval()


def _init_weights(model, gen):
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
            fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
            # Backbone convs feed a BatchNorm (He fan-out, as torchvision);
            # neck convs do not, so they keep the variance (1 / fan-in).
            std = (2.0 / fan_out) ** 0.5 if name.startswith("backbone.") else fan_in ** -0.5
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * std)
            if m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
        elif isinstance(m, nn.Linear):
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * m.in_features ** -0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
    for m in model.modules():
        if isinstance(m, BasicBlock):
            m.bn2.weight.mul_(RESIDUAL_GAMMA_SCALE)
        elif isinstance(m, Bottleneck):
            m.bn3.weight.mul_(RESIDUAL_GAMMA_SCALE)
        elif isinstance(m, SparseBlock):
            getattr(m, "bn%d" % m.nconvs).weight.mul_(RESIDUAL_GAMMA_SCALE)
        elif isinstance(m, MaskPredictor):
            fan_in = m.weight[0].numel()
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * fan_in ** -0.5)
        elif isinstance(m, Interpolation) and m.kind == "rbf":
            m.a.copy_(torch.rand(1, generator=gen) + 2.5)
        elif isinstance(m, Interpolation) and m.kind == "learned":
            m.kernel.copy_(torch.rand(m.kernel.shape, generator=gen) * 0.1 + 0.01)


def _calibrate_bn(model, gen):
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the passes
    model.train()
    channels = model.arch["input"]["channels"]
    n, h, w = CALIBRATION_SHAPE
    for _ in range(CALIBRATION_PASSES):
        model(torch.randn((n, channels, h, w), generator=gen))
    for bn in bns:
        bn.momentum = 0.1
        bn.num_batches_tracked.zero_()
    model.eval()


def _center_masks(model, gen):
    """Sets each mask bias so that about half of the cells of a random input
    sample (logits spread around 0: masks are mixed), in network order."""
    def center(predictor, logit):
        median = logit.flatten().median()
        predictor.bias.sub_(median - torch.randn(1, generator=gen)[0] * 0.2)

    predictors = [m for m in model.modules() if isinstance(m, MaskPredictor)]
    if not predictors:
        return
    for p in predictors:
        p.calibrate = center
    n, h, w = CALIBRATION_SHAPE
    with sampling_mode("deterministic"):
        model(torch.randn((1, model.arch["input"]["channels"], h, w), generator=gen))
    for p in predictors:
        p.calibrate = None


def _perturb_bn(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            std = m.running_var.sqrt()
            m.running_mean.add_(torch.randn(m.running_mean.shape, generator=gen) * 0.05 * std)
            m.running_var.mul_(torch.rand(m.running_var.shape, generator=gen) * 0.45 + 0.8)


def random_model(arch, seed):
    """A StippleNet with deterministic random weights and calibrated BN stats.

    The BN affine parameters are drawn before calibration (gamma ~ U(0.5, 1.5),
    times RESIDUAL_GAMMA_SCALE at the end of a residual branch; beta ~
    N(0, 0.1)) so the calibrated statistics describe the activations
    the model really produces; the statistics are then perturbed (mean by
    N(0, 0.05) standard deviations, variance by U(0.8, 1.25)) so that folding
    BN is not an identity map."""
    gen = torch.Generator().manual_seed(seed)
    # Mask predictors start from their paper init (p ~ 0.95) and get random
    # weights and centred biases below, so random models have mixed masks.
    torch.manual_seed(seed)
    model = StippleNet(arch)
    with torch.no_grad():
        _init_weights(model, gen)
        _calibrate_bn(model, gen)
        _perturb_bn(model, gen)
        _center_masks(model, gen)
    return model


def model_from_checkpoint(path):
    """The StippleNet of a train.py checkpoint, in eval mode; a sparse
    backbone's "temperature" is the mean temperature its masks reached."""
    state = torch.load(path, map_location="cpu")
    arch = copy.deepcopy(state["arch"])
    if arch["backbone"].get("sparse") and state["temperatures"]:
        arch["backbone"]["sparse"]["temperature"] = float(sum(state["temperatures"]) /
                                                          len(state["temperatures"]))
    model = StippleNet(arch)
    model.load_state_dict(state["model"])
    return model.eval()


class TupleOutputs(nn.Module):
    """Returns the outputs as a tuple, in order (a StippleNet's named
    outputs, or a NanoDet's per-level head outputs), for torch.onnx.export
    and torch.jit.trace."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        return tuple(out.values()) if isinstance(out, dict) else tuple(out)


def export_onnx(model, path, height, width):
    model.eval()
    x = torch.randn(1, model.arch["input"]["channels"], height, width)
    with torch.no_grad():
        out = model(x)
        names = list(out.keys()) if isinstance(out, dict) else \
            ["level%d" % i for i in range(len(out))]
        torch.onnx.export(TupleOutputs(model), x, path, opset_version=13,
                          input_names=["input"], output_names=names)


def parse_size(text):
    """(height, width) of an "HxW" argument."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError("size must be HxW, not %r" % text)
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError("size must be positive: %r" % text)
    return h, w


def _sparse_overrides(parser, args):
    """The backbone.sparse settings the command line changes (validated)."""
    given = {"variant": args.sparse_variant, "kernel": args.sparse_kernel,
             "grid_stride": args.grid_stride, "window": args.window}
    given = {k: v for k, v in given.items() if v is not None}
    if given and not args.arch.startswith("sparse-"):
        parser.error("--sparse-variant, --sparse-kernel, --grid-stride and --window "
                     "need a sparse-* architecture")
    if not 1 <= given.get("grid_stride", 1) <= 64:
        parser.error("--grid-stride must be in 1..64")
    window = given.get("window", 1)
    if not (1 <= window <= 15 and window % 2 == 1):
        parser.error("--window must be odd, in 1..15")
    if given.get("variant") == "c" and arch_for(args.arch)["backbone"]["block"] != "bottleneck":
        parser.error("--sparse-variant c needs bottleneck blocks")
    return given


def main(argv=None):
    p = argparse.ArgumentParser(prog="stipple_train.export", description=__doc__.split("\n")[0])
    p.add_argument("--arch", choices=ARCH_NAMES + TASK_ARCH_NAMES,
                   help="the architecture of --random-init")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--random-init", action="store_true",
                        help="random weights with calibrated BN statistics")
    source.add_argument("--checkpoint",
                        help="a training checkpoint (train.py): its architecture and weights, "
                             "with the temperature reached")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True, help="the model file to write")
    p.add_argument("--dtype", choices=["f32", "f16"], default="f32")
    p.add_argument("--onnx", help="also write an ONNX model (opset 13) here")
    p.add_argument("--onnx-size", type=parse_size, default=(224, 224), help="HxW of the ONNX input")
    p.add_argument("--sparse-variant", choices=["a", "b", "c"],
                   help="masks per block: one (a), two (b, the default) or one per conv (c)")
    p.add_argument("--sparse-kernel", choices=["rbf", "learned", "avgpool"],
                   help="the interpolation kernel (default rbf)")
    p.add_argument("--grid-stride", type=int, help="the grid prior's stride (default 11)")
    p.add_argument("--window", type=int, help="the interpolation window, odd (default 7)")
    p.add_argument("--num-classes", type=int,
                   help="foreground classes of the task heads (-det/-seg/-detseg archs; "
                        "default %d)" % DEFAULT_NUM_CLASSES)
    args = p.parse_args(argv)
    if args.checkpoint:
        if args.arch or args.num_classes is not None or args.onnx:
            p.error("--checkpoint carries its architecture: no --arch, --num-classes or --onnx")
        save_model(model_from_checkpoint(args.checkpoint), args.output, args.dtype.upper())
        return 0
    if not args.arch:
        p.error("--random-init needs --arch")
    overrides = _sparse_overrides(p, args)
    if args.num_classes is not None:
        if args.arch not in TASK_ARCH_NAMES:
            p.error("--num-classes needs a -det, -seg or -detseg architecture")
        if not 1 <= args.num_classes <= 10000:
            p.error("--num-classes must be in 1..10000")

    torch.set_num_threads(2)
    arch = arch_for(args.arch, args.num_classes or DEFAULT_NUM_CLASSES)
    if overrides:
        arch["backbone"]["sparse"].update(overrides)
    model = random_model(arch, args.seed)
    save_model(model, args.output, args.dtype.upper())
    if args.onnx:
        export_onnx(model, args.onnx, *args.onnx_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
