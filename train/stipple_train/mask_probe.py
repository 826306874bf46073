"""How much a one-stage detector's outputs suffer from sparse execution
before any mask is trained: the sparse NanoDet (every stage and head level
masked, the dense weights) runs budget mode's top-k masks at a density,
ranked either at random or by an oracle that knows the dense network's
answer (a stage: where its output varies most from its 3x3 neighbourhood
mean; a head level: the teacher's best class score), and the distillation
losses of distill.py against the dense network are printed.

    python3 -m stipple_train.mask_probe --model models/nanodet-g/1/model.stp

If even the oracle loses much at a density, training masks alone cannot
recover it: the convs must adapt (docs/detector.md, "Sparse masks").
Photos: distill.py's validation photos (crops of 320, seed 0).
"""
import argparse
import random

import torch
import torch.nn.functional as F

from . import distill, nanodet
from .export import load_model


def stage_outputs(teacher, x):
    outs, hooks = {}, []
    for i, s in enumerate(teacher.backbone.stages):
        hooks.append(s.register_forward_hook(lambda m, inp, out, i=i: outs.__setitem__(i, out)))
    with torch.no_grad():
        feats = teacher.neck(teacher.backbone(x))
        heads = teacher.head(feats)
    for h in hooks:
        h.remove()
    return outs, feats, heads


def oracle_ranks(outs, heads, nstages, num_classes):
    ranks = []
    for i in range(nstages):
        o = outs[i]
        ranks.append((o - F.avg_pool2d(o, 3, 1, 1)).abs().sum(1, keepdim=True))
    for h in heads:
        ranks.append(torch.sigmoid(h[:, :num_classes]).max(1, keepdim=True).values)
    return ranks


def probe(model_path, densities, crops=4, crop=320, seed=0):
    """{(ranking, density): (feature, class, box) losses}."""
    teacher = load_model(model_path).float().eval()
    student = nanodet.sparse_copy(teacher, stages=[1] * len(teacher.backbone.stages),
                                  head=[1] * len(teacher.head.out), window=7, grid_stride=5,
                                  temperature=1.0)
    arch = student.arch
    _, val = distill.training_photos()
    photos = distill.load_photos(val[:6], 832)
    rng = random.Random(seed)
    x = torch.stack([distill.sample(photos, crop, arch["input"], rng) for _ in range(crops)])
    outs, t_feats, t_heads = stage_outputs(teacher, x)
    head_cfg = arch["heads"][0]
    masks = nanodet.masks_of(student)
    oracle = oracle_ranks(outs, t_heads, len(teacher.backbone.stages), head_cfg["num_classes"])
    own_logits = [m.logits for m in masks]   # their shapes, for random ranks
    results = {}
    student.train()
    for ranking in ("random", "oracle"):
        gen = torch.Generator().manual_seed(seed)
        for m, rank, logits in zip(masks, oracle, own_logits):
            m.noise_free = True
            m.logits = (lambda x_, r=rank: r) if ranking == "oracle" else \
                (lambda x_, f=logits: torch.rand(f(x_).shape, generator=gen))
        for rho in densities:
            for m in masks:
                m.train_density = rho
            with torch.no_grad():
                s_feats = student.neck(student.backbone(x))
                cls, box = distill.head_losses(head_cfg, student.head(s_feats), t_heads,
                                               student.head.last_masks)
            results[(ranking, rho)] = (float(distill.feature_loss(s_feats, t_feats)),
                                       float(cls), float(box))
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(prog="stipple_train.mask_probe", description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="models/nanodet-g/1/model.stp")
    ap.add_argument("--densities", default="0.95,0.8,0.5,0.3")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    res = probe(args.model, [float(d) for d in args.densities.split(",")])
    print("| masks | density | feature (sum of 3 levels) | class | box |")
    print("|---|---|---|---|---|")
    for (ranking, rho), (feat, cls, box) in res.items():
        print("| %s | %.2f | %.3f | %.3f | %.3f |" % (ranking, rho, feat, cls, box))


if __name__ == "__main__":
    main()
