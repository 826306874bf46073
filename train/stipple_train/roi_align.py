"""RoIAlign and multi-scale RoIAlign in plain torch, as torchvision 0.14's CPU
kernel computes them (float32, the same operation order).

roi_align, per RoI (x1, y1, x2, y2) on a feature map of H x W, output P x P,
sampling ratio g > 0 (the adaptive g <= 0 of torchvision is not supported):
    off = 0.5 if aligned else 0
    sx = x1 * scale - off, ex = x2 * scale - off (y likewise)
    rw = ex - sx, rh = ey - sy; not aligned: rw = max(rw, 1), rh = max(rh, 1)
    bw = rw / P, bh = rh / P
    sample (iy, ix) of bin (ph, pw):
        y = (sy + ph * bh) + ((iy + 0.5) * bh) / g   (x likewise)
        outside, i.e. y < -1 or y > H or x < -1 or x > W: contributes 0
        y = max(y, 0); y0 = (int)y; y0 >= H - 1: y0 = y1 = H - 1, y = y0;
        else y1 = y0 + 1; ly = y - y0, hy = 1 - ly (x likewise)
        v = ((hy*hx * f[y0,x0] + hy*lx * f[y0,x1]) + ly*hx * f[y1,x0]) + ly*lx * f[y1,x1]
    out = (((v(0,0) + v(0,1)) + v(1,0)) + v(1,1)) / (g * g)   (iy outer, ix inner)
The C engine must compile this without FMA contraction to stay bit-exact.

MultiScaleRoIAlign over levels p_k, k = k_min..k_max (P2..P5): spatial scale
2^-k; level of a box: floor(canonical_level + log2(sqrt(area) / canonical_scale)
+ eps) (float32, eps = 1e-6), clamped to [k_min, k_max]. torchvision infers the
scales from the first batch it sees (2^round(log2(feature height / largest
resized image height))); that is 2^-k for every image whose resized sides are
at least twice the size divisor, and we use 2^-k always.
"""
import torch

ROI_CHUNK = 64  # RoIs gathered at once (bounds the gather's memory)


def _axis(start, bin_size, pooled, grid, size):
    """Sample coordinates along one axis: (R, P, g) low/high indices, low and
    high weights and in-range flags, with torchvision's arithmetic."""
    p = torch.arange(pooled, dtype=torch.float32).view(1, -1, 1)
    i = (torch.arange(grid, dtype=torch.float32) + 0.5).view(1, 1, -1)
    c = (start.view(-1, 1, 1) + p * bin_size.view(-1, 1, 1)) + (i * bin_size.view(-1, 1, 1)) / grid
    valid = (c >= -1.0) & (c <= size)
    c = torch.where(c <= 0, torch.zeros_like(c), c)
    low = c.to(torch.int64)
    last = low >= size - 1
    low = torch.where(last, torch.full_like(low, size - 1), low)
    high = torch.where(last, low, low + 1)
    c = torch.where(last, low.to(c.dtype), c)
    lw = c - low.to(c.dtype)
    hw = 1.0 - lw
    return low, high, lw, hw, valid


# Training may swap in torchvision's C++ kernel (the same arithmetic, with a
# backward pass that does not go through gathers): train.py sets this.
USE_TORCHVISION = False


