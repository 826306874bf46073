"""Reference outputs of a Stipple model, for the C engine's golden tests.

    python3 -m stipple_train.golden --model M.safetensors --size HxW --seed S -o G.safetensors

Reads the model with load_model(), draws one N(0,1) input image (stored as
F32; the reference runs on exactly those values), runs the network in
float64 in eval mode, and writes a safetensors file with "input" [H, W, C]
and one tensor per output, named as the output, in HWC layout (F32; logits
as [1, 1, N]). Metadata "outputs" lists the output names in order.
"""
import argparse
import sys

import torch

from . import safetensors_io
from .export import load_model, parse_size


def _to_hwc(t):
    if t.dim() == 4:
        return t[0].permute(1, 2, 0).contiguous()
    if t.dim() == 2:
        return t[0].reshape(1, 1, -1)
    raise ValueError("unexpected output rank %d" % t.dim())


def golden(model, height, width, seed):
    """(input HWC float32 tensor, ordered dict of HWC float32 outputs)."""
    gen = torch.Generator().manual_seed(seed)
    channels = model.arch["input"]["channels"]
    image = torch.randn((height, width, channels), generator=gen, dtype=torch.float32)
    model = model.double().eval()
    with torch.no_grad():
        x = image.double().permute(2, 0, 1).unsqueeze(0).contiguous()
        outs = model(x)
    return image, {k: _to_hwc(v).float() for k, v in outs.items()}


def main(argv=None):
    p = argparse.ArgumentParser(prog="stipple_train.golden", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--size", required=True, type=parse_size, help="HxW")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True)
    args = p.parse_args(argv)

    torch.set_num_threads(2)
    image, outs = golden(load_model(args.model), *args.size, args.seed)
    tensors = dict(outs)
    tensors["input"] = image
    safetensors_io.write(args.output, tensors, {"outputs": ",".join(outs)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
