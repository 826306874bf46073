"""Rewrites the input resize rule of a model file in place.

    python -m stipple_train.set_input MODEL --short-side 160 [--max-long-side 266]

Only the header's architecture JSON changes (the tensor data is copied as
is); the header is padded to a multiple of 8 bytes like the exporter's.
Benchmarks and tests use it to serve a model at small input sizes.
"""
import argparse
import json
import struct


def set_resize(path, short_side, max_long_side=None):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    arch = json.loads(header["__metadata__"]["architecture"])
    arch["input"]["resize"] = {"short_side": short_side,
                               "max_long_side": max_long_side or short_side * 5 // 3}
    header["__metadata__"]["architecture"] = json.dumps(arch)
    new = json.dumps(header).encode()
    new += b" " * ((8 - len(new) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(new)) + new + data[8 + n:])


def main(argv=None):
    p = argparse.ArgumentParser(prog="stipple_train.set_input", description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--short-side", type=int, required=True)
    p.add_argument("--max-long-side", type=int)
    a = p.parse_args(argv)
    set_resize(a.model, a.short_side, a.max_long_side)


if __name__ == "__main__":
    main()
