"""The paper's sampling and interpolation modules, and sparse residual blocks.

This is the reference the C engine is tested against (docs/method.md sections
2-5). Everything is computed densely here, exactly as the official code does
(masks multiply dense results); the C engine computes only what is needed.

Sampling (MaskPredictor): a 3x3 conv on the block input (init weight 0, bias
3), then
  - training: the binary Concrete relaxation m = sigmoid((logit + L) / T)
    with L = g1 - g2 from two Gumbels (1e-8 inside every log), T decayed by
    gamma once per training forward (a saved buffer); the grid prior then
    sets m = 1 on cells with y % s == 0 and x % s == 0. Options (not the
    paper's): noise_free drops L; straight_through uses the binary
    logit + L >= 0 forward and the relaxation's gradient backward;
    train_density uses budget mode's top-k mask at that density, forward
    binary and backward straight-through;
  - inference, set by `sampling_mode(...)`: "deterministic" (logit >= 0),
    "stochastic" (logit + L >= 0 with the counter-based noise of noise.py,
    bit-identical to the engine's), "dense" (every cell), or "topk" (the grid
    plus the best logits, for budget mode); always OR the grid.
Interpolation: out = M*F + (1-M) * conv(M*F, W) / (conv(M, W) + 1e-5), with
W the RBF kernel (a^2/2pi) exp(-a^2/2 (dx^2+dy^2)) (learnable a, init 3), a
learned k x k kernel used through |K|, or all ones (average pooling).

Blocks are chains of convs: conv j runs under mask mask_of[j] and its output
is interpolated (module interp_of[j]); the last conv's output is
interpolated before its BatchNorm. Variant (b), the default: bottleneck
conv1 under M1 (stride 1), conv2 and conv3 under M2 (the block's stride);
(a) one mask for all; (c) a mask per conv. BasicBlock: M1 and M2 both at the
block's stride. The engine's sparse/block.h documents the same structure.
"""
import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .noise import logistic_noise_map

EPSILON = 1e-5

# Inference sampling settings shared by every MaskPredictor (set with
# sampling_mode); training always uses the Gumbel relaxation.
_SAMPLING = {"mode": "deterministic", "seed": 0, "topk": None}


@contextmanager
def sampling_mode(mode, seed=0, topk=None):
    """Inference masks: "deterministic", "stochastic" (keyed by seed),
    "dense", or "topk" (topk: {mask index: cells to keep})."""
    if mode not in ("deterministic", "stochastic", "dense", "topk"):
        raise ValueError("unknown sampling mode %r" % mode)
    saved = dict(_SAMPLING)
    _SAMPLING.update(mode=mode, seed=seed, topk=topk)
    try:
        yield
    finally:
        _SAMPLING.clear()
        _SAMPLING.update(saved)


def grid_mask(h, w, stride, device=None):
    """1.0 on the grid prior's cells of an h x w map, else 0.0."""
    g = torch.zeros(h, w, device=device)
    g[::stride, ::stride] = 1.0
    return g


def topk_mask(logits, grid, k):
    """The grid plus the k - (grid cells) best off-grid logits, ties broken
    in row-major order (engine/sparse/mask.c's rule). logits, grid: (h, w)."""
    flat = logits.flatten().double()
    on_grid = grid.flatten() > 0
    extra = max(0, min(int(k) - int(on_grid.sum()), int((~on_grid).sum())))
    keep = on_grid.clone()
    if extra > 0:
        values = torch.where(torch.isnan(flat), torch.full_like(flat, -math.inf), flat)
        values = torch.where(on_grid, torch.full_like(values, -math.inf), values)
        # Stable sort, descending value then ascending index.
        order = sorted(range(values.numel()), key=lambda i: (-values[i].item(), i))
        chosen = [i for i in order if not on_grid[i]][:extra]
        keep[chosen] = True
    return keep.view_as(logits).to(logits.dtype)


