#!/usr/bin/python3
"""Writes the seed corpus of the model-file fuzzer (tests/fuzz/corpus/).

    /usr/bin/python3 tests/fuzz/make-corpus.py [outdir]

The seeds are tiny Stipple model files (proto/model-format.md) that the
engine loads: a basic-block ResNet with layers [1, 1, 1, 1] and width 2 (in
F32, F16 and BF16), a bottleneck ResNet with an FPN neck, the same with
both task heads; plus a few
malformed files, each broken in one way the loader must reject. Only numpy
is used, and the output is byte-for-byte deterministic.
"""
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def arch(block, stem, widths, fpn_out=None, sparse=None):
    expansion = 4 if block == "bottleneck" else 1
    layers = [1, 1, 1, 1]
    depth = 2 + (3 if block == "bottleneck" else 2) * sum(layers)
    neck = None
    if fpn_out is not None:
        neck = {"kind": "fpn", "in_channels": [w * expansion for w in widths],
                "out_channels": fpn_out, "extra_block": "maxpool"}
    return {
        "backbone": {"kind": "resnet", "depth": depth, "block": block, "layers": layers,
                     "stem_width": stem, "widths": widths, "bn_eps": 1e-05,
                     "num_classes": 0, "sparse": sparse},
        "neck": neck,
        "heads": [],
        "classes": [],
        "input": {"channels": 3, "mean": [123.675, 116.28, 103.53],
                  "std": [58.395, 57.12, 57.375],
                  "resize": {"short_side": 64, "max_long_side": 96}, "size_divisor": 32},
    }


def with_heads(a, classes=2):
    """a (with an FPN neck) plus tiny Faster R-CNN and semantic FPN heads."""
    a = dict(a, classes=["c%d" % i for i in range(1, classes + 1)])
    levels = ["p2", "p3", "p4", "p5", "p6"]
    a["heads"] = [
        {"kind": "faster_rcnn", "num_classes": classes,
         "rpn": {"in_features": levels, "anchor_sizes": [[8], [16], [32], [64], [128]],
                 "aspect_ratios": [0.5, 1.0, 2.0], "pre_nms_top_n": 50, "post_nms_top_n": 20,
                 "nms_thresh": 0.7, "score_thresh": 0.0, "min_size": 0.001,
                 "box_weights": [1.0, 1.0, 1.0, 1.0]},
         "roi": {"in_features": levels[:4], "output_size": 2, "sampling_ratio": 2,
                 "aligned": False, "canonical_scale": 224, "canonical_level": 4, "eps": 1e-06},
         "box": {"representation_size": 4, "box_weights": [10.0, 10.0, 5.0, 5.0],
                 "score_thresh": 0.05, "nms_thresh": 0.5, "detections_per_img": 10,
                 "min_size": 0.01},
         "bbox_xform_clip": 4.135166556742356},
        {"kind": "semantic_fpn", "num_classes": classes, "in_features": levels[:4],
         "channels": 2},
    ]
    return a


def head_shapes(a):
    """(name, shape) of the heads' tensors (proto/model-format.md)."""
    if not a["heads"]:
        return []
    c = a["neck"]["out_channels"]
    out = []
    for h in a["heads"]:
        k = h["num_classes"] + 1
        if h["kind"] == "faster_rcnn":
            na = len(h["rpn"]["anchor_sizes"][0]) * len(h["rpn"]["aspect_ratios"])
            p, r = h["roi"]["output_size"], h["box"]["representation_size"]
            out += [("rpn.head.conv.0.0.weight", [c, c, 3, 3]), ("rpn.head.conv.0.0.bias", [c]),
                    ("rpn.head.cls_logits.weight", [na, c, 1, 1]), ("rpn.head.cls_logits.bias", [na]),
                    ("rpn.head.bbox_pred.weight", [4 * na, c, 1, 1]),
                    ("rpn.head.bbox_pred.bias", [4 * na]),
                    ("roi_heads.box_head.fc6.weight", [r, c * p * p]),
                    ("roi_heads.box_head.fc6.bias", [r]),
                    ("roi_heads.box_head.fc7.weight", [r, r]), ("roi_heads.box_head.fc7.bias", [r]),
                    ("roi_heads.box_predictor.cls_score.weight", [k, r]),
                    ("roi_heads.box_predictor.cls_score.bias", [k]),
                    ("roi_heads.box_predictor.bbox_pred.weight", [4 * k, r]),
                    ("roi_heads.box_predictor.bbox_pred.bias", [4 * k])]
        else:
            w = h["channels"]
            for i in range(len(h["in_features"])):
                out += [("seg_head.convs.%d.weight" % i, [w, c, 3, 3]),
                        ("seg_head.convs.%d.bias" % i, [w])]
            out += [("seg_head.classifier.weight", [k, w, 1, 1]),
                    ("seg_head.classifier.bias", [k])]
    return out


