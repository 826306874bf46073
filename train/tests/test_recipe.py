"""Recipes (stipple_train.recipe): every file in train/recipes/ loads with
its tool's parser; flags override a recipe; unknown keys, per-run keys,
the wrong tool or a value of the wrong type are errors naming the key."""
import glob
import json
import os

import pytest

from stipple_train import distill, recipe, train

RECIPES = os.path.join(os.path.dirname(__file__), "..", "recipes")
TOOLS = {"stipple_train.train": (train.arg_parser, train.PER_RUN),
         "stipple_train.distill": (distill.arg_parser, distill.PER_RUN)}


def write(tmp_path, doc):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(RECIPES, "*.json"))))
def test_every_recipe_loads(path):
    with open(path) as f:
        tool = json.load(f)["tool"]
    make_parser, per_run = TOOLS[tool]
    settings = recipe.load(path, make_parser(), per_run)
    assert settings, "%s sets nothing" % path


def test_flags_override_the_recipe(tmp_path):
    path = write(tmp_path, {"tool": "stipple_train.train", "lr": 0.5, "iters": 7,
                            "deterministic": True, "widths": "8,16,32,64"})
    args = train.parse_args(["--config", path, "--data", "d", "--val", "v", "--out", "o",
                             "--lr", "0.25"])
    assert args.lr == 0.25 and args.iters == 7 and args.deterministic is True
    assert args.widths == "8,16,32,64" and args.data == "d"


@pytest.mark.parametrize("doc, words", [
    ({"tool": "stipple_train.train", "lr_max": 1.0}, ["unknown key 'lr_max'"]),
    ({"tool": "stipple_train.train", "itres": 5}, ["unknown key 'itres'", "did you mean 'iters'"]),
    ({"tool": "stipple_train.train", "out": "runs/x"}, ["'out' is per run", "--out"]),
    ({"tool": "stipple_train.distill", "lr": 0.1}, ['"tool" must be "stipple_train.train"']),
    ({"tool": "stipple_train.train", "iters": "900"}, ["'iters' cannot be \"900\""]),
    ({"tool": "stipple_train.train", "iters": 9.5}, ["'iters' cannot be 9.5"]),
    ({"tool": "stipple_train.train", "deterministic": 1}, ["'deterministic' cannot be 1"]),
])
def test_bad_recipes_name_the_key(tmp_path, capsys, doc, words):
    path = write(tmp_path, doc)
    with pytest.raises(SystemExit):
        train.parse_args(["--config", path, "--data", "d", "--val", "v", "--out", "o"])
    err = capsys.readouterr().err
    for w in words:
        assert w in err, err


def test_not_a_recipe(tmp_path, capsys):
    path = tmp_path / "r.json"
    path.write_text("[1, 2]")
    with pytest.raises(SystemExit):
        train.parse_args(["--config", str(path), "--data", "d", "--val", "v", "--out", "o"])
    assert "a recipe is a JSON object" in capsys.readouterr().err