class MaskPredictor(nn.Module):
    """The sampling module of one masked conv. index: the mask's number in
    the network (keys the stochastic noise, as in the engine)."""

    def __init__(self, cin, stride, grid_stride, index, t0=1.0, gamma=0.99998):
        super().__init__()
        # Stored as <block>.mask{j}.weight / .bias (proto/model-format.md).
        self.weight = nn.Parameter(torch.zeros(1, cin, 3, 3))
        self.bias = nn.Parameter(torch.full((1,), 3.0))
        self.stride = stride
        self.grid_stride = grid_stride
        self.index = index
        self.gamma = gamma
        # The export writes the temperature reached into the architecture
        # (backbone.sparse.temperature); training checkpoints keep the buffer.
        self.register_buffer("temperature", torch.tensor(float(t0)), persistent=False)
        self.calibrate = None
        self.noise_free = False   # train without noise (train.py --deterministic)
        # train on the binary mask inference uses, with the relaxation's
        # gradient (straight-through; distill.py "straight_through")
        self.straight_through = False
        # train on the top-k mask of budget mode at this density (distill.py
        # "densities"), straight-through
        self.train_density = None

    def logits(self, x):
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=1)

    def forward(self, x):
        """Returns (mask (N, 1, H, W), probability p before noise and grid)."""
        logit = self.logits(x)
        if self.calibrate is not None and not self.training:
            # Test fixtures: let a hook move the bias (see golden.py), then
            # recompute with the final weights.
            self.calibrate(self, logit)
            logit = self.logits(x)
        p = torch.sigmoid(logit)
        n, _, h, w = logit.shape
        grid = grid_mask(h, w, self.grid_stride, logit.device).view(1, 1, h, w)
        if self.training:
            # the value, not the buffer: the decay below changes it in place
            t = float(self.temperature)
            z = logit
            if not self.noise_free:   # noise_free: the deterministic baseline
                u1, u2 = torch.rand_like(logit), torch.rand_like(logit)
                g1 = -torch.log(-torch.log(u1 + 1e-8) + 1e-8)
                g2 = -torch.log(-torch.log(u2 + 1e-8) + 1e-8)
                z = logit + g1 - g2
            if self.train_density is not None:
                m = self._train_topk(z, grid, t)
            else:
                m = torch.sigmoid(z / t)
                if self.straight_through:
                    m = (z >= 0).to(m.dtype) + (m - m.detach())
            with torch.no_grad():
                self.temperature.mul_(self.gamma)
            return torch.maximum(m, grid), p
        mode = _SAMPLING["mode"]
        if mode == "dense":
            m = torch.ones_like(logit)
        elif mode == "deterministic":
            m = (logit >= 0).to(logit.dtype)
        elif mode == "stochastic":
            m = (logit + self.noise(h, w).to(logit.dtype) >= 0).to(logit.dtype)
        else:
            k = _SAMPLING["topk"][self.index]
            m = torch.stack([topk_mask(logit[i, 0], grid[0, 0], k) for i in range(n)]).unsqueeze(1)
        return torch.maximum(m, grid), p


    def _train_topk(self, z, grid, t):
        """Budget mode's mask in training: per image the grid plus the best
        off-grid z, max(grid cells, floor(density * cells)) in all (ties
        all kept), forward binary, backward the gradient of
        sigmoid((z - the k-th best z) / T)."""
        n, _, h, w = z.shape
        flat = z.flatten(1)
        on_grid = grid.flatten(1) > 0
        extra = max(int(on_grid.sum()), int(self.train_density * h * w)) - int(on_grid.sum())
        ranked = flat.masked_fill(on_grid, -math.inf)
        if extra > 0:
            thr = ranked.topk(extra, dim=1).values[:, -1:].detach()
            hard = (ranked >= thr).to(z.dtype)
        else:
            thr = flat.max(1, keepdim=True).values.detach()
            hard = torch.zeros_like(flat)
        soft = torch.sigmoid((flat - thr) / t)
        return (hard + (soft - soft.detach())).view(n, 1, h, w)

    def noise(self, h, w):
        """The stochastic mode's noise for this mask, (1, 1, h, w) float32."""
        n = logistic_noise_map(_SAMPLING["seed"], self.index, h, w)
        return torch.from_numpy(n).view(1, 1, h, w)


def sampling_settings():
    """The current inference sampling settings (a copy)."""
    return dict(_SAMPLING)


class Interpolation(nn.Module):
    """The interpolation module: kernel "rbf", "learned" or "avgpool"."""

    def __init__(self, kind, window):
        super().__init__()
        if window % 2 != 1:
            raise ValueError("interpolation window must be odd")
        self.kind = kind
        self.window = window
        if kind == "rbf":
            self.a = nn.Parameter(torch.tensor([3.0]))
        elif kind == "learned":
            self.kernel = nn.Parameter(torch.rand(window, window) * 0.1 + 0.01)
        elif kind != "avgpool":
            raise ValueError("unknown interpolation kernel %r" % kind)

    def weight(self):
        k = self.window
        if self.kind == "rbf":
            r = torch.arange(k, dtype=self.a.dtype, device=self.a.device) - k // 2
            d2 = r.view(-1, 1) ** 2 + r.view(1, -1) ** 2
            a2 = self.a[0] ** 2
            return a2 / (2 * math.pi) * torch.exp(-a2 / 2 * d2)
        if self.kind == "learned":
            return self.kernel.abs()
        return torch.ones(k, k)

    def forward(self, f, m):
        c = f.shape[1]
        w = self.weight().to(f.dtype)
        pad = self.window // 2
        den = F.conv2d(m, w.view(1, 1, *w.shape), padding=pad) + EPSILON
        num = F.conv2d(f * m, w.view(1, 1, *w.shape).expand(c, 1, *w.shape).contiguous(),
                       padding=pad, groups=c)
        return m * f + (1 - m) * num / den


