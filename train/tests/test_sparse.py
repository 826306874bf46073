"""The sparse reference modules (sparse.py, noise.py), the sparse exports and
the golden calibration, checked against the engine's noise values, naive
formulas written from docs/method.md and the dense blocks."""
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from stipple_train import export, golden, safetensors_io
from stipple_train.model import StippleNet, arch_for
from stipple_train.noise import logistic_noise, logistic_noise_map
from stipple_train.resnet import BasicBlock, Bottleneck
from stipple_train.sparse import (EPSILON, Interpolation, MaskPredictor, SparseBlock, grid_mask,
                                  sampling_mode, sparse_settings, sparsity_loss, topk_mask)


def test_noise_matches_engine():
    """Values printed by engine/sparse/mask.c's stp_mask_noise."""
    assert logistic_noise(0, 0, [0])[0] == np.float32(-0.935741603)
    assert logistic_noise(0, 0, [997])[0] == np.float32(-0.778687835)
    assert logistic_noise(0, 0, [0, 997]).dtype == np.float32


def test_noise_map_keys():
    m = logistic_noise_map(7, 3, 5, 6)
    assert m.shape == (5, 6) and m.dtype == np.float32
    assert np.array_equal(m.ravel(), logistic_noise(7, 3, np.arange(30)))
    assert not np.array_equal(m, logistic_noise_map(8, 3, 5, 6))
    assert not np.array_equal(m, logistic_noise_map(7, 4, 5, 6))
    # Logistic(0, 1): mean 0, variance pi^2 / 3.
    big = logistic_noise(1, 0, np.arange(200000)).astype(np.float64)
    assert abs(big.mean()) < 0.02 and abs(big.var() - math.pi ** 2 / 3) < 0.05


def naive_weight(interp):
    """The k x k kernel of docs/method.md section 4, written out per tap."""
    k, r = interp.window, interp.window // 2
    w = torch.zeros(k, k, dtype=torch.float64)
    for i in range(k):
        for j in range(k):
            if interp.kind == "rbf":
                a = float(interp.a)
                w[i, j] = a * a / (2 * math.pi) * math.exp(-a * a / 2 * ((i - r) ** 2 + (j - r) ** 2))
            elif interp.kind == "learned":
                w[i, j] = abs(float(interp.kernel[i, j]))
            else:
                w[i, j] = 1.0
    return w


def naive_interp(f, m, w):
    """out = M*F + (1-M) * sum(W M F) / (sum(W M) + eps), one cell at a time."""
    _, c, h, wd = f.shape
    r = w.shape[0] // 2
    out = torch.zeros_like(f)
    for y in range(h):
        for x in range(wd):
            if m[0, 0, y, x]:
                out[0, :, y, x] = f[0, :, y, x]
                continue
            num = torch.zeros(c, dtype=f.dtype)
            den = 0.0
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < h and 0 <= xx < wd and m[0, 0, yy, xx]:
                        num += w[dy + r, dx + r] * f[0, :, yy, xx]
                        den += float(w[dy + r, dx + r])
            out[0, :, y, x] = num / (den + EPSILON)
    return out


def masks_for_interp(h, w):
    gen = torch.Generator().manual_seed(3)
    single = torch.zeros(h, w)
    single[4, 5] = 1
    return {
        "ones": torch.ones(h, w),
        "grid": grid_mask(h, w, 4),
        "single": single,
        "random": (torch.rand(h, w, generator=gen) < 0.3).float(),
    }


@pytest.mark.parametrize("kind,window", [("rbf", 7), ("rbf", 3), ("learned", 5), ("avgpool", 3)])
@pytest.mark.parametrize("mask", ["ones", "grid", "single", "random"])
def test_interpolation_matches_naive(kind, window, mask):
    torch.manual_seed(1)
    interp = Interpolation(kind, window).double()
    if kind == "rbf":
        with torch.no_grad():
            interp.a.fill_(2.3)
    h, w = 9, 11
    f = torch.randn(1, 4, h, w, dtype=torch.float64)
    m = masks_for_interp(h, w)[mask].double().view(1, 1, h, w)
    with torch.no_grad():
        got = interp(f, m)
        want = naive_interp(f, m, naive_weight(interp))
    if mask == "ones":
        assert torch.equal(got, f)
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)
    if mask == "single" and window < 11:
        # Cells with no sampled cell in their window get exactly 0.
        far = torch.ones(h, w, dtype=torch.bool)
        r = window // 2
        far[4 - r:4 + r + 1, 5 - r:5 + r + 1] = False
        assert torch.all(got[0, :, far] == 0)


