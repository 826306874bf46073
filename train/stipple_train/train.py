"""Trains a detector + segmenter on the Stipple dataset with the paper's
recipe (docs/method.md sections 2-3): Gumbel-sigmoid masks whose temperature
decays once per training forward, the grid prior, and the sparsity loss
with weight lambda added to the task losses.

    PYTHONPATH=train /usr/bin/python3 -m stipple_train.train \\
        --config train/recipes/RECIPE.json --data DATA/train --val DATA/val --out RUN \\
        [--init-from CHECKPOINT] [--iters N] [--lam 0.1] [--resume]

A recipe (recipe.py, docs/training.md) holds a run's settings, every flag
below but the per-run ones (PER_RUN: data, outputs, checkpoints); flags
override it.

The model is --arch (default sparse-resnet18-fpn-detseg) sized for a CPU
(model_arch): FPN width, box-head width, semantic width, anchor sizes for
small objects, backbone widths and the input rule are options, stored in the architecture so
the exported file carries them. Training is from scratch (no pretrained
weights can be had here): BatchNorm trains normally (the engine folds it),
SGD with momentum, linear warm-up then cosine decay, gradients clipped.
The temperature goes from --initial-temperature (1) to --final-temperature
over --iters (gamma derived from it). --deterministic trains the masks
without noise (the paper's deterministic Gumbel baseline: sigmoid(logit /
T)). --distill adds the relative squared distance of the FPN features
to those of another run's network, a dense teacher (weight
--distill-weight).
--init-from starts from another run's weights: a sparse model fine-tuned
from a dense run, as the paper fine-tunes pretrained networks, or a sparse
run continued (its masks' temperature carries over).

RUN/checkpoint.pt is written every --checkpoint-minutes and at the end
(model, optimizer, iteration, every RNG state, temperatures and their
schedule t0, gamma): --resume continues exactly where it stopped.
RUN/log.jsonl gets one line per --log-every iterations (losses, lr,
temperature, mean mask probability, seconds) and one per validation
(box AP, AP50, mIoU, mean density of the deterministic masks, on the first
--val-images images). Export with
`python3 -m stipple_train.export --checkpoint RUN/checkpoint.pt -o M.stp`.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
from PIL import Image

from . import coco_eval, recipe, roi_align
from .det_losses import training_losses
from .model import StippleNet, arch_for
from .sparse import Interpolation, MaskPredictor, mask_densities, sampling_mode, sparsity_loss


def model_arch(args, categories):
    """The architecture for args, with the dataset's class names."""
    arch = arch_for(args.arch, len(categories))
    arch["classes"] = [c["name"] for c in categories]
    widths = [int(w) for w in args.widths.split(",")]
    expansion = 4 if arch["backbone"]["block"] == "bottleneck" else 1
    arch["backbone"]["widths"] = widths
    arch["backbone"]["stem_width"] = widths[0]
    arch["neck"]["in_channels"] = [w * expansion for w in widths]
    arch["neck"]["out_channels"] = args.fpn_channels
    arch["input"]["resize"] = {"short_side": args.short_side, "max_long_side": args.max_long_side}
    sizes = [int(s) for s in args.anchor_sizes.split(",")]
    for h in arch["heads"]:
        if h["kind"] == "faster_rcnn":
            h["rpn"]["anchor_sizes"] = [[s] for s in sizes]
            h["box"]["representation_size"] = args.representation
        else:
            h["channels"] = args.seg_channels
    return arch


class Dataset:
    """Images, boxes, labels and semantic maps of one split (docs/dataset.md)."""

    def __init__(self, root):
        self.root = root
        with open(os.path.join(root, "annotations.json")) as f:
            self.coco = json.load(f)
        self.images = self.coco["images"]
        self.boxes = {im["id"]: [] for im in self.images}
        for a in self.coco["annotations"]:
            self.boxes[a["image_id"]].append(a)

    def __len__(self):
        return len(self.images)

    def load(self, i):
        """(image (3, h, w) float32 0-255, target dict) of image number i."""
        im = self.images[i]
        rgb = np.asarray(Image.open(os.path.join(self.root, "images", im["file_name"])).convert("RGB"))
        sem = np.asarray(Image.open(os.path.join(self.root, "semantic",
                                                 "%06d.png" % im["id"])), dtype=np.int64)
        anns = self.boxes[im["id"]]
        boxes = torch.tensor([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                               a["bbox"][1] + a["bbox"][3]] for a in anns],
                             dtype=torch.float32).reshape(-1, 4)
        labels = torch.tensor([a["category_id"] for a in anns], dtype=torch.int64)
        image = torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1).contiguous()
        return image, {"boxes": boxes, "labels": labels, "semantic": torch.from_numpy(sem.copy())}


