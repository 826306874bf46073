"""Writes one split of the synthetic dataset (docs/dataset.md).

    PYTHONPATH=train python3 -m stipple_train.dataset --out DIR \\
        --split train|val|test --seed S [--count N] [--jobs J]

Design: the command line only; writer.py writes the split (its docstring
lists the files), and the output depends on (seed, split, count) alone.
"""
import argparse
import sys

from .assets import SPLITS, AssetsMissing
from .writer import build

DEFAULT_COUNT = {"train": 6000, "val": 500, "test": 500}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m stipple_train.dataset",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--split", required=True, choices=SPLITS)
    ap.add_argument("--seed", type=int, default=0, help="non-negative integer (default 0)")
    ap.add_argument("--count", type=int, default=None,
                    help="number of images (default: train 6000, val 500, test 500)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (same output for any value)")
    args = ap.parse_args(argv)
    count = DEFAULT_COUNT[args.split] if args.count is None else args.count
    if count < 0 or args.seed < 0 or args.jobs < 1:
        ap.error("--count and --seed must be >= 0, --jobs >= 1")
    try:
        build(args.out, args.split, args.seed, count, args.jobs)
    except AssetsMissing as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
