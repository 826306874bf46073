"""The reference modules, the safetensors code, the exporter and the golden
generator, checked against torchvision's naming, hand-written references and
proto/model-format.md."""
import json
import struct

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stipple_train import export, golden, safetensors_io
from stipple_train.fpn import FPN
from stipple_train.model import ARCH_NAMES, StippleNet, arch_for, output_names
from stipple_train.resnet import BasicBlock, ResNet

BN = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


@pytest.fixture(scope="module")
def r18_file(tmp_path_factory):
    """A resnet18 model file exported by the CLI with seed 1."""
    path = tmp_path_factory.mktemp("r18") / "r18.safetensors"
    export.main(["--arch", "resnet18", "--random-init", "--seed", "1", "-o", str(path)])
    return path


@pytest.fixture(scope="module")
def r18_fpn():
    return export.random_model(arch_for("resnet18-fpn"), 3)


def torchvision_keys(block, layers):
    """torchvision's resnet state_dict keys, written out from its definition."""
    keys = ["conv1.weight"] + ["bn1." + k for k in BN]
    nconv = 2 if block == "basic" else 3
    for s, count in enumerate(layers):
        for b in range(count):
            pre = "layer%d.%d." % (s + 1, b)
            for c in range(1, nconv + 1):
                keys.append(pre + "conv%d.weight" % c)
                keys += [pre + "bn%d.%s" % (c, k) for k in BN]
            if b == 0 and (s > 0 or block == "bottleneck"):
                keys.append(pre + "downsample.0.weight")
                keys += [pre + "downsample.1." + k for k in BN]
    return keys + ["fc.weight", "fc.bias"]


def classifier(name, num_classes=1000):
    arch = arch_for(name)
    arch["backbone"]["num_classes"] = num_classes
    return arch


@pytest.mark.parametrize("name,block,layers,params", [
    ("resnet18", "basic", [2, 2, 2, 2], 11689512),
    ("resnet50", "bottleneck", [3, 4, 6, 3], 25557032),
])
def test_resnet_names_and_sizes(name, block, layers, params):
    net = ResNet(classifier(name)["backbone"])
    assert list(net.state_dict().keys()) == torchvision_keys(block, layers)
    assert sum(p.numel() for p in net.parameters()) == params


def test_resnet50_shapes_and_strides():
    sd = ResNet(arch_for("resnet50")["backbone"]).state_dict()
    assert sd["layer1.0.downsample.0.weight"].shape == (256, 64, 1, 1)
    assert sd["layer2.0.conv2.weight"].shape == (128, 128, 3, 3)
    assert sd["layer4.2.conv3.weight"].shape == (2048, 512, 1, 1)
    net = ResNet(arch_for("resnet50")["backbone"])
    assert net.layer2[0].conv2.stride == (2, 2) and net.layer2[0].conv1.stride == (1, 1)
    assert net.layer2[0].downsample[0].stride == (2, 2)
    r18 = ResNet(arch_for("resnet18")["backbone"])
    assert r18.layer3[0].conv1.stride == (2, 2) and r18.layer1[0].downsample is None


def test_feature_shapes_odd_size():
    net = StippleNet(arch_for("resnet18")).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 97, 131))
    assert list(out) == ["c2", "c3", "c4", "c5"]
    assert [tuple(v.shape[2:]) for v in out.values()] == [(25, 33), (13, 17), (7, 9), (4, 5)]
    assert [v.shape[1] for v in out.values()] == [64, 128, 256, 512]


def test_matches_torchvision():
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    for name, ctor in [("resnet18", tv.models.resnet18), ("resnet50", tv.models.resnet50)]:
        theirs = ctor(weights=None).eval()
        ours = ResNet(classifier(name)["backbone"]).eval()
        assert list(ours.state_dict().keys()) == list(theirs.state_dict().keys())
        ours.load_state_dict(theirs.state_dict())
        x = torch.randn(1, 3, 96, 80)
        with torch.no_grad():
            assert torch.allclose(ours(x)["logits"], theirs(x), rtol=1e-4, atol=1e-5)


