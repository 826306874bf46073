"""Input preprocessing and output rescaling of the task heads: torchvision
0.14's GeneralizedRCNNTransform in eval mode, with the rules of the model's
"input" dict (proto/model-format.md), except that the resize comes before
the normalisation (both are linear: they differ by float rounding only,
and the engine then never holds a large photo in floats).

For an image of h x w pixels (float, 0-255 units, C x h x w, RGB):
 0. with "channel_order": "bgr", reverse the channels (the model was
    trained on BGR images; mean and std are listed in its order);
 1. resize (bilinear, align_corners=False, no antialiasing) by
        scale = min(float32(short_side * float32(1 / float32(min(h, w)))),
                    float32(max_long_side / float32(max(h, w))))
    (float32 divisions), to
        rh = floor(double(h) * double(scale)), rw likewise.
    The float32 scale is torchvision's: 375 x 500 with short side 800 gives
    799 x 1066, not 800 x 1066. The bilinear source coordinates use the
    ratio in / out (PyTorch's upsample with an explicit size);
 2. normalise: (value - mean[c]) / std[c] in float32 (a subtraction, then
    a division);
 3. pad with zeros (after normalisation, i.e. the mean colour) at the
    bottom and right to a multiple of size_divisor: H = ceil(rh / d) * d
    (a batch pads to the largest H and W of its images).
Detections come back in original pixels: x * float32(w / rw), y *
float32(h / rh) (float32 division, then a multiplication; no clipping).
torchvision's training-time choice among several min sizes is not kept: the
model file has one short side.
"""
import math

import torch
import torch.nn.functional as F


def resized_size(h, w, short_side, max_long_side):
    """(rh, rw) of an h x w image, with torchvision's float32 scale."""
    lo = torch.tensor(float(min(h, w)), dtype=torch.float32)
    hi = torch.tensor(float(max(h, w)), dtype=torch.float32)
    scale = torch.min(float(short_side) / lo, float(max_long_side) / hi).item()
    return int(math.floor(float(h) * scale)), int(math.floor(float(w) * scale))


def normalize(image, mean, std):
    mean = torch.as_tensor(mean, dtype=image.dtype)
    std = torch.as_tensor(std, dtype=image.dtype)
    return (image - mean[:, None, None]) / std[:, None, None]


def resize(image, size):
    return F.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0]


def padded_size(sizes, divisor):
    h = max(s[0] for s in sizes)
    w = max(s[1] for s in sizes)
    d = float(divisor)
    return int(math.ceil(float(h) / d) * d), int(math.ceil(float(w) / d) * d)


def preprocess(images, input_cfg, targets=None):
    """images: list of (C, h, w) float tensors in 0-255 units. Returns the
    padded batch (N, C, H, W), the resized sizes [(rh, rw)], the original
    sizes [(h, w)] and, given targets (dicts with "boxes" in original
    pixels), copies with the boxes in resized pixels."""
    resize_cfg = input_cfg["resize"]
    out, sizes, originals, new_targets = [], [], [], []
    for i, img in enumerate(images):
        if img.dim() != 3 or img.shape[0] != input_cfg["channels"]:
            raise ValueError("image %d: expected (%d, h, w), got %s"
                             % (i, input_cfg["channels"], list(img.shape)))
        h, w = img.shape[-2:]
        x = img.to(torch.float32)
        if input_cfg.get("channel_order", "rgb") == "bgr":
            x = x.flip(0)
        rh, rw = resized_size(h, w, resize_cfg["short_side"], resize_cfg["max_long_side"])
        x = normalize(resize(x, (rh, rw)), input_cfg["mean"], input_cfg["std"])
        out.append(x)
        sizes.append((rh, rw))
        originals.append((h, w))
        if targets is not None:
            t = dict(targets[i])
            t["boxes"] = rescale_boxes(t["boxes"], (h, w), (rh, rw))
            new_targets.append(t)
    ph, pw = padded_size(sizes, input_cfg["size_divisor"])
    batch = out[0].new_zeros((len(out), out[0].shape[0], ph, pw))
    for i, x in enumerate(out):
        batch[i, :, :x.shape[1], :x.shape[2]].copy_(x)
    return batch, sizes, originals, (new_targets if targets is not None else None)


def rescale_boxes(boxes, from_size, to_size):
    """Boxes in from_size (h, w) pixels to to_size pixels (torchvision's
    resize_boxes)."""
    rh = torch.tensor(to_size[0], dtype=torch.float32) / torch.tensor(from_size[0], dtype=torch.float32)
    rw = torch.tensor(to_size[1], dtype=torch.float32) / torch.tensor(from_size[1], dtype=torch.float32)
    x1, y1, x2, y2 = boxes.unbind(1)
    return torch.stack((x1 * rw, y1 * rh, x2 * rw, y2 * rh), dim=1)
