"""COCO run-length encoding of binary masks, uncompressed form.

COCO's RLE reads an HxW mask in column-major order (down the first column,
then the next) and lists the lengths of alternating runs, starting with a
run of zeros (0 when the first pixel is set): {"size": [H, W], "counts":
[z0, o0, z1, o1, ...]}. The counts sum to H*W. Written here from that
definition with numpy; pycocotools is not needed.
"""
import numpy as np


def encode_box(sub, x0, y0, height, width):
    """RLE of an HxW mask that is zero outside the box whose top-left corner
    is (x0, y0) and whose contents are the bool array sub (h x w)."""
    h, w = sub.shape
    strip = np.zeros((w, height), dtype=np.int8)  # columns x0..x0+w-1, full height
    strip[:, y0:y0 + h] = sub.T
    flat = strip.ravel()
    starts = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate(([0], starts, [flat.size]))
    runs = np.diff(edges)
    counts = runs.tolist()
    if flat[0]:
        counts.insert(0, 0)
    counts[0] += x0 * height  # the empty columns left of the box
    right = (width - x0 - w) * height  # the empty columns right of the box
    if len(counts) % 2 == 1:  # ends with zeros: extend that run
        counts[-1] += right
    elif right:
        counts.append(right)
    return {"size": [int(height), int(width)], "counts": [int(c) for c in counts]}


def encode(mask):
    """RLE of a full HxW bool mask."""
    mask = np.asarray(mask, dtype=bool)
    return encode_box(mask, 0, 0, mask.shape[0], mask.shape[1])


def decode(rle):
    """The HxW bool mask of an uncompressed RLE dict."""
    height, width = rle["size"]
    counts = np.asarray(rle["counts"], dtype=np.int64)
    if counts.sum() != height * width:
        raise ValueError("RLE counts sum to %d, not %d" % (counts.sum(), height * width))
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, counts)
    return flat.reshape(width, height).T


def area(rle):
    """Number of set pixels."""
    return int(sum(rle["counts"][1::2]))


def bbox(rle):
    """[x, y, w, h] of the set pixels (COCO convention), or [0, 0, 0, 0]."""
    m = decode(rle)
    ys, xs = np.nonzero(m)
    if len(xs) == 0:
        return [0, 0, 0, 0]
    return [int(xs.min()), int(ys.min()),
            int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