def nearest(x, size):
    """Nearest-neighbour resize by explicit source indices floor(dst * in / out)."""
    h, w = x.shape[-2:]
    ys = [(i * h) // size[0] for i in range(size[0])]
    xs = [(j * w) // size[1] for j in range(size[1])]
    return x[:, :, ys][:, :, :, xs]


def fpn_reference(fpn, feats):
    sd = {k: v for k, v in fpn.state_dict().items()}
    lat = [F.conv2d(f, sd["inner_blocks.%d.0.weight" % i], sd["inner_blocks.%d.0.bias" % i])
           for i, f in enumerate(feats)]
    merged = [None] * 4
    merged[3] = lat[3]
    for i in (2, 1, 0):
        merged[i] = lat[i] + nearest(merged[i + 1], lat[i].shape[-2:])
    outs = [F.conv2d(m, sd["layer_blocks.%d.0.weight" % i], sd["layer_blocks.%d.0.bias" % i],
                     padding=1) for i, m in enumerate(merged)]
    return outs + [outs[3][:, :, ::2, ::2]]


@pytest.mark.parametrize("size", [(64, 64), (101, 77), (160, 128)])
def test_fpn_matches_reference(size, r18_fpn):
    net = r18_fpn
    torch.manual_seed(1)
    with torch.no_grad():
        x = torch.randn(1, 3, *size)
        feats = net.backbone(x)
        got = net.neck(feats)
        want = fpn_reference(net.neck, list(feats.values()))
    assert list(got) == ["p2", "p3", "p4", "p5", "p6"]
    for g, w in zip(got.values(), want):
        assert g.shape == w.shape
        assert torch.allclose(g, w, rtol=1e-5, atol=1e-5)


def test_fpn_names():
    fpn = FPN(arch_for("resnet50-fpn")["neck"])
    sd = fpn.state_dict()
    assert sorted(sd) == sorted("%s.%d.0.%s" % (b, i, p) for b in ("inner_blocks", "layer_blocks")
                                for i in range(4) for p in ("weight", "bias"))
    assert sd["inner_blocks.3.0.weight"].shape == (256, 2048, 1, 1)
    assert sd["layer_blocks.0.0.weight"].shape == (256, 256, 3, 3)


@pytest.mark.parametrize("dtype,np_dtype", [("F32", np.float32), ("F16", np.float16)])
def test_safetensors_round_trip(tmp_path, dtype, np_dtype):
    rng = np.random.default_rng(0)
    tensors = {"b.w": rng.standard_normal((3, 4, 5)).astype(np.float32),
               "a": torch.randn(7),
               "scalar": np.array(2.5, dtype=np.float32),
               "empty": np.zeros((0, 3), dtype=np.float32)}
    path = tmp_path / "t.safetensors"
    safetensors_io.write(path, tensors, {"k": "v"}, dtype)
    got, meta, header = safetensors_io.read(path)
    assert meta == {"k": "v"}
    assert set(got) == set(tensors)
    for name, t in tensors.items():
        want = np.asarray(t.numpy() if hasattr(t, "numpy") else t).astype(np_dtype).astype(np.float32)
        assert got[name].dtype == np.float32 and got[name].shape == want.shape
        assert np.array_equal(got[name], want)
        assert header[name]["dtype"] == dtype

    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    text = raw[8:8 + n].decode()
    assert n % 8 == 0 and text == text.rstrip() + " " * (len(text) - len(text.rstrip()))
    assert list(json.loads(text)) == sorted(json.loads(text))
    spans = sorted(v["data_offsets"] for k, v in header.items() if k != "__metadata__")
    assert spans[0][0] == 0 and spans[-1][1] == len(raw) - 8 - n
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))