class SparseBlock(nn.Module):
    """A sparse Bottleneck or BasicBlock with torchvision's tensor names
    plus mask{j} / interp{j}. mask_base: the network index of mask 1."""

    def __init__(self, bottleneck, cin, planes, stride, downsample, eps, sparse, mask_base):
        super().__init__()
        self.bottleneck = bottleneck
        expansion = 4 if bottleneck else 1
        cout = planes * expansion
        if bottleneck:
            specs = [(cin, planes, 1, 1), (planes, planes, 3, stride), (planes, cout, 1, 1)]
        else:
            specs = [(cin, planes, 3, stride), (planes, cout, 3, 1)]
        for j, (ci, co, k, s) in enumerate(specs):
            setattr(self, "conv%d" % (j + 1), nn.Conv2d(ci, co, k, stride=s, padding=k // 2, bias=False))
            setattr(self, "bn%d" % (j + 1), nn.BatchNorm2d(co, eps=eps))
        self.relu = nn.ReLU(inplace=False)
        self.downsample = downsample
        self.nconvs = len(specs)
        variant = sparse["variant"]
        self.nmasks = {"a": 1, "b": 2, "c": 3}[variant]
        if variant == "c" and not bottleneck:
            raise ValueError("variant c needs bottleneck blocks")
        first_stride = 1 if bottleneck else stride
        for j in range(self.nmasks):
            setattr(self, "mask%d" % (j + 1),
                    MaskPredictor(cin, first_stride if j == 0 else stride,
                                  sparse["grid_stride"], mask_base + j))
            setattr(self, "interp%d" % (j + 1), Interpolation(sparse["kernel"], sparse["window"]))
        self.mask_of = [min(j, self.nmasks - 1) for j in range(self.nconvs)]

    def forward(self, x):
        """Returns the block output; self.probs keeps each mask's p."""
        identity = x if self.downsample is None else self.downsample(x)
        masks, self.probs = [], []
        for j in range(self.nmasks):
            m, p = getattr(self, "mask%d" % (j + 1))(x)
            masks.append(m)
            self.probs.append(p)
        self.last_densities = [float(m.mean()) for m in masks]
        y = x
        last = self.nconvs - 1
        for j in range(self.nconvs):
            conv = getattr(self, "conv%d" % (j + 1))
            bn = getattr(self, "bn%d" % (j + 1))
            interp = getattr(self, "interp%d" % (self.mask_of[j] + 1))
            m = masks[self.mask_of[j]]
            if j < last:
                y = interp(self.relu(bn(conv(y))), m)
            else:
                y = bn(interp(conv(y), m))
        return self.relu(y + identity)

    def mask_cost_weights(self, cin, planes):
        """Weights of each mask's mean probability in the sparsity loss:
        0.25/0.75 for a bottleneck's (b) masks as in the official code,
        inplanes/(inplanes+planes) and planes/(inplanes+planes) for a basic
        block's, 1 for (a), 0.25/0.5/0.25 for (c)."""
        if self.nmasks == 1:
            return [1.0]
        if self.nmasks == 3:
            return [0.25, 0.5, 0.25]
        if self.bottleneck:
            return [0.25, 0.75]
        return [cin / (cin + planes), planes / (cin + planes)]


def sparsity_loss(model, lam, target=None):
    """lambda / B * sum over sparse blocks of the weighted mean of their
    masks' probabilities (docs/method.md section 3), from the last forward.

    With a target density, lambda * |that mean - target| instead: the same
    pull while the masks are denser than the target, a push back when they
    fall below it (train.py --density-target; not in the paper)."""
    terms = []
    for block in model.modules():
        if isinstance(block, SparseBlock) and getattr(block, "probs", None):
            weights = block.mask_cost_weights(block.conv1.in_channels, block.conv1.out_channels)
            terms.append(sum(w * p.mean() for w, p in zip(weights, block.probs)))
    if not terms:
        return torch.zeros(())
    mean = sum(terms) / len(terms)
    if target is None:
        return lam * mean
    return lam * torch.abs(mean - target)


def mask_densities(model):
    """The sampled fraction of every mask in the last (inference) forward,
    in network order."""
    out = []
    for block in model.modules():
        if isinstance(block, SparseBlock):
            out.extend(block.last_densities)
    return out


def sparse_settings(variant="b", kernel="rbf", window=7, grid_stride=11, layers=(3, 4, 6, 3),
                    temperature=1.0):
    """A backbone.sparse dict with every block sparse."""
    return {
        "kernel": kernel,
        "window": window,
        "grid_stride": grid_stride,
        "variant": variant,
        "blocks": [[1] * n for n in layers],
        "temperature": temperature,
    }
