"""train.py on a tiny synthetic dataset (no assets needed): the task loss
falls, the run logs losses and a validation, interrupting and resuming gives
exactly the parameters of an uninterrupted run, a sparse run starts from a
dense run's weights (--init-from), and the exported model
computes what the checkpoint's model computes."""
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from stipple_train import export, train
from stipple_train.export import load_model
from stipple_train.sparse import sampling_mode


def write_dataset(root, count=4, seed=0):
    """Images with two coloured squares each, COCO boxes, semantic PNGs."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "images"))
    os.makedirs(os.path.join(root, "semantic"))
    images, anns = [], []
    for i in range(1, count + 1):
        rgb = (rng.random((64, 80, 3)) * 60).astype(np.uint8)
        sem = np.zeros((64, 80), dtype=np.uint8)
        for cat in (1, 2):
            y, x, s = int(rng.integers(0, 40)), int(rng.integers(0, 56)), int(rng.integers(12, 24))
            rgb[y:y + s, x:x + s] = (200, 40, 40) if cat == 1 else (40, 200, 40)
            sem[y:y + s, x:x + s] = cat
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": cat,
                         "bbox": [x, y, min(s, 80 - x), min(s, 64 - y)],
                         "area": min(s, 80 - x) * min(s, 64 - y), "iscrowd": 0})
        Image.fromarray(rgb).save(os.path.join(root, "images", "%06d.jpg" % i))
        Image.fromarray(sem).save(os.path.join(root, "semantic", "%06d.png" % i))
        images.append({"id": i, "file_name": "%06d.jpg" % i, "width": 80, "height": 64})
    with open(os.path.join(root, "annotations.json"), "w") as f:
        json.dump({"images": images, "annotations": anns,
                   "categories": [{"id": 1, "name": "red"}, {"id": 2, "name": "green"}]}, f)
    return root


def args_for(data, out, *extra):
    return train.parse_args(["--data", data, "--val", data, "--out", out, "--iters", "6",
                             "--batch", "2", "--warmup", "2", "--short-side", "64",
                             "--max-long-side", "96", "--widths", "8,8,8,8",
                             "--fpn-channels", "8", "--representation", "16",
                             "--seg-channels", "8", "--anchor-sizes", "8,16,32,64,128",
                             "--lam-warmup", "2", "--log-every", "1", "--val-every", "6",
                             "--val-images", "2", "--threads", "1"] + list(extra))


def read_log(run):
    with open(os.path.join(run, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


def task_losses(run):
    return [r["loss"] - r["loss_sparsity"] for r in read_log(run) if "loss" in r]


def test_task_loss_falls(tmp_path):
    data = write_dataset(str(tmp_path / "data"), count=8)
    run = str(tmp_path / "run")
    train.train(args_for(data, run, "--iters", "12", "--batch", "4", "--val-every", "100"))
    losses = task_losses(run)
    assert np.mean(losses[-3:]) < 0.6 * np.mean(losses[:3]), losses


def test_run_logs_and_resumes_exactly(tmp_path):
    data = write_dataset(str(tmp_path / "data"))
    whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
    train.train(args_for(data, whole))
    log = read_log(whole)
    steps = [r for r in log if "loss" in r]
    assert [r["iteration"] for r in steps] == list(range(1, 7))
    assert steps[-1]["temperature"] < steps[0]["temperature"] < 1.0
    assert all(np.isfinite(r["loss"]) for r in steps)
    # lambda ramps up from 0 over --lam-warmup iterations
    assert steps[0]["loss_sparsity"] == 0 < steps[1]["loss_sparsity"] < steps[2]["loss_sparsity"]
    val = [r["val"] for r in log if "val" in r]
    assert len(val) == 1 and set(val[0]) == {"ap", "ap50", "miou", "density"}

    train.train(args_for(data, parts, "--stop-at", "3"))
    assert max(r["iteration"] for r in read_log(parts)) == 3
    train.train(args_for(data, parts, "--resume"))
    a = torch.load(os.path.join(whole, "checkpoint.pt"))
    b = torch.load(os.path.join(parts, "checkpoint.pt"))
    assert a["iteration"] == b["iteration"] == 6
    assert a["temperatures"] == b["temperatures"]
    # one decay per training forward: T = gamma^6 after 6 iterations
    assert a["temperature_schedule"] == b["temperature_schedule"]
    assert np.allclose(a["temperatures"], a["temperature_schedule"]["gamma"] ** 6, atol=1e-6)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def test_export_from_checkpoint(tmp_path):
    data = write_dataset(str(tmp_path / "data"))
    run = str(tmp_path / "run")
    train.train(args_for(data, run, "--iters", "2", "--val-every", "100"))
    path = str(tmp_path / "m.stp")
    assert export.main(["--checkpoint", os.path.join(run, "checkpoint.pt"), "-o", path]) == 0
    ref = export.model_from_checkpoint(os.path.join(run, "checkpoint.pt"))
    got = load_model(path)
    assert got.arch["classes"] == ["red", "green"]
    assert got.arch["input"]["resize"] == {"short_side": 64, "max_long_side": 96}
    assert got.arch["backbone"]["sparse"]["temperature"] < 1.0
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad(), sampling_mode("deterministic"):
        a, b = ref(x), got(x)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_init_from_dense_run(tmp_path):
    data = write_dataset(str(tmp_path / "data"))
    dense = str(tmp_path / "dense")
    train.train(args_for(data, dense, "--arch", "resnet18-fpn-detseg", "--lam", "0",
                         "--iters", "2", "--val-every", "100"))
    ckpt = os.path.join(dense, "checkpoint.pt")
    categories = train.Dataset(data).coco["categories"]
    ft_args = args_for(data, str(tmp_path / "ft"))
    sparse = train.build(ft_args, categories)
    fresh = {k: v.clone() for k, v in sparse.state_dict().items()}
    missing = train.init_from(sparse, ckpt, ft_args)
    assert ft_args.t0 == 1.0   # a dense run has no temperature to carry
    # everything but the sampling modules comes from the dense run
    assert missing and all(".mask" in k or ".interp" in k for k in missing), missing
    weights = torch.load(ckpt)["model"]
    for k, v in sparse.state_dict().items():
        assert torch.equal(v, weights[k] if k not in missing else fresh[k]), k
    # a run with other sizes is refused, not silently half-loaded
    other = train.build(args_for(data, str(tmp_path / "x"), "--widths", "8,8,8,16"), categories)
    try:
        train.init_from(other, ckpt, ft_args)
        assert False, "a checkpoint of other sizes was accepted"
    except ValueError as e:
        assert "does not fit" in str(e)
    # and --init-from trains from those weights
    run = str(tmp_path / "ft")
    train.train(args_for(data, run, "--init-from", ckpt, "--iters", "1", "--val-every", "100"))
    assert read_log(run)[0]["iteration"] == 1


def test_init_from_sparse_run_carries_temperature(tmp_path):
    data = write_dataset(str(tmp_path / "data"))
    first = str(tmp_path / "first")
    train.train(args_for(data, first, "--iters", "2", "--final-temperature", "0.5",
                         "--val-every", "100"))
    ckpt = os.path.join(first, "checkpoint.pt")
    reached = torch.load(ckpt)["temperatures"]
    assert all(abs(t - 0.5) < 1e-4 for t in reached), reached
    # the continuation starts where the first run stopped and decays from there
    args = args_for(data, str(tmp_path / "next"), "--iters", "4")
    model = train.build(args, train.Dataset(data).coco["categories"])
    train.init_from(model, ckpt, args)
    assert args.t0 == max(reached)
    for p, t in zip(train.predictors(model), reached):
        assert float(p.temperature) == t
        assert abs(p.gamma - (0.05 / t) ** (1 / 4)) < 1e-9
    run = str(tmp_path / "next")
    train.train(args_for(data, run, "--init-from", ckpt, "--iters", "4", "--val-every", "100"))
    temps = [r["temperature"] for r in read_log(run) if "temperature" in r]
    assert 0.0499 < temps[-1] < temps[0] < 0.5, temps
    assert torch.load(os.path.join(run, "checkpoint.pt"))["temperature_schedule"]["t0"] == max(reached)
    # --initial-temperature starts there instead
    run = str(tmp_path / "restart")
    train.train(args_for(data, run, "--init-from", ckpt, "--iters", "4", "--val-every", "100",
                         "--initial-temperature", "0.2", "--final-temperature", "0.1"))
    temps = [r["temperature"] for r in read_log(run) if "temperature" in r]
    assert [round(t, 6) for t in temps] == [round(0.2 * 0.5 ** (i / 4), 6) for i in (1, 2, 3, 4)]


def test_initial_temperature_from_scratch(tmp_path):
    data = write_dataset(str(tmp_path / "data"))
    run = str(tmp_path / "run")
    train.train(args_for(data, run, "--iters", "2", "--initial-temperature", "0.3",
                         "--final-temperature", "0.3"))
    temps = [r["temperature"] for r in read_log(run) if "temperature" in r]
    assert all(abs(t - 0.3) < 1e-6 for t in temps), temps
    with pytest.raises(SystemExit):
        args_for(data, run, "--initial-temperature", "0")


def test_density_target(tmp_path):
    """--density-target D logs lambda * |mean probability - D|: with the
    learning rate 0 the masks keep their init (weight 0, bias 3), so every
    probability is sigmoid(3) once lambda has warmed up."""
    data = write_dataset(str(tmp_path / "data"))
    run = str(tmp_path / "run")
    train.train(args_for(data, run, "--density-target", "0.25", "--lam", "0.3", "--lr", "0"))
    steps = [r for r in read_log(run) if "loss" in r]
    expect = 0.3 * (float(torch.sigmoid(torch.tensor(3.0))) - 0.25)
    assert all(abs(r["loss_sparsity"] - expect) < 1e-5 for r in steps[2:]), steps


def test_density_ramp(tmp_path):
    """--density-ramp 4: the logged target falls 1, 0.8125, 0.625, 0.4375
    then stays at D = 0.25, and the sparsity loss follows it (masks at their
    init, sigmoid(3), with the learning rate 0; lambda warms up over 2)."""
    data = write_dataset(str(tmp_path / "data"))
    run = str(tmp_path / "run")
    train.train(args_for(data, run, "--density-target", "0.25", "--density-ramp", "4",
                         "--lam", "0.3", "--lr", "0"))
    steps = [r for r in read_log(run) if "loss" in r]
    targets = [1.0, 0.8125, 0.625, 0.4375, 0.25, 0.25]
    assert [r["density_target"] for r in steps] == pytest.approx(targets)
    p = float(torch.sigmoid(torch.tensor(3.0)))
    lam = [0.0, 0.15] + [0.3] * 4
    for r, t, l in zip(steps, targets, lam):
        assert abs(r["loss_sparsity"] - l * abs(p - t)) < 1e-5, r
    with pytest.raises(SystemExit):
        args_for(data, run, "--density-ramp", "4")


def test_distill_from_a_dense_run(tmp_path):
    """--distill adds weight * loss_distill to the loss; the teacher is the
    dense run's network, frozen; a teacher with another input is refused."""
    data = write_dataset(str(tmp_path / "data"))
    dense = str(tmp_path / "dense")
    train.train(args_for(data, dense, "--arch", "resnet18-fpn-detseg", "--lam", "0",
                         "--iters", "2", "--val-every", "100"))
    ckpt = os.path.join(dense, "checkpoint.pt")
    run = str(tmp_path / "ft")
    train.train(args_for(data, run, "--init-from", ckpt, "--distill", ckpt,
                         "--distill-weight", "0.5", "--iters", "3", "--val-every", "100"))
    task_names = ("loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg",
                  "loss_semantic")
    for r in (r for r in read_log(run) if "loss" in r):
        assert r["loss_distill"] > 0
        expect = sum(r[k] for k in task_names) + 0.5 * r["loss_distill"] + r["loss_sparsity"]
        assert abs(r["loss"] - expect) < 1e-4 * r["loss"], r
    categories = train.Dataset(data).coco["categories"]
    other = train.build(args_for(data, str(tmp_path / "x"), "--short-side", "48"), categories)
    with pytest.raises(ValueError, match="another input rule"):
        train.load_teacher(ckpt, other)


def test_feature_distillation_value():
    from collections import OrderedDict
    from stipple_train.det_losses import feature_distillation
    t = OrderedDict(p2=torch.full((1, 2, 2, 2), 2.0), p3=torch.full((1, 1, 1, 1), -1.0))
    s = OrderedDict(p2=torch.full((1, 2, 2, 2), 1.0), p3=torch.full((1, 1, 1, 1), -1.0))
    # p2: 8 * 1 / (8 * 4) = 0.25; p3: 0; mean 0.125
    assert abs(float(feature_distillation(s, t)) - 0.125) < 1e-7
