"""The label-free training's pieces (distill.py) and the mask options it
uses (sparse.MaskPredictor): straight-through masks are binary forward and
carry a gradient; budget-mode training keeps the grid plus the best logits
at the asked density; the class distillation is 0 where student and
teacher agree and charges a skipped cell by what the teacher saw there;
moving the biases for "auto" reaches the asked density."""
import torch

from stipple_train import distill, nanodet
from stipple_train.sparse import MaskPredictor, grid_mask

HEAD = {"num_classes": 3, "reg_max": 2}


def predictor(**options):
    torch.manual_seed(0)
    m = MaskPredictor(4, 1, 3, 0)
    m.weight.data.normal_(0, 0.5)
    m.bias.data.zero_()
    m.noise_free = True
    for k, v in options.items():
        setattr(m, k, v)
    return m.train()


def test_straight_through_is_binary_with_a_gradient():
    m = predictor(straight_through=True)
    x = torch.randn(2, 4, 12, 15)
    mask, _ = m(x)
    grid = grid_mask(12, 15, 3).view(1, 1, 12, 15)
    want = torch.maximum((m.logits(x) >= 0).float(), grid)
    assert torch.equal(mask.detach(), want)
    (mask * torch.randn_like(mask)).sum().backward()
    assert m.weight.grad.abs().sum() > 0


def test_budget_training_keeps_the_grid_and_the_best_logits():
    m = predictor(train_density=0.4)
    x = torch.randn(2, 4, 12, 15)
    mask, _ = m(x)
    logits = m.logits(x).detach()
    grid = grid_mask(12, 15, 3).bool()
    for i in range(2):
        kept = mask[i, 0].detach().bool()
        assert kept.sum() == int(0.4 * 12 * 15) and kept[grid].all()
        assert logits[i, 0][kept & ~grid].min() >= logits[i, 0][~kept].max()
    mask.sum().backward()
    assert m.weight.grad.abs().sum() > 0


def test_class_distillation_is_zero_when_agreeing_and_charges_skips():
    torch.manual_seed(1)
    k, r = HEAD["num_classes"], HEAD["reg_max"] + 1
    t = torch.randn(1, k + 4 * r, 5, 6)
    cls, box = distill.head_losses(HEAD, [t.clone()], [t], [None])
    assert float(cls) < 1e-6 and float(box) < 1e-5
    skip_all = torch.zeros(1, 1, 5, 6)
    cls_skipped, _ = distill.head_losses(HEAD, [t.clone()], [t], [skip_all])
    # a skipped cell scores 0: about 13.8 * teacher score^3 a class
    want = (13.8155 * torch.sigmoid(t[:, :k]) ** 3).sum(1).mean()
    assert abs(float(cls_skipped) - float(want)) < 0.05 * float(want)


def test_auto_density_moves_the_biases():
    from stipple_train.export import load_model
    teacher = load_model("models/nanodet-g/1/model.stp").float().eval()
    student = nanodet.sparse_copy(teacher, stages=[1, 1, 1, 1], head=[1, 1, 1], window=7,
                                  grid_stride=5, temperature=1.0)
    arch = student.arch
    torch.manual_seed(2)
    for m in nanodet.masks_of(student):
        m.weight.data.normal_(0, 0.01)
    photos = [torch.randint(0, 256, (3, 240, 320), dtype=torch.uint8) for _ in range(2)]
    distill.set_auto_density(student, photos, arch["input"], 0.5)
    densities = distill.calibrate(student, photos, arch["input"])
    assert all(0.45 < d < 0.6 for d in densities), densities