def test_interpolation_rejects_even_window_and_unknown_kernel():
    with pytest.raises(ValueError):
        Interpolation("rbf", 4)
    with pytest.raises(ValueError):
        Interpolation("gaussian", 3)


def test_grid_mask():
    g = grid_mask(7, 12, 5)
    want = torch.zeros(7, 12)
    for y in range(7):
        for x in range(12):
            want[y, x] = float(y % 5 == 0 and x % 5 == 0)
    assert torch.equal(g, want)
    assert grid_mask(3, 3, 1).sum() == 9
    assert grid_mask(10, 10, 11).sum() == 1


def test_topk_mask_keeps_grid_and_exactly_k():
    gen = torch.Generator().manual_seed(5)
    h, w = 9, 10
    logits = torch.randn(h, w, generator=gen)
    grid = grid_mask(h, w, 4)
    ngrid = int(grid.sum())
    logits[grid > 0] = -100.0  # the grid is kept even with the worst logits
    for k in (0, ngrid - 1, ngrid, ngrid + 1, 40, h * w, h * w + 5):
        m = topk_mask(logits, grid, k)
        assert torch.all(m[grid > 0] == 1)
        assert int(m.sum()) == min(max(k, ngrid), h * w)
        extra = int(m.sum()) - ngrid
        if 0 < extra < h * w - ngrid:
            off = logits[grid == 0]
            taken = m[grid == 0] > 0
            assert off[taken].min() >= off[~taken].max()


def test_topk_mask_ties_row_major():
    h, w = 4, 5
    grid = grid_mask(h, w, 4)  # cells (0, 0) and (0, 4)
    logits = torch.zeros(h, w)
    logits[3, 4] = 1.0
    m = topk_mask(logits, grid, 2 + 1 + 3)
    # The best logit, then the first three tied off-grid cells in row-major order.
    want = torch.zeros(h, w)
    want[0, 0] = want[0, 4] = want[3, 4] = 1
    want[0, 1] = want[0, 2] = want[0, 3] = 1
    assert torch.equal(m, want)
    # NaN ranks below everything.
    logits[0, 1] = float("nan")
    m = topk_mask(logits, grid, 6)
    assert m[0, 1] == 0 and m[1, 0] == 1


def sparse(variant, kernel="rbf", window=7, grid_stride=11):
    return {"kernel": kernel, "window": window, "grid_stride": grid_stride, "variant": variant}


class Blocks(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)


def test_sparsity_loss_weights():
    blocks = [
        SparseBlock(True, 64, 16, 1, None, 1e-5, sparse("b"), 0),       # 0.25 / 0.75
        SparseBlock(False, 64, 128, 2, None, 1e-5, sparse("b"), 2),     # 1/3, 2/3
        SparseBlock(True, 64, 16, 1, None, 1e-5, sparse("c"), 4),       # 0.25 / 0.5 / 0.25
        SparseBlock(True, 64, 16, 1, None, 1e-5, sparse("a"), 7),       # 1
        SparseBlock(False, 32, 32, 1, None, 1e-5, sparse("a"), 8),      # 1
    ]
    probs = [[0.2, 0.6], [0.3, 0.9], [0.1, 0.5, 0.7], [0.4], [0.8]]
    for b, ps in zip(blocks, probs):
        b.probs = [torch.full((1, 1, 3, 4), p) for p in ps]
    terms = [0.25 * 0.2 + 0.75 * 0.6,
             64 / 192 * 0.3 + 128 / 192 * 0.9,
             0.25 * 0.1 + 0.5 * 0.5 + 0.25 * 0.7,
             0.4,
             0.8]
    lam = 0.1
    got = sparsity_loss(Blocks(blocks), lam)
    assert abs(float(got) - lam / 5 * sum(terms)) < 1e-6
    # A density target: lambda times the distance from it, on either side,
    # and its gradient pushes the probabilities back towards it.
    mean = sum(terms) / 5
    for target, sign in ((mean - 0.2, 1), (mean + 0.2, -1)):
        got = sparsity_loss(Blocks(blocks), lam, target)
        assert abs(float(got) - lam * 0.2) < 1e-6
        p = blocks[0].probs[0].requires_grad_(True)
        p.grad = None
        sparsity_loss(Blocks(blocks), lam, target).backward()
        assert torch.all(torch.sign(p.grad) == sign)
        blocks[0].probs[0] = p.detach()
    # Blocks without a forward yet do not count.
    assert float(sparsity_loss(Blocks([SparseBlock(True, 64, 16, 1, None, 1e-5,
                                                   sparse("b"), 0)]), lam)) == 0


