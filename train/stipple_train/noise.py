"""Counter-based logistic noise, bit-identical to engine/sparse/mask.c.

The stochastic inference mode samples a cell when logit + L >= 0, with L
drawn from a hash of (seed, mask index, cell): no generator state, so the
C engine (on any number of threads) and PyTorch draw the same noise. The
hash is SplitMix64's finaliser; u is the top 24 bits of the hash plus half a
step, in (0, 1); L = log(u / (1 - u)) computed in double, rounded to float32.
"""
import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix64(z):
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def logistic_noise(seed, mask_index, cells):
    """L for each cell index in `cells` (array-like of ints), as float32."""
    cells = np.asarray(cells, dtype=np.uint64)
    with np.errstate(over="ignore"):
        key = _mix64(np.uint64(seed % (1 << 64)) + _GOLDEN)
    key = key ^ ((np.uint64(mask_index) << np.uint64(32)) | cells)
    h = _mix64(key)
    u = ((h >> np.uint64(40)).astype(np.float64) + 0.5) / 16777216.0
    return np.log(u / (1.0 - u)).astype(np.float32)


def logistic_noise_map(seed, mask_index, h, w):
    """The noise of an h x w mask, as an (h, w) float32 array."""
    return logistic_noise(seed, mask_index, np.arange(h * w)).reshape(h, w)