def test_safetensors_reads_bf16():
    values = np.array([1.0, -2.5, 3.140625], dtype=np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    header = json.dumps({"x": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}).encode()
    got, _, _ = safetensors_io.decode(struct.pack("<Q", len(header)) + header + bf16)
    assert np.array_equal(got["x"], values)


def test_safetensors_rejects_nonfinite(tmp_path):
    with pytest.raises(ValueError):
        safetensors_io.write(tmp_path / "x", {"x": np.array([np.nan], dtype=np.float32)})


def test_export_deterministic(tmp_path, r18_file):
    again = tmp_path / "again.safetensors"
    export.main(["--arch", "resnet18", "--random-init", "--seed", "1", "-o", str(again)])
    assert again.read_bytes() == r18_file.read_bytes()
    other = export.state_tensors(export.random_model(arch_for("resnet18"), 2))
    first, _, _ = safetensors_io.read(r18_file)
    assert not np.array_equal(first["backbone.conv1.weight"], other["backbone.conv1.weight"].numpy())


def test_bn_statistics_nontrivial(r18_file):
    net = export.load_model(r18_file)
    closing = {id(b.bn2) for b in net.modules() if isinstance(b, BasicBlock)}
    for bn in (m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        assert bn.running_mean.abs().max() > 1e-3
        assert (bn.running_var - 1).abs().max() > 1e-2
        lo, hi = (0.5, 1.5) if id(bn) not in closing else (0.1, 0.3)
        assert lo <= bn.weight.min() and bn.weight.max() <= hi
        assert bn.weight.std() > 0.1 * hi / 1.5
        assert bn.bias.abs().max() > 0
    with torch.no_grad():
        out = net(torch.randn(1, 3, 128, 96))
    for name, v in out.items():
        assert torch.isfinite(v).all()
        assert (v != 0).float().mean() > 0.3, name
        assert 0.2 < v.std() < 10, name


def expected_tensors(arch):
    """Names and shapes the model format lists for arch, written from the spec."""
    bb = arch["backbone"]
    exp = 1 if bb["block"] == "basic" else 4
    cin = arch["input"]["channels"]
    stem = bb["stem_width"]
    shapes = {"backbone.conv1.weight": [stem, cin, 7, 7]}

    def bn(prefix, c):
        for k in ("weight", "bias", "running_mean", "running_var"):
            shapes[prefix + "." + k] = [c]

    bn("backbone.bn1", stem)
    c = stem
    for s in range(4):
        w = bb["widths"][s]
        for b in range(bb["layers"][s]):
            p = "backbone.layer%d.%d." % (s + 1, b)
            if bb["block"] == "basic":
                convs = [[w, c, 3, 3], [w, w, 3, 3]]
            else:
                convs = [[w, c, 1, 1], [w, w, 3, 3], [w * exp, w, 1, 1]]
            for i, shape in enumerate(convs):
                shapes[p + "conv%d.weight" % (i + 1)] = shape
                bn(p + "bn%d" % (i + 1), shape[0])
            if b == 0 and (s > 0 or c != w * exp):
                shapes[p + "downsample.0.weight"] = [w * exp, c, 1, 1]
                bn(p + "downsample.1", w * exp)
            c = w * exp
    if arch["neck"] is not None:
        out = arch["neck"]["out_channels"]
        for i, ci in enumerate(arch["neck"]["in_channels"]):
            shapes["neck.inner_blocks.%d.0.weight" % i] = [out, ci, 1, 1]
            shapes["neck.inner_blocks.%d.0.bias" % i] = [out]
            shapes["neck.layer_blocks.%d.0.weight" % i] = [out, out, 3, 3]
            shapes["neck.layer_blocks.%d.0.bias" % i] = [out]
    return shapes


@pytest.mark.parametrize("name,dtype,cli", [("resnet18-fpn", "f32", True), ("resnet18", "f16", True),
                                            ("resnet50-fpn", "f32", False)])
def test_exported_file_follows_format(tmp_path, name, dtype, cli):
    """Files from the CLI (random init) and, to keep the test fast, a
    bottleneck model saved without BN calibration."""
    path = tmp_path / "m.safetensors"
    if cli:
        export.main(["--arch", name, "--random-init", "--seed", "1", "--dtype", dtype,
                     "-o", str(path)])
    else:
        export.save_model(StippleNet(arch_for(name)), path, dtype.upper())
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__")
    assert set(meta) == {"format", "format_version", "architecture"}
    assert meta["format"] == "stipple" and meta["format_version"] == "1"
    arch = json.loads(meta["architecture"])
    assert arch == arch_for(name)
    assert set(arch) == {"backbone", "neck", "heads", "classes", "input"}
    assert set(arch["backbone"]) == {"kind", "depth", "block", "layers", "stem_width", "widths",
                                     "bn_eps", "num_classes", "sparse"}
    assert set(arch["input"]) == {"channels", "mean", "std", "resize", "size_divisor"}
    assert set(arch["input"]["resize"]) == {"short_side", "max_long_side"}
    bb = arch["backbone"]
    assert bb["depth"] == 2 + (2 if bb["block"] == "basic" else 3) * sum(bb["layers"])
    if arch["neck"] is not None:
        assert set(arch["neck"]) == {"kind", "in_channels", "out_channels", "extra_block"}
    want = expected_tensors(arch)
    assert {k: v["shape"] for k, v in header.items()} == want
    assert all(v["dtype"] == dtype.upper() for v in header.values())
    size = 2 if dtype == "f16" else 4
    spans = sorted(v["data_offsets"] for v in header.values())
    assert spans[0][0] == 0 and spans[-1][1] == len(raw) - 8 - n
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    for v in header.values():
        assert v["data_offsets"][1] - v["data_offsets"][0] == size * int(np.prod(v["shape"]))


def test_load_model_round_trip(tmp_path, r18_fpn):
    path = tmp_path / "m.safetensors"
    net = r18_fpn
    export.save_model(net, path)
    back = export.load_model(path)
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        a, b = net.eval()(x), back(x)
    assert list(a) == list(b) == output_names(arch_for("resnet18-fpn"))
    for k in a:
        assert torch.equal(a[k], b[k])


def test_load_model_rejects_extra_tensor(tmp_path):
    net = StippleNet(arch_for("resnet18"))
    tensors = export.state_tensors(net)
    tensors["backbone.extra"] = torch.zeros(1)
    path = tmp_path / "m.safetensors"
    safetensors_io.write(path, tensors, export.metadata_for(net.arch))
    with pytest.raises(ValueError, match="unexpected"):
        export.load_model(path)


def test_golden_file(tmp_path, r18_file):
    model = r18_file
    out = tmp_path / "g.safetensors"
    golden.main(["--model", str(model), "--size", "97x131", "--seed", "4", "-o", str(out)])
    tensors, meta, header = safetensors_io.read(out)
    assert meta == {"outputs": "c2,c3,c4,c5"}
    assert all(v["dtype"] == "F32" for k, v in header.items() if k != "__metadata__")
    assert tensors["input"].shape == (97, 131, 3)
    assert [tensors[k].shape for k in ("c2", "c3", "c4", "c5")] == \
        [(25, 33, 64), (13, 17, 128), (7, 9, 256), (4, 5, 512)]
    net = export.load_model(model)
    with torch.no_grad():
        ref = net(torch.from_numpy(tensors["input"]).permute(2, 0, 1)[None])
    for k, v in ref.items():
        hwc = v[0].permute(1, 2, 0).numpy()
        assert np.linalg.norm(hwc - tensors[k]) <= 1e-5 * np.linalg.norm(tensors[k])


def test_arch_names():
    for name in ARCH_NAMES:
        arch = arch_for(name)
        assert arch["neck"] is None or name.endswith("-fpn")
    with pytest.raises(ValueError):
        arch_for("resnet20")


def test_onnx_export(tmp_path):
    onnx = pytest.importorskip("onnx")
    path = tmp_path / "m.onnx"
    export.main(["--arch", "resnet18-fpn", "--random-init", "--seed", "1", "-o",
                 str(tmp_path / "m.safetensors"), "--onnx", str(path), "--onnx-size", "64x96"])
    m = onnx.load(str(path))
    onnx.checker.check_model(m)
    assert [i.name for i in m.graph.input] == ["input"]
    dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 64, 96]
    assert [o.name for o in m.graph.output] == ["p2", "p3", "p4", "p5", "p6"]
    assert m.opset_import[0].version == 13


def test_random_model_well_conditioned():
    """float32 stays within 2e-5 of float64 on a random ResNet-50, so the
    engine's golden tolerance (1e-4) measures the engine, not the model."""
    net = export.random_model(arch_for("resnet50"), 1)
    x = torch.randn(1, 3, 96, 112, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        lo = net.float()(x)
        hi = net.double()(x.double())
    for k in hi:
        assert (lo[k].double() - hi[k]).norm() <= 2e-5 * hi[k].norm(), k
