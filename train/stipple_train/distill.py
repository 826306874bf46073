"""Masks for a one-stage detector, learned without labels: the sparse
network (the same weights plus sampling and interpolation modules,
nanodet.py) learns from the dense network itself on real photos.

    python3 -m stipple_train.distill --teacher models/nanodet-g/1/model.stp \
        --config train/recipes/nanodet-g-sparse.json -o RUN_DIR

Photos (docs/dataset.md, "Photos for label-free training"): the
wallpapers of the Debian packages mate-backgrounds and
plasma-workspace-wallpapers and frames of opencv-doc's video vtest.avi,
under $STIPPLE_ASSETS/photos (scripts/install-assets.sh; the frames need
python3-opencv to decode). The stills of darknet, opencv-doc and
python3-skimage are never used: they judge the result. Every tenth photo
by name and the last fifth of the video are held out for validation.
Samples: a photo scaled so that its long side is crop * U(0.8, 2), a random
crop x crop window (mean-colour padding), a horizontal flip half the time,
preprocessed by the model's input rule (BGR, mean / std).

Loss per batch, the teacher (dense, frozen) and the student on the same
input: class distillation, the quality focal loss of GFL (NanoDet's own
class loss) of the student's scores with the teacher's as soft targets,
summed over classes, mean over cells, where a cell the head mask skips
scores 0 (its loss mixed linearly by the mask: computed or not); box
distillation, the KL divergence of each side's distance-bin distribution,
weighted by the teacher's best class score and the student's head mask;
feature distillation, the relative squared distance of the PAN outputs;
and the sparsity term lambda * |expected cost - target| (none with
"densities", below), the expected cost
being the whole network's (every conv, mask convs included) under the
masks' probabilities over its dense cost (nanodet.expected_cost), the
target falling linearly from 1 to --density-target over --ramp iterations.
The masks' temperature decays from --t0 to --t1; with "deterministic" (the
default) they are sigmoid(logit / T) without Gumbel noise, so that at a
low T they are what inference thresholds (logit >= 0): with noise at
T = 0.5 the masks stay soft and the binary ones of inference broke the
network (docs/detector.md). With "straight_through" the forward pass uses
the binary masks inference uses (logit >= 0 when deterministic) and the
gradient is the relaxation's, so the network trains on what it will run;
"clip" > 0 caps the norm of the mask parameters' gradient (a cell whose
neighbours are all skipped changes by a step when one is sampled). Mask and
interpolation parameters learn at --lr, conv weights at --conv-lr (0:
frozen). There the sparsity term's cost is the masks' own (what the
forward pass ran) rather than the probabilities'.

With "densities" (a list), every batch draws one of them and every mask
runs budget mode's top-k mask at that density instead (the grid plus the
best logits, binary forward, straight-through backward): the masks learn a
ranking that every budget uses, as the engine's budget mode does without
calibration. Their own threshold then means nothing, so at the end each
mask's bias moves so that logit >= 0 keeps "auto_density" of the cells on
the validation photos (the model's own masks, budget "auto").

Writes RUN_DIR/log.jsonl (one line per --log-every iterations), the
checkpoint RUN_DIR/checkpoint.pt and the model RUN_DIR/model.stp, whose
backbone.sparse.calibration holds each mask's mean density with its
trained threshold on the validation photos (budget shares).
"""
import argparse
import glob
import json
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import nanodet, recipe, transform
from .dataset.assets import assets_dir
from .export import load_model, save_model
from .sparse import sampling_mode

DEFAULTS = {"iters": 3000, "batch": 8, "crop": 320, "lr": 1e-3, "conv_lr": 2e-5,
            "lam": 2.0, "density_target": 0.3, "ramp": 1500, "t0": 1.0, "t1": 0.1,
            "box_weight": 1.0, "feature_weight": 1.0, "grid_stride": 5, "window": 7,
            "stages": [1, 1, 1, 1], "head": [1, 1, 1], "deterministic": True,
            "straight_through": False, "clip": 0.0, "densities": [], "auto_density": 0.5,
            "seed": 1,
            "threads": 2,
            "log_every": 50, "vtest_every": 4, "max_side": 832}
VAL_EVERY = 10