def predictors(model):
    return [m for m in model.modules() if isinstance(m, MaskPredictor)]


def density_target_at(args, it):
    """--density-target, reached after a linear fall from 1 over the first
    --density-ramp iterations (gradual sparsification); None without one."""
    if args.density_target is None or it >= args.density_ramp:
        return args.density_target
    return 1.0 - (1.0 - args.density_target) * it / args.density_ramp


def lr_at(args, it):
    if it < args.warmup:
        return args.lr * (0.001 + 0.999 * it / args.warmup)
    t = (it - args.warmup) / max(1, args.iters - args.warmup)
    return args.lr * 0.5 * (1 + math.cos(math.pi * t))


@torch.no_grad()
def validate(model, val, count):
    """Box AP, AP50, mIoU and mean mask density on the first count images,
    deterministic masks."""
    model.eval()
    dets, densities = [], []
    conf = coco_eval.ConfusionMatrix(len(val.coco["categories"]) + 1)
    subset = dict(val.coco, images=val.images[:count])
    with sampling_mode("deterministic"):
        for i in range(min(count, len(val))):
            image, target = val.load(i)
            out = model.predict([image])[0]
            if model.arch["backbone"].get("sparse"):
                densities.append(float(np.mean(mask_densities(model))))
            if "boxes" in out:
                for b, s, l in zip(out["boxes"].tolist(), out["scores"].tolist(),
                                   out["labels"].tolist()):
                    dets.append({"image_id": val.images[i]["id"], "category_id": l,
                                 "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": s})
            if "semantic" in out:
                conf.add(out["semantic"].numpy(), target["semantic"].numpy())
    model.train()
    ap = coco_eval.evaluate(subset, dets) if model.rpn is not None else {}
    return {"ap": ap.get("ap", -1), "ap50": ap.get("ap50", -1), "miou": conf.miou(),
            "density": float(np.mean(densities)) if densities else 1.0}


def temperature_gamma(args, t0=1.0):
    """The per-forward decay that takes T from t0 to --final-temperature in
    --iters (1, holding T, when t0 is already at or below it)."""
    return min(1.0, args.final_temperature / t0) ** (1.0 / max(1, args.iters))


def save_checkpoint(path, model, optimizer, it, rng, args):
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "iteration": it,
             "arch": model.arch, "args": vars(args),
             "temperatures": [float(p.temperature) for p in predictors(model)],
             "temperature_schedule": {"t0": args.t0, "gamma": temperature_gamma(args, args.t0)},
             "rng": {"torch": torch.get_rng_state(), "numpy": rng.get_state(),
                     "python": random.getstate()}}
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)


def build(args, categories):
    arch = model_arch(args, categories)
    torch.manual_seed(args.seed)
    model = StippleNet(arch)
    for p in predictors(model):
        p.temperature.fill_(args.t0)
        p.gamma = temperature_gamma(args, args.t0)
    return model


def init_from(model, path, args):
    """Loads the weights of another run's checkpoint into model, the paper's
    fine-tuning start (docs/method.md section 3): a dense run's weights give a
    sparse model everything but its mask convs and interpolation scales,
    which keep their initial values. Any other difference (a missing or
    extra tensor, another shape) is an error: the runs must share the
    architecture's sizes.

    A sparse run's checkpoint also gives the temperature its masks reached
    (a non-persistent buffer, saved beside the weights): the new run starts
    there and decays to --final-temperature, unless --initial-temperature
    says where to start. Restarting at T = 1 instead softens masks trained
    at T = 0.05 so much that the sparsity loss drives them to the grid
    before the task loss brings them back. Sets args.t0."""
    ckpt = torch.load(path, weights_only=False)
    state = ckpt["model"]
    own = model.state_dict()
    extra = sorted(k for k in state if k not in own)
    shapes = sorted(k for k in state if k in own and state[k].shape != own[k].shape)
    missing = sorted(k for k in own if k not in state)
    unfit = [k for k in missing if not isinstance(
        model.get_submodule(k.rpartition(".")[0]), (MaskPredictor, Interpolation))]
    if extra or shapes or unfit:
        raise ValueError("%s does not fit this architecture: extra %s, other shapes %s, missing %s"
                         % (path, extra[:3], shapes[:3], unfit[:3]))
    model.load_state_dict(state, strict=False)
    carried = ckpt.get("temperatures") or []
    if (predictors(model) and len(carried) == len(predictors(model))
            and args.initial_temperature is None):
        args.t0 = max(carried)
        for p, t in zip(predictors(model), carried):
            p.temperature.fill_(t)
            p.gamma = temperature_gamma(args, t)
    return missing


