"""The one ``facelab compare`` command that reproduces a recorded result.

A record (a ``results.json``) keeps every resolved constructor argument of each method. The command
is found by building the method from each of its presets (:mod:`facelab.presets`) with the record's
seed and ``--param`` values, and keeping the preset whose config is the record's: so a command is
only ever shown when it provably makes the same settings.
"""
from __future__ import annotations

import json
import shlex

from .. import methods as registry
from .. import presets

#: config keys that say how a run went, not what it was asked to do
_RUN_FACTS = ("fit_reused",)


def _recipe(config: dict) -> str:
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in _RUN_FACTS}
        return value
    return json.dumps(strip(config), sort_keys=True, default=str)


def matching_preset(name: str, config: dict, seed: int = 0, params: dict | None = None) -> str | None:
    """The preset of method ``name`` that, with ``params`` on top, builds exactly ``config``; None if none does."""
    candidates = list(presets.presets_of(name)) or [presets.DEFAULT]
    for preset in sorted(candidates, key=lambda p: (p not in presets.BUDGETS, -presets.BUDGETS.index(p)
                                                    if p in presets.BUDGETS else 0)):
        try:
            built = registry.create(name, preset=preset, seed=seed, **(params or {})).config
        except (ValueError, TypeError):
            continue
        if _recipe(json.loads(json.dumps(built, default=str))) == _recipe(config):
            return preset
    return None


def reproducing_command(name: str, results: dict) -> str | None:
    """``facelab compare --methods NAME --preset P ...`` that makes method ``name``'s entry of
    ``results`` again (the same protocol, folds, threshold, seed, preset and ``--param`` values), or
    None when no preset builds its recorded config. (How many folds run at once, ``--jobs``, is the
    machine's choice: it does not change the numbers.)"""
    entry = results["methods"][name]
    given = dict(entry.get("params", results.get("params")) or {})
    given.pop("run_dir", None)  # where checkpoints went, not what was trained
    for params in ({}, given):  # a preset alone when it makes the settings, else with the --param values given
        preset = matching_preset(name, entry["config"], results.get("seed", 0), params)
        if preset is not None:
            break
    else:
        return None
    words = ["facelab", "compare", "--methods", name]
    if results.get("protocol", "view2") != "view2":
        words += ["--protocol", results["protocol"]]
    if presets.presets_of(name):
        words += ["--preset", preset]
    for key, value in params.items():
        words += ["--param", f"{key}={json.dumps(value)}"]
    folds = results.get("folds", "all")
    if folds not in ("all", None):
        words += ["--folds", ",".join(map(str, folds))]
    if results.get("threshold", "train") != "train":
        words += ["--threshold", results["threshold"]]
    if results.get("seed", 0):
        words += ["--seed", str(results["seed"])]
    return shlex.join(words)
