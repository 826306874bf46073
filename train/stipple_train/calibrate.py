"""Writes a sparse model's budget calibration: how densely each of its
masks samples, with the trained threshold, on held-out images.

    python -m stipple_train.calibrate MODEL DATASET_DIR [--images N]

Runs the model's backbone (PyTorch, deterministic masks, the model's own
preprocessing) on the first N images of a
dataset split (stipple_train.dataset; use val, never test), averages each
mask's sampled fraction and stores the list in the model file as
`backbone.sparse.calibration` (proto/model-format.md). The engine's budget
mode then shares a budget between masks in these proportions instead of
giving every mask the same density (docs/sparse.md, "Budget policy"). Only
the header changes; the weights are copied as they are.
"""
import argparse
import sys

import numpy as np
import torch

from .export import load_model
from .set_input import _edit_architecture
from .sparse import mask_densities, sampling_mode
from .train import Dataset
from .transform import preprocess


@torch.no_grad()
def measure(model, data, count):
    """Each mask's mean sampled fraction over the first count images."""
    rows = []
    with sampling_mode("deterministic"):
        for i in range(min(count, len(data))):
            image, _ = data.load(i)
            model.backbone(preprocess([image], model.arch["input"])[0])
            rows.append(mask_densities(model))
    if not rows:
        raise ValueError("no images to calibrate on")
    return [float(v) for v in np.mean(np.asarray(rows, dtype=np.float64), axis=0)]


def calibrate(path, data_dir, count=100):
    """Measures the model at path on data_dir and writes the calibration."""
    model = load_model(path)
    if not model.arch["backbone"].get("sparse"):
        raise ValueError("%s: a dense model has no masks to calibrate" % path)
    densities = measure(model, Dataset(data_dir), count)

    def change(arch):
        arch["backbone"]["sparse"]["calibration"] = densities
    _edit_architecture(path, change)
    return densities


def main(argv=None):
    p = argparse.ArgumentParser(prog="stipple_train.calibrate", description=__doc__.split("\n")[0])
    p.add_argument("model", help="a sparse model file; rewritten in place")
    p.add_argument("data", help="a dataset split (held-out images: val)")
    p.add_argument("--images", type=int, default=100)
    a = p.parse_args(argv)
    if a.images < 1:
        p.error("--images must be at least 1")
    torch.set_num_threads(2)
    d = calibrate(a.model, a.data, a.images)
    print("%d masks, mean density %.3f (min %.3f, max %.3f)"
          % (len(d), float(np.mean(d)), min(d), max(d)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