def load_teacher(path, model):
    """The network of a run's checkpoint, frozen in eval mode, to distil
    into model (--distill): it must see the same input and give the same
    FPN levels."""
    ckpt = torch.load(path, weights_only=False)
    if ckpt["arch"]["input"] != model.arch["input"] or ckpt["arch"]["neck"] != model.arch["neck"]:
        raise ValueError("%s has another input rule or FPN than this run" % path)
    teacher = StippleNet(ckpt["arch"])
    teacher.load_state_dict(ckpt["model"])
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def train(args):
    """Runs (or resumes) the training of args; returns 0. Flushes denormals
    (untrained weights make them, and they run ~100x slower on x86) and uses
    torchvision's RoIAlign kernel while it runs."""
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    try:
        import torchvision  # noqa: F401
        roi_align.USE_TORCHVISION = True
    except ImportError:
        pass
    try:
        return _train(args)
    finally:
        torch.set_flush_denormal(False)
        roi_align.USE_TORCHVISION = False


def _train(args):
    data = Dataset(args.data)
    val = Dataset(args.val)
    os.makedirs(args.out, exist_ok=True)
    ckpt = os.path.join(args.out, "checkpoint.pt")
    model = build(args, data.coco["categories"])
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=args.lr,
                                momentum=0.9, weight_decay=args.weight_decay)
    rng = np.random.RandomState(args.seed)
    random.seed(args.seed)
    start = 0
    if args.resume and os.path.exists(ckpt):
        state = torch.load(ckpt)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        args.t0 = state["temperature_schedule"]["t0"]
        for p, t in zip(predictors(model), state["temperatures"]):
            p.temperature.fill_(t)
            p.gamma = temperature_gamma(args, args.t0)
        torch.set_rng_state(state["rng"]["torch"])
        rng.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        start = state["iteration"]
    elif args.init_from:
        init_from(model, args.init_from, args)
    for p in predictors(model):
        p.noise_free = args.deterministic
    teacher = load_teacher(args.distill, model) if args.distill else None
    weights = {"loss_distill": args.distill_weight}   # every other loss: 1
    model.train()
    log = open(os.path.join(args.out, "log.jsonl"), "a")
    last_ckpt, t0 = time.time(), time.time()
    stop = min(args.iters, args.stop_at or args.iters)
    for it in range(start, stop):
        for g in optimizer.param_groups:
            g["lr"] = lr_at(args, it)
        picks = rng.randint(0, len(data), args.batch)
        images, targets = zip(*(data.load(int(i)) for i in picks))
        losses = training_losses(model, list(images), list(targets), {
            "rpn_pre_nms_top_n": args.rpn_train_top_n, "rpn_post_nms_top_n": args.rpn_train_top_n,
            "box_batch_size_per_image": args.box_samples}, teacher)
        task = sum(weights.get(k, 1.0) * v for k, v in losses.items())
        sparse = sparsity_loss(model, args.lam * min(1.0, it / max(1, args.lam_warmup)),
                               density_target_at(args, it))
        total = task + sparse
        optimizer.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        done = it + 1
        if done % args.log_every == 0 or done == args.iters:
            probs = [float(p.mean()) for b in model.modules() if getattr(b, "probs", None)
                     for p in b.probs]
            rec = {"iteration": done, "lr": lr_at(args, it), "loss": float(total),
                   "loss_sparsity": float(sparse),
                   "temperature": float(predictors(model)[0].temperature) if predictors(model) else None,
                   "mask_probability": float(np.mean(probs)) if probs else None,
                   "seconds": round(time.time() - t0, 1)}
            if args.density_target is not None:
                rec["density_target"] = density_target_at(args, it)
            rec.update({k: float(v) for k, v in losses.items()})
            log.write(json.dumps(rec) + "\n")
            log.flush()
        if done % args.val_every == 0 or done == args.iters:
            rec = {"iteration": done, "val": validate(model, val, args.val_images)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
        if time.time() - last_ckpt > 60 * args.checkpoint_minutes or done == stop:
            save_checkpoint(ckpt, model, optimizer, done, rng, args)
            last_ckpt = time.time()
    log.close()
    return 0


# Paths and run control: flags only, never in a recipe
PER_RUN = ("data", "val", "out", "init_from", "distill", "resume", "stop_at")


def arg_parser():
    p = argparse.ArgumentParser(prog="stipple_train.train", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="the train split (stipple_train.dataset)")
    p.add_argument("--val", required=True, help="the val split")
    p.add_argument("--out", required=True, help="the run folder: checkpoint.pt, log.jsonl")
    p.add_argument("--arch", default="sparse-resnet18-fpn-detseg")
    p.add_argument("--iters", type=int, default=1200)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--clip", type=float, default=10.0, help="gradient norm clip")
    p.add_argument("--lam", type=float, default=0.1, help="sparsity loss weight lambda")
    p.add_argument("--density-target", type=float, metavar="D",
                   help="sparsity loss lambda * |mean probability - D| (pushes back below D) "
                        "instead of the paper's lambda * mean probability")
    p.add_argument("--density-ramp", type=int, default=0, metavar="N",
                   help="the density target falls linearly from 1 to D over the first N "
                        "iterations (default 0: D from the start)")
    p.add_argument("--lam-warmup", type=int, default=600,
                   help="iterations over which lambda ramps up linearly from 0 (from-scratch "
                        "runs: let the features form before the masks thin out)")
    p.add_argument("--distill", metavar="CHECKPOINT",
                   help="also pull the FPN features towards those of this run's network "
                        "(a dense teacher; not in the paper)")
    p.add_argument("--distill-weight", type=float, default=1.0,
                   help="weight of the distillation loss (relative squared error, "
                        "mean over FPN levels)")
    p.add_argument("--rpn-train-top-n", type=int, default=600,
                   help="RPN proposals per level and per image in training (torchvision: 2000)")
    p.add_argument("--box-samples", type=int, default=128,
                   help="RoIs per image sampled for the box-head losses (torchvision: 512)")
    p.add_argument("--final-temperature", type=float, default=0.05)
    p.add_argument("--initial-temperature", type=float, metavar="T0",
                   help="the temperature the masks start at (default 1, or the one a sparse "
                        "--init-from run reached)")
    p.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=False,
                   help="masks without Gumbel noise (the deterministic baseline)")
    p.add_argument("--widths", default="32,64,128,256",
                   help="the backbone's stage widths (the stem takes the first)")
    p.add_argument("--fpn-channels", type=int, default=64)
    p.add_argument("--representation", type=int, default=256, help="box head width")
    p.add_argument("--seg-channels", type=int, default=64)
    p.add_argument("--anchor-sizes", default="16,32,64,128,256", help="one per level, P2..P6")
    p.add_argument("--short-side", type=int, default=288)
    p.add_argument("--max-long-side", type=int, default=480)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.pt")
    p.add_argument("--init-from", metavar="CHECKPOINT",
                   help="start from another run's weights (a dense run's, to fine-tune a sparse "
                        "model as the paper does); ignored when --resume finds a checkpoint")
    p.add_argument("--stop-at", type=int,
                   help="stop after this iteration with a checkpoint, as if interrupted "
                        "(the schedule still runs to --iters)")
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--val-every", type=int, default=400)
    p.add_argument("--val-images", type=int, default=100)
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    return p


def parse_args(argv=None):
    p = arg_parser()
    args = recipe.parse_args(p, argv, PER_RUN)
    if args.initial_temperature is not None and not args.initial_temperature > 0:
        p.error("--initial-temperature must be positive")
    if args.density_ramp < 0 or (args.density_ramp and args.density_target is None):
        p.error("--density-ramp needs --density-target and a count >= 0")
    args.t0 = args.initial_temperature or 1.0   # the schedule's start; --init-from may move it
    return args


if __name__ == "__main__":
    sys.exit(train(parse_args()))