def _vtest_frames(every):
    """Frames of vtest.avi as JPEG files in the asset cache (decoded once
    with OpenCV); [] without python3-opencv."""
    src = os.path.join(assets_dir(), "photos", "opencv", "vtest.avi")
    out = os.path.join(assets_dir(), "vtest-frames")
    if not os.path.exists(src):
        return []
    if not os.path.isdir(out) or not os.listdir(out):
        try:
            import cv2
        except ImportError:
            print("distill: no python3-opencv: vtest.avi's frames left out", file=sys.stderr)
            return []
        os.makedirs(out, exist_ok=True)
        cap = cv2.VideoCapture(src)
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            cv2.imwrite(os.path.join(out, "%04d.jpg" % i), frame, [cv2.IMWRITE_JPEG_QUALITY, 92])
            i += 1
    return sorted(glob.glob(os.path.join(out, "*.jpg")))[::every]


def training_photos(vtest_every=4):
    """(train, validation) lists of photo paths."""
    root = os.path.join(assets_dir(), "photos")
    stills = sorted(glob.glob(os.path.join(root, "mate", "*.jpg")))
    for theme in sorted(glob.glob(os.path.join(root, "plasma", "*"))):
        images = glob.glob(os.path.join(theme, "contents", "images", "*.*"))
        if images:   # the largest rendering of each wallpaper
            stills.append(max(images, key=os.path.getsize))
    train = [p for i, p in enumerate(stills) if i % VAL_EVERY != VAL_EVERY - 1]
    val = [p for i, p in enumerate(stills) if i % VAL_EVERY == VAL_EVERY - 1]
    frames = _vtest_frames(vtest_every)
    cut = len(frames) * 4 // 5
    return train + frames[:cut], val + frames[cut:]


def load_photos(paths, max_side):
    """(3, h, w) uint8 tensors, the long side at most max_side."""
    out = []
    for p in paths:
        im = Image.open(p).convert("RGB")
        im.thumbnail((max_side, max_side), Image.BILINEAR)
        out.append(torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).contiguous())
    return out


def sample(photos, crop, input_cfg, rng):
    """One augmented crop, preprocessed: (3, crop, crop)."""
    img = photos[rng.randrange(len(photos))].float()
    h, w = img.shape[1:]
    scale = crop * rng.uniform(0.8, 2.0) / max(h, w)
    rh, rw = max(1, int(h * scale)), max(1, int(w * scale))
    x = img.flip(0) if input_cfg.get("channel_order") == "bgr" else img
    x = transform.normalize(x, input_cfg["mean"], input_cfg["std"])
    x = transform.resize(x, (rh, rw))
    if rng.random() < 0.5:
        x = x.flip(2)
    out = torch.zeros(3, crop, crop)
    y0, x0 = rng.randint(0, max(0, rh - crop)), rng.randint(0, max(0, rw - crop))
    part = x[:, y0:y0 + crop, x0:x0 + crop]
    out[:, :part.shape[1], :part.shape[2]] = part
    return out


def _quality_focal(score, target):
    """GFL's quality focal loss with the teacher's scores as the soft
    targets: |target - score|^2 * BCE(score, target), 0 where they agree;
    a skipped cell (score ~0) costs about 13.8 * target^3 a class, so that
    the 80 classes' small background scores do not outweigh objects."""
    return (target - score) ** 2 * F.binary_cross_entropy(score, target, reduction="none")


def head_losses(cfg, student_outs, teacher_outs, masks):
    """Class and box distillation (module docstring), summed over levels."""
    k, r = cfg["num_classes"], cfg["reg_max"] + 1
    cls_loss, box_loss = 0.0, 0.0
    for s, t, m in zip(student_outs, teacher_outs, masks):
        n, _, h, w = s.shape
        keep = torch.ones(n, 1, h, w) if m is None else m
        t_score = torch.sigmoid(t[:, :k])
        s_score = torch.sigmoid(s[:, :k]).clamp(1e-6, 1 - 1e-6)
        on = _quality_focal(s_score, t_score).sum(1, True)
        off = _quality_focal(torch.full_like(s_score, 1e-6), t_score).sum(1, True)
        # linear in the mask: a binary mask's gradient is the loss of
        # computing the cell less that of skipping it
        cls_loss = cls_loss + (keep * on + (1 - keep) * off).mean()
        t_bins = F.softmax(t[:, k:].reshape(n, 4, r, h, w), 2)
        s_logp = F.log_softmax(s[:, k:].reshape(n, 4, r, h, w), 2)
        kl = (t_bins * (torch.log(t_bins + 1e-12) - s_logp)).sum(2).mean(1, keepdim=True)
        weight = t_score.max(1, keepdim=True).values * keep
        box_loss = box_loss + (kl * weight).sum() / weight.sum().clamp(min=1.0)
    return cls_loss, box_loss