def test_temperature_decays_once_per_training_forward():
    block = SparseBlock(True, 32, 8, 1, None, 1e-5, sparse("c"), 0)
    preds = [block.mask1, block.mask2, block.mask3]
    x = torch.randn(1, 32, 12, 12)
    gamma = preds[0].gamma
    block.train()
    block(x)
    block(x)
    for p in preds:
        assert torch.allclose(p.temperature, torch.tensor(gamma ** 2), rtol=1e-6, atol=0)
    block.eval()
    with torch.no_grad():
        block(x)
    for p in preds:
        assert torch.allclose(p.temperature, torch.tensor(gamma ** 2), rtol=1e-6, atol=0)
    # The temperature is not part of the model file.
    assert not any(k.endswith("temperature") for k in block.state_dict())


@pytest.mark.parametrize("bottleneck,variant,stride", [
    (True, "a", 1), (True, "b", 2), (True, "c", 2), (False, "a", 2), (False, "b", 1)])
def test_dense_mode_equals_dense_block(bottleneck, variant, stride):
    torch.manual_seed(4)
    cin, planes = 16, 8
    cout = planes * (4 if bottleneck else 1)
    down = None
    if stride != 1 or cin != cout:
        down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                             nn.BatchNorm2d(cout))
    sb = SparseBlock(bottleneck, cin, planes, stride, down, 1e-5, sparse(variant), 0)
    for m in sb.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
        elif isinstance(m, MaskPredictor):
            with torch.no_grad():
                m.bias.fill_(-50.0)  # every logit negative: only dense mode fills the mask
    dense_cls = Bottleneck if bottleneck else BasicBlock
    down2 = None
    if down is not None:
        down2 = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                              nn.BatchNorm2d(cout))
    db = dense_cls(cin, planes, stride, down2, 1e-5)
    missing, unexpected = db.load_state_dict(sb.state_dict(), strict=False)
    assert not missing
    assert all(".mask" in "." + k or ".interp" in "." + k for k in unexpected)
    sb.eval()
    db.eval()
    x = torch.randn(1, cin, 13, 11)
    with torch.no_grad(), sampling_mode("dense"):
        got = sb(x)
        want = db(x)
        assert sb.last_densities == [1.0] * sb.nmasks
    assert torch.equal(got, want)
    with torch.no_grad(), sampling_mode("deterministic"):
        assert not torch.equal(sb(x), want)


def test_export_is_deterministic(tmp_path):
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    for path in (a, b):
        export.main(["--arch", "sparse-resnet18", "--random-init", "--seed", "3",
                     "--sparse-variant", "a", "-o", str(path)])
    assert a.read_bytes() == b.read_bytes()
    export.main(["--arch", "sparse-resnet18", "--random-init", "--seed", "4",
                 "--sparse-variant", "a", "-o", str(b)])
    assert a.read_bytes() != b.read_bytes()


def test_export_sparse_options(tmp_path):
    path = tmp_path / "m.safetensors"
    export.main(["--arch", "sparse-resnet18", "--random-init", "--seed", "1", "--sparse-kernel",
                 "learned", "--window", "5", "--grid-stride", "7", "-o", str(path)])
    tensors, meta, _ = safetensors_io.read(path)
    sp = json.loads(meta["architecture"])["backbone"]["sparse"]
    assert sp == dict(sparse_settings(layers=[2, 2, 2, 2]), kernel="learned", window=5,
                      grid_stride=7)
    assert tensors["backbone.layer1.0.interp2.kernel"].shape == (5, 5)
    assert not any(k.endswith(".a") for k in tensors)
    bad = [["--arch", "resnet18", "--window", "5"],
           ["--arch", "sparse-resnet18", "--window", "4"],
           ["--arch", "sparse-resnet18", "--grid-stride", "0"],
           ["--arch", "sparse-resnet18", "--sparse-variant", "c"],
           ["--arch", "sparse-resnet18", "--sparse-kernel", "box"]]
    for args in bad:
        with pytest.raises(SystemExit):
            export.main(args + ["--random-init", "-o", str(tmp_path / "x.safetensors")])


