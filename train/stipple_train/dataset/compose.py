"""One image of the synthetic dataset: a crop of a real photo with real
MNIST digits and Noto emoji pasted on it, plus exact labels.

Design: every image draws all its randomness from its own generator,
numpy PCG64 seeded by (seed, split, index), so images are independent of
each other (any subset can be made, in any order, by any number of
processes). Objects are laid out first as binary masks; later objects
cover earlier ones; an object whose visible part falls under
MIN_VISIBLE_FRACTION of its mask (or MIN_VISIBLE_PIXELS) is removed before
anything is painted, so no unlabelled object fragment appears. Only then
are the kept objects painted, back to front, with soft edges (a pixel
belongs to an object's mask when its opacity is at least 1/2). Labels are
the visible parts: the instance map holds, at each pixel, the topmost
object whose mask covers it; boxes, areas, RLEs and the semantic map all
come from that one map.
"""
import colorsys
import math

import numpy as np
from PIL import Image

from . import rle
from .assets import CATEGORIES, SPLITS, photos_for

SPLIT_CODE = {name: i for i, name in enumerate(SPLITS)}
SIZE_RANGE = (320, 640)          # image width and height, each drawn uniformly
OBJECTS_RANGE = (2, 8)           # objects laid out per image, before removal
MIN_SIDE = 14                    # smallest object extent (longest side, px)
MAX_SIDE_FRACTION = {"digit": 0.9, "emoji": 0.7}  # of the image's shorter side
MIN_VISIBLE_FRACTION = 0.3
MIN_VISIBLE_PIXELS = 16
MNIST_INK = 24                   # MNIST gray above this counts as ink for trimming
MASK_LEVEL = 128                 # opacity (0..255) from which a pixel is in the mask
PAD = 2                          # transparent margin around a trimmed digit or emoji


