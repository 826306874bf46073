"""Training recipes: JSON files of settings (train/recipes/) that a tool
reads with --config FILE; flags given on the command line override them.

    {"tool": "stipple_train.train", "arch": "resnet18-fpn-detseg", "lam": 0}

Design: a recipe's keys are the tool's own argparse destinations (the flag
--lam-warmup is the key "lam_warmup") and its values what the flag takes,
in JSON types (a switch is true or false, a flag of several values a
list), so every setting has one definition: the tool's parser. "tool" names
the module the recipe is for (the parser's prog). The checked settings
become the parser's defaults and argparse then reads the command line as
usual, so a flag always wins. A key the tool does not know, a per-run
setting (data, output and checkpoint paths: the tool's per_run names),
a missing or wrong "tool", or a value of the wrong type is an error that
names the file and the key.
"""
import argparse
import difflib
import json

# JSON types a value may have, by the flag's argparse type
_JSON_TYPES = {int: int, float: (int, float), str: str, None: str}


class RecipeError(ValueError):
    pass


def settable(parser, per_run=()):
    """The actions a recipe may set for parser, by destination."""
    # argparse has no public list of a parser's actions
    return {a.dest: a for a in parser._actions
            if a.option_strings and a.dest not in ("help", "config") + tuple(per_run)}


def _convert(value, action):
    """value as argparse would store it, or None when it does not fit."""
    def one(v):
        if isinstance(v, bool) or not isinstance(v, _JSON_TYPES[action.type]):
            return None
        if action.choices is not None and v not in action.choices:
            return None
        return float(v) if action.type is float else v
    if action.nargs == 0:   # a switch
        return value if isinstance(value, bool) else None
    if action.nargs is None:
        return one(value)
    items = [one(v) for v in value] if isinstance(value, list) else [None]
    return None if None in items else items


def load(path, parser, per_run=()):
    """The settings of the recipe at path, checked against parser."""
    with open(path) as f:
        try:
            recipe = json.load(f)
        except json.JSONDecodeError as e:
            raise RecipeError("%s: not JSON (%s)" % (path, e)) from None
    if not isinstance(recipe, dict):
        raise RecipeError("%s: a recipe is a JSON object" % path)
    if recipe.get("tool") != parser.prog:
        raise RecipeError('%s: "tool" must be "%s" (it is %s)'
                          % (path, parser.prog, json.dumps(recipe.get("tool"))))
    actions = settable(parser, per_run)
    settings = {}
    for key, value in recipe.items():
        if key == "tool":
            continue
        if key in per_run:
            raise RecipeError("%s: %r is per run: give --%s on the command line"
                              % (path, key, key.replace("_", "-")))
        if key not in actions:
            near = difflib.get_close_matches(key, actions, 1)
            raise RecipeError("%s: unknown key %r for %s (%s)" % (
                path, key, parser.prog,
                "did you mean %r?" % near[0] if near else "it knows " + ", ".join(sorted(actions))))
        converted = _convert(value, actions[key])
        if converted is None:
            raise RecipeError("%s: %r cannot be %s for %s"
                              % (path, key, json.dumps(value), "/".join(actions[key].option_strings)))
        settings[key] = converted
    return settings


def parse_args(parser, argv=None, per_run=()):
    """Adds --config to parser and parses argv: the recipe's settings,
    then the flags over them."""
    parser.add_argument("--config", metavar="RECIPE",
                        help="a JSON recipe (train/recipes/); flags override its settings")
    first = argparse.ArgumentParser(prog=parser.prog, add_help=False)
    first.add_argument("--config")
    path = first.parse_known_args(argv)[0].config
    if path:
        try:
            parser.set_defaults(**load(path, parser, per_run))
        except (OSError, RecipeError) as e:
            parser.error(str(e))
    return parser.parse_args(argv)