def test_load_model_round_trip_sparse(tmp_path):
    arch = arch_for("sparse-resnet50")
    arch["backbone"]["sparse"]["variant"] = "c"
    net = export.random_model(arch, 2)
    path = tmp_path / "m.safetensors"
    export.save_model(net, path)
    back = export.load_model(path)
    assert back.arch == net.arch
    a, b = export.state_tensors(net), export.state_tensors(back)
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(1, 3, 64, 80)
    for mode in ("deterministic", "stochastic"):
        with torch.no_grad(), sampling_mode(mode, seed=5):
            ya, yb = net.eval()(x), back(x)
        assert all(torch.equal(ya[k], yb[k]) for k in ya)
    # Masks are numbered in network order, as the engine numbers them.
    preds = [m for m in back.modules() if isinstance(m, MaskPredictor)]
    assert [p.index for p in preds] == list(range(len(preds))) and len(preds) == 48


def test_widest_gap_calibration():
    """The hook puts 0 mid-way across the widest gap of the middle half of
    the off-grid values, whatever their offset."""
    pred = MaskPredictor(1, 1, 100, 0).double()
    values = torch.tensor([0.0, 0.1, 0.2, 0.3, 0.35, 0.65, 0.7, 0.8, 0.9, 5.0],
                          dtype=torch.float64)
    # (0, 0) is the only grid cell: its value (-7) is ignored.
    logit = torch.cat([torch.tensor([-7.0], dtype=torch.float64), values + 2.0]).view(1, 1, 1, 11)
    with torch.no_grad(), sampling_mode("deterministic"):
        golden._center_in_widest_gap(pred, logit)
    # The widest middle gap is 0.35..0.65 (0.9..5.0 lies in the top quarter).
    assert abs(float(pred.bias) - (3.0 - 2.5)) < 1e-12


def test_golden_calibrates_sparse_model(tmp_path):
    model = tmp_path / "m.safetensors"
    export.main(["--arch", "sparse-resnet18", "--random-init", "--seed", "6", "-o", str(model)])
    for mode in ("deterministic", "stochastic"):
        cal, out = tmp_path / ("c-%s.safetensors" % mode), tmp_path / ("g-%s.safetensors" % mode)
        golden.main(["--model", str(model), "--size", "61x83", "--seed", "2", "--sampling", mode,
                     "--sampling-seed", "7", "--calibrated-model", str(cal), "-o", str(out)])
        tensors, meta, _ = safetensors_io.read(out)
        assert meta["sampling"] == mode and meta["seed"] == "7" and meta["masks"] == "16"
        assert float(meta["min_margin"]) > golden.MIN_MARGIN
        # Only the mask biases moved.
        before, _, _ = safetensors_io.read(model)
        after, _, _ = safetensors_io.read(cal)
        moved = [k for k in before if not np.array_equal(before[k], after[k])]
        assert moved and all(k.endswith(".bias") and ".mask" in k for k in moved)
        net = export.load_model(cal)
        x = torch.from_numpy(tensors["input"]).permute(2, 0, 1)[None]
        with torch.no_grad(), sampling_mode(mode, seed=7):
            ref = net(x)
        for k, v in ref.items():
            hwc = v[0].permute(1, 2, 0).numpy()
            assert np.linalg.norm(hwc - tensors[k]) <= 1e-5 * np.linalg.norm(tensors[k])
        for i in range(16):
            m = tensors["mask.%d" % i]
            assert set(np.unique(m)) <= {0.0, 1.0} and 0.2 < m.mean() < 0.8
        assert tensors["mask.0"].shape == (16, 21)  # stride 4 of 61x83
    with pytest.raises(SystemExit):
        golden.main(["--model", str(model), "--size", "61x83", "-o", str(tmp_path / "g")])
    dense = tmp_path / "d.safetensors"
    export.save_model(StippleNet(arch_for("resnet18")), dense)
    with pytest.raises(SystemExit):
        golden.main(["--model", str(dense), "--size", "32x32", "--sampling", "stochastic",
                     "-o", str(tmp_path / "g")])