def feature_loss(student, teacher):
    return sum(((student[k] - teacher[k]) ** 2).sum() / (teacher[k] ** 2).sum().clamp(min=1e-6)
               for k in teacher)


def calibrate(model, photos, input_cfg):
    """Each mask's mean density with its trained threshold (deterministic)
    on the photos at the model's own input rule."""
    model.eval()
    sums = None
    with torch.no_grad(), sampling_mode("deterministic"):
        for img in photos:
            x, _, _, _ = transform.preprocess([img.float()], input_cfg)
            model(x)
            masks = [s.last_masks[0] for s in model.backbone.stages if s.mask is not None] + \
                [m for m in model.head.last_masks if m is not None]
            d = [float(m.mean()) for m in masks]
            sums = d if sums is None else [a + b for a, b in zip(sums, d)]
    return [max(1e-3, min(1.0, v / len(photos))) for v in sums]


def set_auto_density(model, photos, input_cfg, density, passes=5):
    """Moves each mask's bias so that its own threshold (logit >= 0) keeps
    about `density` of the cells on the photos (for masks trained on
    budget mode's top-k, whose logits have no threshold of their own).
    A pass moves all of them at once, and a mask's logits depend on the
    masks before it: five passes settle the four stages and the head."""
    masks = nanodet.masks_of(model)
    model.eval()
    for _ in range(passes):
        seen = {id(m): [] for m in masks}
        for m in masks:
            m.calibrate = lambda mod, logit: seen[id(mod)].append(logit.flatten())
        with torch.no_grad(), sampling_mode("deterministic"):
            for img in photos:
                x, _, _, _ = transform.preprocess([img.float()], input_cfg)
                model(x)
        with torch.no_grad():
            for m in masks:
                m.calibrate = None
                values = torch.cat(seen[id(m)])
                m.bias -= torch.quantile(values, 1.0 - density)


