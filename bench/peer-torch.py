"""peer-torch.py - PyTorch (oneDNN) timing of a Stipple model, for bench/run-bench.sh.

    PYTHONPATH=train python3 bench/peer-torch.py MODEL --size HxW --threads N \
        --runs R [--warmup W] [--mode frozen|eager]
    PYTHONPATH=train python3 bench/peer-torch.py MODEL --size HxW --export-onnx FILE

Loads the Stipple file with stipple_train.export.load_model, so PyTorch runs
the very weights Stipple runs; eval mode, torch.no_grad,
torch.set_num_threads(N), a fixed N(0,1) input of 1 x C x H x W, W untimed
warm-up passes, then R timed passes with time.perf_counter. Two modes:

  frozen (default)  torch.jit.trace + torch.jit.freeze +
                    torch.jit.optimize_for_inference: BN folded into the
                    convs, weights prepacked, every conv run by oneDNN
                    (two untimed runs after freezing let TorchScript's
                    profiling executor settle, before the warm-up).
  eager             the module as is, model and input in channels_last.

Why frozen is the default: Debian's torch 1.13 sends a 1x1 stride-1 conv at
batch 1 on one thread to its im2col + BLAS path, and its BLAS is the netlib
reference one, so eager ResNet-50 on 1 thread is about 15x slower than
oneDNN; frozen is PyTorch's own inference recipe and keeps every conv on
oneDNN. Prints one JSON object on one line: min/median/mean ms, and this
process's peak RSS in MiB (getrusage), which includes the Python interpreter
and torch itself.

--export-onnx writes the loaded model as ONNX (opset 13, fixed input size
HxW) for the ONNX Runtime peer, and times nothing.
"""
import argparse
import json
import resource
import statistics
import sys
import time

import torch


from stipple_train.export import TupleOutputs, export_onnx, load_model


def parse_size(text):
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError("size must be HxW, not %r" % text)
    if not (1 <= h <= 16384 and 1 <= w <= 16384):
        raise argparse.ArgumentTypeError("size out of range: %r" % text)
    return h, w


def positive(text):
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError("must be >= 1: %r" % text)
    return v


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--size", type=parse_size, required=True)
    p.add_argument("--threads", type=positive, default=1)
    p.add_argument("--runs", type=positive, default=10)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--mode", choices=["frozen", "eager"], default="frozen")
    p.add_argument("--export-onnx", metavar="FILE")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    model = load_model(a.model)
    h, w = a.size
    if a.export_onnx:
        export_onnx(model, a.export_onnx, h, w)
        return 0

    channels = model.arch["input"]["channels"]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((1, channels, h, w), generator=gen)
    times = []
    with torch.no_grad():
        if a.mode == "frozen":
            traced = torch.jit.trace(TupleOutputs(model).eval(), x)
            model = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
            for _ in range(2):  # TorchScript's profiling runs, before the warm-up
                model(x)
        else:
            x = x.contiguous(memory_format=torch.channels_last)
            model = model.to(memory_format=torch.channels_last)
        for _ in range(a.warmup):
            model(x)
        for _ in range(a.runs):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1e3)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({
        "runtime": "pytorch",
        "version": torch.__version__,
        "mode": a.mode,
        "onednn": torch.backends.mkldnn.is_available(),
        "model": a.model,
        "size": [h, w],
        "threads": torch.get_num_threads(),
        "runs": a.runs,
        "warmup": a.warmup,
        "min_ms": round(min(times), 4),
        "median_ms": round(statistics.median(times), 4),
        "mean_ms": round(statistics.fmean(times), 4),
        "peak_rss_mb": round(rss_mb, 4),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
