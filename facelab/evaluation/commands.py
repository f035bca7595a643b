"""The one ``facelab compare`` command that reproduces a recorded result.

A record (a ``results.json``) keeps every resolved constructor argument of each method. The command
is found by building the method from each of its presets (:mod:`facelab.presets`) and keeping the
preset that needs the fewest ``--param`` changes to make the recorded config; the command is
shown only when building it gives exactly that config, so it provably makes the same settings.
"""
from __future__ import annotations

import json
import shlex

from .. import methods as registry
from .. import presets

#: config keys that say how a run went or what facelab passes itself, not a --param a user gives
_NOT_PARAMS = ("fit_reused", "name", "seed", "quick", "base")


def _plain(config: dict) -> dict:
    """A config as it reads back from JSON, without the run facts."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "fit_reused"}
        return value
    return strip(json.loads(json.dumps(config, default=str)))


def _settings(config: dict) -> dict:
    """The settable values of a config: a scoring head's own and those of the network it wraps (``base``)."""
    return {k: v for k, v in {**config.get("base", {}), **config}.items() if k not in _NOT_PARAMS}


def _within(recorded, built) -> bool:
    """Whether ``built`` has every value ``recorded`` has (a setting added since the record was
    written is absent from it; the record ran with that setting's default, which ``recipe_of`` sets)."""
    if isinstance(recorded, dict) and isinstance(built, dict):
        return all(k in built and _within(v, built[k]) for k, v in recorded.items())
    return recorded == built


def recipe_of(name: str, config: dict, seed: int = 0) -> tuple[str, dict] | None:
    """``(preset, params)``: the preset of method ``name`` and the fewest ``--param`` values that
    build exactly ``config`` (a recorded one); None when none does. A setting the record lacks (it
    did not exist yet) is taken at its constructor default, which is how that run behaved."""
    recorded, wanted = _plain(config), _settings(_plain(config))
    accepted, defaults = registry.accepted_parameters(name), _plain(registry.parameter_defaults(name))
    found = []
    for preset in list(presets.presets_of(name)) or [presets.DEFAULT]:
        try:
            built = _settings(_plain(registry.create(name, preset=preset, seed=seed).config))
        except (ValueError, TypeError):
            continue
        params = {k: v for k, v in wanted.items() if built.get(k, v) != v or k not in built}
        params.update({k: defaults[k] for k, v in built.items() if k not in wanted and k in defaults and v != defaults[k]})
        if set(params) - accepted:
            continue
        try:
            if not _within(recorded, _plain(registry.create(name, preset=preset, seed=seed, **params).config)):
                continue
        except (ValueError, TypeError):
            continue
        rank = presets.BUDGETS.index(preset) if preset in presets.BUDGETS else -1
        found.append((len(params), -rank, preset, params))
    if not found:
        return None
    _, _, preset, params = min(found, key=lambda f: f[:2])
    return preset, params


def _param_words(params: dict) -> list[str]:
    return [word for key, value in params.items() for word in ("--param", f"{key}={json.dumps(value)}")]


def reproducing_command(name: str, results: dict) -> str | None:
    """``facelab compare --methods NAME --preset P ...`` that makes method ``name``'s entry of
    ``results`` again (the same protocol, folds, threshold, seed, preset and settings), or None when
    no preset and ``--param`` values build its recorded config. (How many folds run at once,
    ``--jobs``, is the machine's choice: it does not change the numbers.)"""
    seed = results.get("seed", 0)
    config = results["methods"][name].get("config")
    if config is None or name not in registry.available():  # a record without settings, or of a method not registered here
        return None
    recipe = recipe_of(name, config, seed)
    if recipe is None:
        return None
    preset, params = recipe
    words = ["facelab", "compare", "--methods", name]
    if not str(results.get("data_variant", "lfw")).startswith("lfw"):  # a split face folder (AT&T, one's own)
        words += ["--data-dir", results["data_root"]]
    if results.get("fit_data_root"):  # LFW as the quick start puts it, wherever this record's copy was
        lfw = str(results.get("fit_data_variant", "")).startswith("lfw")
        words += ["--fit-data", "data" if lfw else results["fit_data_root"]]
    if results.get("protocol", "view2") != "view2":
        words += ["--protocol", results["protocol"]]
    if presets.presets_of(name):
        words += ["--preset", preset]
    words += _param_words(params)
    folds = results.get("folds", "all")
    if folds not in ("all", None):
        words += ["--folds", ",".join(map(str, folds))]
    if results.get("threshold", "train") != "train":
        words += ["--threshold", results["threshold"]]
    if seed:
        words += ["--seed", str(seed)]
    return shlex.join(words)


def reproducing_disentangle_command(results: dict) -> str | None:
    """``facelab disentangle --preset P --protocol ... --param ...`` that trains the GAN disentangler of a
    ``facelab disentangle`` record with its settings again under today's presets (a record keeps the
    command that ran, which names the preset of its day), or None when no preset and ``--param`` values
    build its recorded config. The sub-vector a record's config names (``part``) is not a setting of the
    training: one training serves every part."""
    config = {k: v for k, v in results["config"].items() if k != "part"}
    seed = results.get("seed", config.get("seed", 0))
    recipe = recipe_of(config.get("name", "gan-disentangler"), config, seed)
    if recipe is None:
        return None
    preset, params = recipe
    words = ["facelab", "disentangle", "--preset", preset, "--protocol", results.get("protocol", "view1")]
    words += _param_words({k: v for k, v in params.items() if k != "part"})
    if seed:
        words += ["--seed", str(seed)]
    if "reference" in results.get("identity_transfer", {}):
        words += ["--reference", results["identity_transfer"]["reference"]["method"]]
    return shlex.join(words)