def run(cfg, teacher_path, out_dir):
    torch.manual_seed(cfg["seed"])
    rng = random.Random(cfg["seed"])
    torch.set_num_threads(cfg["threads"])
    os.makedirs(out_dir, exist_ok=True)
    teacher = load_model(teacher_path).float().eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = nanodet.sparse_copy(teacher, stages=cfg["stages"], head=cfg["head"],
                                  window=cfg["window"], grid_stride=cfg["grid_stride"],
                                  temperature=cfg["t0"])
    arch = student.arch
    gamma = (cfg["t1"] / cfg["t0"]) ** (1.0 / max(1, cfg["iters"]))
    for m in nanodet.masks_of(student):
        m.temperature.fill_(cfg["t0"])
        m.gamma = gamma
        m.noise_free = cfg["deterministic"]
        m.straight_through = cfg["straight_through"]
    sparse_params = [p for n, p in student.named_parameters()
                     if ".mask." in n or ".masks." in n or ".interp." in n]
    conv_params = [p for n, p in student.named_parameters()
                   if not (".mask." in n or ".masks." in n or ".interp." in n)]
    groups = [{"params": sparse_params, "lr": cfg["lr"]}]
    if cfg["conv_lr"] > 0:
        groups.append({"params": conv_params, "lr": cfg["conv_lr"]})
    else:
        for p in conv_params:
            p.requires_grad_(False)
    opt = torch.optim.Adam(groups)
    train_paths, val_paths = training_photos(cfg["vtest_every"])
    photos = load_photos(train_paths, cfg["max_side"])
    val_photos = load_photos(val_paths, cfg["max_side"])
    costs = nanodet.mask_costs(student, cfg["crop"], cfg["crop"])
    head_cfg = arch["heads"][0]
    log = open(os.path.join(out_dir, "log.jsonl"), "w")
    log.write(json.dumps({"config": cfg, "train_photos": len(photos),
                          "val_photos": len(val_photos)}) + "\n")
    t_start = time.time()
    for it in range(cfg["iters"]):
        student.train()
        rho = rng.choice(cfg["densities"]) if cfg["densities"] else None
        for m in nanodet.masks_of(student):
            m.train_density = rho
        x = torch.stack([sample(photos, cfg["crop"], arch["input"], rng)
                         for _ in range(cfg["batch"])])
        with torch.no_grad():
            t_feats = teacher.neck(teacher.backbone(x))
            t_outs = teacher.head(t_feats)
        s_feats = student.neck(student.backbone(x))
        s_outs = student.head(s_feats)
        cls_l, box_l = head_losses(head_cfg, s_outs, t_outs, student.head.last_masks)
        feat_l = feature_loss(s_feats, t_feats)
        target = 1.0 - (1.0 - cfg["density_target"]) * min(1.0, (it + 1) / max(1, cfg["ramp"]))
        cost = nanodet.expected_cost(student, costs,
                                     from_masks=cfg["straight_through"] or rho is not None)
        loss = cls_l + cfg["box_weight"] * box_l + cfg["feature_weight"] * feat_l
        if rho is None:
            loss = loss + cfg["lam"] * torch.abs(cost - target)
        opt.zero_grad()
        loss.backward()
        if cfg["clip"] > 0:
            torch.nn.utils.clip_grad_norm_(sparse_params, cfg["clip"])
        opt.step()
        if it % cfg["log_every"] == 0 or it == cfg["iters"] - 1:
            rec = {"iter": it, "loss": float(loss), "cls": float(cls_l), "box": float(box_l),
                   "feature": float(feat_l), "expected_cost": float(cost),
                   "target": target if rho is None else rho,
                   "temperature": float(nanodet.masks_of(student)[0].temperature),
                   "densities": [round(float(m.mean()), 3) for m in
                                 [st.last_masks[0] for st in student.backbone.stages
                                  if st.mask is not None] +
                                 [m for m in student.head.last_masks if m is not None]],
                   "minutes": (time.time() - t_start) / 60}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print("distill: %s" % json.dumps(rec), file=sys.stderr)
    torch.save({"config": cfg, "arch": arch, "state": student.state_dict()},
               os.path.join(out_dir, "checkpoint.pt"))
    student.arch["backbone"]["sparse"]["temperature"] = float(
        nanodet.masks_of(student)[0].temperature)
    if cfg["densities"]:
        for m in nanodet.masks_of(student):
            m.train_density = None
        set_auto_density(student, val_photos, arch["input"], cfg["auto_density"])
    student.arch["backbone"]["sparse"]["calibration"] = calibrate(student, val_photos,
                                                                  arch["input"])
    save_model(student.eval(), os.path.join(out_dir, "model.stp"), "F16")
    log.write(json.dumps({"done": True, "minutes": (time.time() - t_start) / 60,
                          "calibration": student.arch["backbone"]["sparse"]["calibration"]})
              + "\n")
    log.close()


# Paths: flags only, never in a recipe
PER_RUN = ("teacher", "output")
LIST_ITEM_TYPES = {"densities": float, "stages": int, "head": int}


def arg_parser():
    """--teacher, --output and a flag per setting of DEFAULTS."""
    ap = argparse.ArgumentParser(prog="stipple_train.distill", description=__doc__.split("\n")[0])
    ap.add_argument("--teacher", required=True, help="the dense model file")
    ap.add_argument("-o", "--output", required=True, help="the run directory")
    for key, value in DEFAULTS.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            ap.add_argument(flag, action=argparse.BooleanOptionalAction, default=value)
        elif isinstance(value, list):
            ap.add_argument(flag, nargs="*", type=LIST_ITEM_TYPES[key], default=value)
        else:
            ap.add_argument(flag, type=type(value), default=value)
    return ap


def main(argv=None):
    args = recipe.parse_args(arg_parser(), argv, PER_RUN)
    run({key: getattr(args, key) for key in DEFAULTS}, args.teacher, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