def roi_align(feature, rois, output_size, spatial_scale, sampling_ratio, aligned=False):
    """feature (N, C, H, W) float32; rois (R, 5): batch index, x1, y1, x2, y2.
    Returns (R, C, P, P)."""
    if sampling_ratio <= 0:
        raise ValueError("sampling_ratio must be > 0")
    if USE_TORCHVISION:
        import torchvision
        return torchvision.ops.roi_align(feature, rois, output_size, spatial_scale,
                                         sampling_ratio, aligned)
    n, c, h, w = feature.shape
    p, g = int(output_size), int(sampling_ratio)
    out = feature.new_zeros((rois.shape[0], c, p, p))
    flat = feature.reshape(n, c, h * w)
    scale = torch.tensor(spatial_scale, dtype=feature.dtype)
    off = 0.5 if aligned else 0.0
    for lo in range(0, rois.shape[0], ROI_CHUNK):
        r = rois[lo:lo + ROI_CHUNK]
        sx, sy = r[:, 1] * scale - off, r[:, 2] * scale - off
        ex, ey = r[:, 3] * scale - off, r[:, 4] * scale - off
        rw, rh = ex - sx, ey - sy
        if not aligned:
            rw, rh = rw.clamp(min=1.0), rh.clamp(min=1.0)
        y0, y1, ly, hy, vy = _axis(sy, rh / p, p, g, h)
        x0, x1, lx, hx, vx = _axis(sx, rw / p, p, g, w)
        # (R, P, g, 1, 1) against (R, 1, 1, P, g): (R, Py, gy, Px, gx)
        e = lambda t: t[:, :, :, None, None]  # noqa: E731
        f = lambda t: t[:, None, None, :, :]  # noqa: E731
        valid = e(vy) & f(vx)
        taps = [(e(y0) * w + f(x0), e(hy) * f(hx)), (e(y0) * w + f(x1), e(hy) * f(lx)),
                (e(y1) * w + f(x0), e(ly) * f(hx)), (e(y1) * w + f(x1), e(ly) * f(lx))]
        batch = r[:, 0].to(torch.int64)
        v = None
        for pos, wt in taps:
            src = flat[batch[:, None], :, pos.reshape(len(r), -1)]  # (R, S, C)
            src = src.permute(0, 2, 1).reshape(len(r), c, *pos.shape[1:])
            term = wt[:, None] * src
            v = term if v is None else v + term
        v = torch.where(valid[:, None], v, torch.zeros_like(v))
        acc = None
        for iy in range(g):
            for ix in range(g):
                s = v[:, :, :, iy, :, ix]
                acc = s if acc is None else acc + s
        out[lo:lo + len(r)] = acc / float(g * g)
    return out


def box_levels(boxes, k_min, k_max, canonical_scale=224, canonical_level=4, eps=1e-6):
    """The pyramid level index (0 = k_min) of every box (torchvision's LevelMapper)."""
    s = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    lvl = torch.floor(canonical_level + torch.log2(s / canonical_scale)
                      + torch.tensor(eps, dtype=s.dtype))
    return (torch.clamp(lvl, min=k_min, max=k_max).to(torch.int64) - k_min)


class MultiScaleRoIAlign:
    """features: the level names, finest first, named "p{k}"."""

    def __init__(self, features, output_size=7, sampling_ratio=2, aligned=False,
                 canonical_scale=224, canonical_level=4, eps=1e-6):
        self.features = list(features)
        self.levels = [int(name[1:]) for name in self.features]
        if self.levels != list(range(self.levels[0], self.levels[0] + len(self.levels))):
            raise ValueError("RoI levels must be consecutive p{k}: %s" % self.features)
        self.output_size = output_size
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned
        self.canonical_scale = canonical_scale
        self.canonical_level = canonical_level
        self.eps = eps

    def __call__(self, feats, boxes):
        """feats: name -> (N, C, H, W); boxes: one (R_i, 4) tensor per image.
        Returns (sum R_i, C, P, P), RoIs in image order."""
        rois = torch.cat([torch.cat([torch.full((len(b), 1), i, dtype=b.dtype), b], dim=1)
                          for i, b in enumerate(boxes)])
        first = feats[self.features[0]]
        out = first.new_zeros((rois.shape[0], first.shape[1], self.output_size, self.output_size))
        if rois.shape[0] == 0:
            return out
        lvl = box_levels(rois[:, 1:], self.levels[0], self.levels[-1], self.canonical_scale,
                         self.canonical_level, self.eps)
        for i, (name, k) in enumerate(zip(self.features, self.levels)):
            idx = torch.where(lvl == i)[0]
            if idx.numel():
                out[idx] = roi_align(feats[name], rois[idx], self.output_size, 2.0 ** -k,
                                     self.sampling_ratio, self.aligned)
        return out
