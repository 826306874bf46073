"""Rewrites the input resize rule (or the class names) of a model file in
place.

    python -m stipple_train.set_input MODEL [--short-side 160 [--max-long-side 266]]
        [--classes NAME,NAME,...]

Only the header's architecture JSON changes (the tensor data is copied as
is); the header is padded to a multiple of 8 bytes like the exporter's.
Benchmarks and tests use it to serve a model at small input sizes.
"""
import argparse
import json
import struct


def _edit_architecture(path, change):
    """Applies change(arch) to the architecture stored in the file at path."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    arch = json.loads(header["__metadata__"]["architecture"])
    change(arch)
    header["__metadata__"]["architecture"] = json.dumps(arch)
    new = json.dumps(header).encode()
    new += b" " * ((8 - len(new) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(new)) + new + data[8 + n:])


def set_resize(path, short_side, max_long_side=None):
    def change(arch):
        arch["input"]["resize"] = {"short_side": short_side,
                                   "max_long_side": max_long_side or short_side * 5 // 3}
    _edit_architecture(path, change)


def set_classes(path, names):
    """The names of labels 1..N (N = the heads' num_classes)."""
    def change(arch):
        arch["classes"] = list(names)
    _edit_architecture(path, change)


def main(argv=None):
    p = argparse.ArgumentParser(prog="stipple_train.set_input", description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--short-side", type=int)
    p.add_argument("--max-long-side", type=int)
    p.add_argument("--classes", help="comma-separated names of labels 1..N")
    a = p.parse_args(argv)
    if a.short_side is None and (a.max_long_side is not None or a.classes is None):
        p.error("give --short-side, --classes or both")
    if a.short_side is not None:
        set_resize(a.model, a.short_side, a.max_long_side)
    if a.classes is not None:
        set_classes(a.model, a.classes.split(","))


if __name__ == "__main__":
    main()