def _trim(alpha):
    """(row0, row1, col0, col1) of the nonzero part of a 2-D array."""
    rows = np.flatnonzero(alpha.any(axis=1))
    cols = np.flatnonzero(alpha.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


class Composite:
    """image: HxWx3 uint8; semantic: HxW uint8 (0 background, category id);
    objects: dicts with category_id, bbox, area, segmentation (RLE),
    full_area (pixels of the whole mask) and source; photo: background key."""

    def __init__(self, image, semantic, objects, photo):
        self.image = image
        self.semantic = semantic
        self.objects = objects
        self.photo = photo


class Composer:
    def __init__(self, assets, split):
        if split not in SPLIT_CODE:
            raise ValueError("split must be one of %s" % ", ".join(SPLITS))
        self.assets = assets
        self.split = split
        self.photos = photos_for(split)
        self.mnist = [assets.mnist_indices(split, d) for d in range(10)]
        self.emoji = []
        for rgba, code in assets.emoji:
            r0, r1, c0, c1 = _trim(rgba[:, :, 3])
            extent = max(r1 - r0, c1 - c0)
            rgba = np.pad(rgba[r0:r1, c0:c1], ((PAD, PAD), (PAD, PAD), (0, 0)))
            self.emoji.append((Image.fromarray(rgba, "RGBA"), extent, code))

    # ----- background -----------------------------------------------------
    def _background(self, rng, width, height):
        key = self.photos[rng.integers(len(self.photos))]
        photo = self.assets.photo(key)
        ph, pw = photo.shape[:2]
        smax = min(pw / width, ph / height)            # photo px per output px
        s = rng.uniform(max(0.35 * smax, min(smax, 0.75)), smax)
        cw, ch = width * s, height * s
        cx, cy = rng.uniform(0, max(0.0, pw - cw)), rng.uniform(0, max(0.0, ph - ch))
        ix0, iy0 = int(cx), int(cy)
        ix1, iy1 = min(pw, math.ceil(cx + cw)), min(ph, math.ceil(cy + ch))
        crop = Image.fromarray(np.ascontiguousarray(photo[iy0:iy1, ix0:ix1]))
        bg = crop.resize((width, height), Image.BILINEAR,
                         box=(cx - ix0, cy - iy0, cx - ix0 + cw, cy - iy0 + ch))
        if rng.random() < 0.5:
            bg = bg.transpose(Image.FLIP_LEFT_RIGHT)
        return np.array(bg), key

    # ----- objects --------------------------------------------------------
    def _side(self, rng, kind, width, height):
        hi = max(MIN_SIDE + 1, MAX_SIDE_FRACTION[kind] * min(width, height))
        return math.exp(rng.uniform(math.log(MIN_SIDE), math.log(hi)))

    def _digit(self, rng, digit, width, height):
        pool = self.mnist[digit]
        index = int(pool[rng.integers(len(pool))])
        gray = self.assets.digits[digit][index]
        r0, r1, c0, c1 = _trim(gray > MNIST_INK)
        scale = self._side(rng, "digit", width, height) / max(r1 - r0, c1 - c0)
        # a margin of PAD black pixels keeps the resampled strokes from being cut
        gray = np.pad(gray[r0:r1, c0:c1], PAD)
        scale = min(scale, width / gray.shape[1], height / gray.shape[0])
        w = max(1, min(width, round(gray.shape[1] * scale)))
        h = max(1, min(height, round(gray.shape[0] * scale)))
        g = np.asarray(Image.fromarray(gray).resize((w, h), Image.BICUBIC))
        # opacity ramps over 64..192 so that the mask level is opacity 1/2
        alpha = np.clip((g.astype(np.float32) - 64.0) / 128.0, 0.0, 1.0)
        hue, sat, lum = rng.random(), rng.uniform(0.5, 1.0), rng.random()
        return {"mask": g >= MASK_LEVEL, "alpha": alpha, "rgb": None,
                "ink": (hue, sat, lum), "source": "mnist/%d/%d" % (digit, index)}

    def _emoji(self, rng, k, width, height):
        im, extent, code = self.emoji[k]
        scale = self._side(rng, "emoji", width, height) / extent
        scale = min(scale, width / im.size[0], height / im.size[1])
        w = max(1, min(width, round(im.size[0] * scale)))
        h = max(1, min(height, round(im.size[1] * scale)))
        a = np.asarray(im.resize((w, h), Image.BICUBIC))   # PIL premultiplies RGBA
        return {"mask": a[:, :, 3] >= MASK_LEVEL,
                "alpha": a[:, :, 3].astype(np.float32) / 255.0,
                "rgb": a[:, :, :3].astype(np.float32), "ink": None,
                "source": "emoji/%s" % code}

    def _objects(self, rng, width, height):
        objs = []
        for _ in range(rng.integers(OBJECTS_RANGE[0], OBJECTS_RANGE[1] + 1)):
            cat = int(rng.integers(1, len(CATEGORIES) + 1))
            if cat <= 10:
                o = self._digit(rng, cat - 1, width, height)
            else:
                o = self._emoji(rng, cat - 11, width, height)
            h, w = o["mask"].shape
            o["cat"] = cat
            o["x0"] = int(rng.integers(0, width - w + 1))
            o["y0"] = int(rng.integers(0, height - h + 1))
            o["full"] = int(o["mask"].sum())
            if o["full"] >= MIN_VISIBLE_PIXELS:
                objs.append(o)
        return objs

    def _layout(self, objs, width, height):
        """Instance map (0 none, k+1 object k) of the objects kept."""
        keep = list(range(len(objs)))
        inst = np.zeros((height, width), dtype=np.uint8)
        while True:
            inst[:] = 0
            for k in keep:
                o = objs[k]
                h, w = o["mask"].shape
                inst[o["y0"]:o["y0"] + h, o["x0"]:o["x0"] + w][o["mask"]] = k + 1
            seen = np.bincount(inst.ravel(), minlength=len(objs) + 1)
            bad = {k for k in keep
                   if seen[k + 1] < max(MIN_VISIBLE_PIXELS, MIN_VISIBLE_FRACTION * objs[k]["full"])}
            if not bad:
                return keep, inst, seen
            keep = [k for k in keep if k not in bad]

    @staticmethod
    def _paint(image, o):
        h, w = o["mask"].shape
        region = image[o["y0"]:o["y0"] + h, o["x0"]:o["x0"] + w]
        f = region.astype(np.float32)
        a = o["alpha"][:, :, None]
        if o["rgb"] is None:
            # ink colour: random hue, brightness opposite to the background
            hue, sat, lum = o["ink"]
            under = f[o["mask"]].mean(axis=0) @ np.array([0.299, 0.587, 0.114], np.float32)
            v = 0.05 + 0.35 * lum if under > 127.5 else 0.7 + 0.3 * lum
            rgb = np.array(colorsys.hsv_to_rgb(hue, sat, v), np.float32) * 255.0
        else:
            rgb = o["rgb"]
        f = f * (1.0 - a) + rgb * a
        region[:] = np.clip(f + 0.5, 0, 255).astype(np.uint8)

    # ----- the image ------------------------------------------------------
    def compose(self, seed, index):
        rng = np.random.default_rng([int(seed), SPLIT_CODE[self.split], int(index)])
        width = int(rng.integers(SIZE_RANGE[0], SIZE_RANGE[1] + 1))
        height = int(rng.integers(SIZE_RANGE[0], SIZE_RANGE[1] + 1))
        image, key = self._background(rng, width, height)
        objs = self._objects(rng, width, height)
        keep, inst, seen = self._layout(objs, width, height)
        lut = np.zeros(256, dtype=np.uint8)
        out = []
        for k in keep:
            o = objs[k]
            self._paint(image, o)
            lut[k + 1] = o["cat"]
            h, w = o["mask"].shape
            sub = inst[o["y0"]:o["y0"] + h, o["x0"]:o["x0"] + w] == k + 1
            r0, r1, c0, c1 = _trim(sub)
            x, y = o["x0"] + int(c0), o["y0"] + int(r0)
            out.append({
                "category_id": o["cat"],
                "bbox": [x, y, int(c1 - c0), int(r1 - r0)],
                "area": int(seen[k + 1]),
                "full_area": o["full"],
                "segmentation": rle.encode_box(sub[r0:r1, c0:c1], x, y, height, width),
                "source": o["source"],
            })
        return Composite(image, lut[inst], out, key)
