"""Reference outputs of a Stipple model, for the C engine's golden tests.

    python3 -m stipple_train.golden --model M.safetensors --size HxW --seed S -o G.safetensors
    python3 -m stipple_train.golden --model SPARSE.safetensors --size HxW --seed S \
        [--sampling deterministic|stochastic] [--sampling-seed K] \
        --calibrated-model C.safetensors -o G.safetensors

Reads the model with load_model(), draws one N(0,1) input image from --seed
(stored as F32; the reference runs on exactly those values), runs the network
in float64 in eval mode, and writes a safetensors file with "input" [H, W, C]
and one tensor per output, named as the output, in HWC layout (F32; logits
as [1, 1, N]). Metadata "outputs" lists the output names in order.

Sparse models: a mask cell whose compared value (the logit, plus the noise
keyed by --sampling-seed in stochastic mode) lies near 0 may fall on the
other side in float32, flipping the cell and changing the outputs. So the
model is first calibrated on this very input: one forward pass runs every
MaskPredictor's `calibrate` hook in network order (each sees the upstream
masks already calibrated); the hook sorts the mask's compared
values off the grid prior (grid cells are sampled whatever their value),
finds the widest gap between consecutive values in the middle half of them
(so masks stay mixed) and shifts the predictor's bias to put 0 in the middle
of that gap. The calibrated model is saved (--calibrated-model, the model the
engine must run) and reloaded, and the reference is computed from the saved
weights with the hooks off. The golden file then also holds every mask as
"mask.{i}" [h, w] (0/1, grid included, network order) and metadata
"sampling", "seed" (the sampling seed), "masks" (their count) and
"min_margin" (the smallest |compared value| off the grid over all masks in
the reference pass); a margin below MIN_MARGIN is an error, since float32
rounding could then flip a cell.

The calibration pass runs in float32: it only places thresholds mid-way
across gaps of ~1e-3 (float32 moves the compared values by ~1e-6), the
margins that count are measured in the float64 reference pass, and float64
interpolation (depthwise convolutions) is about 6x slower in torch 1.13,
which matters in `make check`. Everything runs on one thread: torch 1.13's
float64 convolutions gain little from a second one, and with another
process on the second core OpenMP's waits made goldens 10-50x slower.
"""
import argparse
import json
import math
import struct
import sys

import torch

from . import safetensors_io
from .export import load_model, parse_size, save_model
from .sparse import MaskPredictor, grid_mask, sampling_mode, sampling_settings

# Float32 logits of the engine differ from float64 ones by ~1e-6; a golden
# whose closest compared value is nearer 0 than this is refused.
MIN_MARGIN = 1e-4
# The calibrated threshold leaves between these fractions of a mask's
# off-grid cells below it.
MIDDLE = (0.25, 0.75)


def _to_hwc(t):
    if t.dim() == 4:
        return t[0].permute(1, 2, 0).contiguous()
    if t.dim() == 2:
        return t[0].reshape(1, 1, -1)
    raise ValueError("unexpected output rank %d" % t.dim())