def shapes(a):
    """(name, shape) of every tensor the architecture needs, in network order."""
    bb = a["backbone"]
    bottleneck = bb["block"] == "bottleneck"
    expansion = 4 if bottleneck else 1
    out = []

    def bn(prefix, c):
        out.extend((prefix + "." + leaf, [c])
                   for leaf in ("weight", "bias", "running_mean", "running_var"))

    out.append(("backbone.conv1.weight", [bb["stem_width"], a["input"]["channels"], 7, 7]))
    bn("backbone.bn1", bb["stem_width"])
    cin = bb["stem_width"]
    for s in range(4):
        planes = bb["widths"][s]
        cout = planes * expansion
        for b in range(bb["layers"][s]):
            p = "backbone.layer%d.%d" % (s + 1, b)
            stride = 2 if (s > 0 and b == 0) else 1
            if bottleneck:
                convs = [[planes, cin, 1, 1], [planes, planes, 3, 3], [cout, planes, 1, 1]]
            else:
                convs = [[planes, cin, 3, 3], [planes, planes, 3, 3]]
            for i, shape in enumerate(convs):
                out.append(("%s.conv%d.weight" % (p, i + 1), shape))
                bn("%s.bn%d" % (p, i + 1), shape[0])
            if stride != 1 or cin != cout:
                out.append((p + ".downsample.0.weight", [cout, cin, 1, 1]))
                bn(p + ".downsample.1", cout)
            cin = cout
    if a["neck"] is not None:
        oc = a["neck"]["out_channels"]
        for i, c in enumerate(a["neck"]["in_channels"]):
            out.append(("neck.inner_blocks.%d.0.weight" % i, [oc, c, 1, 1]))
            out.append(("neck.inner_blocks.%d.0.bias" % i, [oc]))
        for i in range(4):
            out.append(("neck.layer_blocks.%d.0.weight" % i, [oc, oc, 3, 3]))
            out.append(("neck.layer_blocks.%d.0.bias" % i, [oc]))
    return out + head_shapes(a)


def weights(a, seed):
    rng = np.random.RandomState(seed)
    tensors = []
    for name, shape in shapes(a):
        if name.endswith("running_var"):
            v = rng.uniform(0.5, 1.5, shape)
        elif name.endswith(".weight") and len(shape) == 1:
            v = rng.uniform(0.5, 1.5, shape)
        else:
            v = rng.normal(0.0, 0.5, shape)
        tensors.append((name, v.astype(np.float32)))
    return tensors


def encode(tensors, meta, dtype="F32"):
    """Safetensors bytes; tensors back to back in list order."""
    header, blobs, offset = {}, [], 0
    for name, arr in tensors:
        if dtype == "BF16":
            bits = np.ascontiguousarray(arr, dtype="<f4").view("<u4")
            data = (bits >> 16).astype("<u2").tobytes()
        else:
            data = np.ascontiguousarray(arr, dtype="<f4" if dtype == "F32" else "<f2").tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if meta is not None:
        header["__metadata__"] = meta
    return header_bytes(header) + b"".join(blobs)


def header_bytes(header):
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def meta_for(a):
    return {"format": "stipple", "format_version": "1", "architecture": json.dumps(a)}


def split(blob):
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def rewrite(blob, edit):
    """The file with its header passed through edit(header)."""
    header, data = split(blob)
    edit(header)
    return header_bytes(header) + data


def main(argv):
    outdir = argv[1] if len(argv) > 1 else os.path.join(HERE, "corpus")
    os.makedirs(outdir, exist_ok=True)
    basic = arch("basic", 2, [2, 2, 2, 2])
    fpn = arch("bottleneck", 2, [1, 1, 1, 1], fpn_out=2)
    basic_w = weights(basic, 1)
    fpn_w = weights(fpn, 2)
    detseg = with_heads(fpn)
    good = encode(basic_w, meta_for(basic))

    files = {
        "tiny-basic.safetensors": good,
        "tiny-basic-f16.safetensors": encode(basic_w, meta_for(basic), "F16"),
        "tiny-basic-bf16.safetensors": encode(basic_w, meta_for(basic), "BF16"),
        "tiny-bottleneck-fpn.safetensors": encode(fpn_w, meta_for(fpn)),
        "tiny-fpn-detseg.safetensors": encode(weights(detseg, 3), meta_for(detseg)),
        "bad-truncated.safetensors": good[:len(good) - 100],
        "bad-header-past-end.safetensors": struct.pack("<Q", len(good)) + good[8:],
        "bad-json.safetensors": header_bytes({}).replace(b"{}", b"{[")[:16],
        "bad-nan.safetensors": encode([(n, np.full_like(v, np.nan) if i == 3 else v)
                                       for i, (n, v) in enumerate(basic_w)], meta_for(basic)),
        "bad-sparse-arch.safetensors": encode(basic_w, meta_for(arch(
            "basic", 2, [2, 2, 2, 2], sparse={"kernel": "rbf", "window": 3, "grid_stride": 4,
                                              "variant": "b", "blocks": [[1], [1], [1], [1]],
                                              "temperature": 0.03}))),
        "bad-missing-tensor.safetensors": encode(basic_w[1:], meta_for(basic)),
    }

    def overlap(header):
        header["backbone.bn1.bias"]["data_offsets"] = header["backbone.bn1.weight"]["data_offsets"]

    def unknown_dtype(header):
        header["backbone.bn1.bias"]["dtype"] = "I64"

    files["bad-overlap.safetensors"] = rewrite(good, overlap)
    files["bad-dtype.safetensors"] = rewrite(good, unknown_dtype)
    for name, blob in sorted(files.items()):
        assert len(blob) < 64 * 1024, name
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(blob)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
