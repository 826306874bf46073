"""The synthetic detection + segmentation dataset generator (docs/dataset.md).

    python3 -m stipple_train.dataset --out DIR --split train|val|test --seed S
    python3 -m stipple_train.dataset.stats DIR [--markdown]
    python3 -m stipple_train.dataset.assets --prepare | --list

Design: one module per step, each usable alone: assets.py finds and
prepares the real material (photos, MNIST digits, Noto emoji) and says
which split may use what; compose.py makes one image and its labels from
(seed, split, index); rle.py encodes masks as COCO RLE; writer.py writes a
split's files; stats.py summarizes its annotations; __main__.py is the
command line. Nothing is imported here, so `from .dataset.assets import
assets_dir` costs only that module.
"""