def _input_image(channels, height, width, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((height, width, channels), generator=gen, dtype=torch.float32)


def _run(model, image):
    """model's outputs for an HWC image, in model's precision."""
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        x = image.to(dtype).permute(2, 0, 1).unsqueeze(0).contiguous()
        return model(x)


def _compared_values(predictor, logit):
    """The float64 values the sampling test compares to 0 at the off-grid
    cells of one mask (logit: (1, 1, h, w)), flattened."""
    if logit.shape[0] != 1:
        raise ValueError("calibration needs a batch of 1")
    _, _, h, w = logit.shape
    v = logit[0, 0].double()
    if sampling_settings()["mode"] == "stochastic":
        v = v + predictor.noise(h, w)[0, 0].double()
    return v[grid_mask(h, w, predictor.grid_stride) == 0]


def _center_in_widest_gap(predictor, logit):
    """The calibrate hook: moves predictor.bias so that 0 lies mid-way across
    the widest gap between consecutive compared values, among the gaps that
    leave MIDDLE of the off-grid cells unsampled."""
    v, _ = torch.sort(_compared_values(predictor, logit))
    n = v.numel()
    if n == 0:
        return
    if n == 1:
        threshold = v[0] - 1.0
    else:
        # Gap i lies between v[i] and v[i + 1]: i + 1 cells below it.
        lo = min(int(math.floor(MIDDLE[0] * (n - 1))), n - 2)
        hi = max(int(math.ceil(MIDDLE[1] * (n - 1))), lo + 1)
        gaps = v[lo + 1:hi + 1] - v[lo:hi]
        i = lo + int(torch.argmax(gaps))
        threshold = (v[i] + v[i + 1]) / 2
    predictor.bias.sub_(threshold.to(predictor.bias.dtype))


def calibrate(model, image, sampling, seed):
    """Moves every mask bias of model (eval mode) for image, in place."""
    predictors = [m for m in model.modules() if isinstance(m, MaskPredictor)]
    for p in predictors:
        p.calibrate = _center_in_widest_gap
    try:
        with sampling_mode(sampling, seed):
            _run(model, image)
    finally:
        for p in predictors:
            p.calibrate = None


def golden(model, height, width, seed, sampling="deterministic", sampling_seed=0):
    """(input HWC float32 tensor, ordered dict of HWC float32 outputs, list
    of the [h, w] float32 masks in network order, smallest margin or None)
    of model in float64 on the input drawn from seed."""
    image = _input_image(model.arch["input"]["channels"], height, width, seed)
    model = model.double().eval()
    predictors = [m for m in model.modules() if isinstance(m, MaskPredictor)]
    masks, margins = {}, []

    def record(predictor, inputs, output):
        v = _compared_values(predictor, predictor.logits(inputs[0]))
        if v.numel():
            margins.append(float(v.abs().min()))
        masks[predictor.index] = output[0][0, 0].float()

    hooks = [p.register_forward_hook(record) for p in predictors]
    try:
        with sampling_mode(sampling, sampling_seed):
            outs = _run(model, image)
    finally:
        for h in hooks:
            h.remove()
    if sorted(masks) != list(range(len(predictors))):
        raise RuntimeError("mask indices %s are not 0..%d" % (sorted(masks), len(predictors) - 1))
    ordered = [masks[i] for i in range(len(predictors))]
    margin = min(margins) if margins else None
    return image, {k: _to_hwc(v).float() for k, v in outs.items()}, ordered, margin


def _file_dtype(path):
    """The dtype of the tensors of a model file ("F32" or "F16")."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
    dtypes = {v["dtype"] for k, v in header.items() if k != "__metadata__"}
    return "F16" if dtypes == {"F16"} else "F32"


def main(argv=None):
    p = argparse.ArgumentParser(prog="stipple_train.golden", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--size", required=True, type=parse_size, help="HxW")
    p.add_argument("--seed", type=int, default=0, help="seed of the input image")
    p.add_argument("--sampling", choices=["deterministic", "stochastic"],
                   help="sparse models: the inference sampling mode (default deterministic)")
    p.add_argument("--sampling-seed", type=int,
                   help="sparse models: the seed of the stochastic noise (default 0)")
    p.add_argument("--calibrated-model",
                   help="sparse models (required): write the model calibrated on the input here")
    p.add_argument("-o", "--output", required=True)
    args = p.parse_args(argv)

    torch.set_num_threads(1)
    model = load_model(args.model)
    sparse = model.arch["backbone"].get("sparse") is not None
    if not sparse:
        if args.sampling or args.sampling_seed is not None or args.calibrated_model:
            p.error("--sampling, --sampling-seed and --calibrated-model need a sparse model")
        image, outs, _, _ = golden(model, *args.size, args.seed)
        tensors = dict(outs)
        tensors["input"] = image
        safetensors_io.write(args.output, tensors, {"outputs": ",".join(outs)})
        return 0

    if not args.calibrated_model:
        p.error("a sparse model needs --calibrated-model")
    if args.sampling_seed is not None and args.sampling_seed < 0:
        p.error("--sampling-seed must be >= 0")
    sampling = args.sampling or "deterministic"
    sampling_seed = args.sampling_seed or 0
    image = _input_image(model.arch["input"]["channels"], *args.size, args.seed)
    calibrate(model.float().eval(), image, sampling, sampling_seed)
    save_model(model, args.calibrated_model, _file_dtype(args.model))
    image, outs, masks, margin = golden(load_model(args.calibrated_model), *args.size,
                                        args.seed, sampling, sampling_seed)
    if margin is not None and margin < MIN_MARGIN:
        raise RuntimeError("%s: calibrated masks leave a compared value %.3g from 0 (< %g)"
                           % (args.model, margin, MIN_MARGIN))
    tensors = dict(outs)
    tensors["input"] = image
    for i, m in enumerate(masks):
        tensors["mask.%d" % i] = m
    densities = [float(m.mean()) for m in masks] or [math.nan]
    safetensors_io.write(args.output, tensors, {
        "outputs": ",".join(outs),
        "sampling": sampling,
        "seed": str(sampling_seed),
        "masks": str(len(masks)),
        "min_margin": "%.6g" % margin if margin is not None else "inf",
    })
    print("%s %dx%d %s seed %d: %d masks, density %.2f..%.2f, min margin %.3g"
          % (args.calibrated_model, args.size[0], args.size[1], sampling, sampling_seed,
             len(masks), min(densities), max(densities),
             margin if margin is not None else math.inf))
    return 0


if __name__ == "__main__":
    sys.exit(main())
