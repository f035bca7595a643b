"""``facelab train METHOD ...``: train one deep method on LFW training people and save it.

The CLI parses arguments and calls :func:`train_method`; nothing here parses ``sys.argv``.
Outputs in ``out``: ``run/`` (checkpoint.npz, TensorBoard ``logs/``, history.json — running the
same command again resumes from the checkpoint), ``model.keras`` + ``model.keras.json`` (the
embedding network and the method config) and ``train.json`` (budget: epochs, seconds, device).
Running it again with more ``--epochs`` continues the finished run. One ``out`` holds one method:
training another method into it is refused before anything is trained (its ``model.keras`` would
replace the first's).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .. import io, methods, presets
from ..data import LFW
from .training.devices import join_hosts

PEOPLE = ("view1", "all")


def training_people(lfw: LFW, people: str = "view1") -> np.ndarray:
    """Image positions of the training people: ``view1`` = peopleDevTrain.txt, ``all`` = every image."""
    if people == "view1":
        return lfw.people_indices(lfw.people_folds("view1-train")[0])
    if people == "all":
        return np.arange(len(lfw))
    raise ValueError(f"people must be one of {PEOPLE}, got {people!r}")


def methods_in(out: Path) -> set[str]:
    """The methods a ``facelab train`` folder holds: the saved model's (``train.json``) and those with
    a run folder (a training that was interrupted before it saved a model)."""
    found = {d.name for d in (out / "run").iterdir() if d.is_dir()} if (out / "run").is_dir() else set()
    try:
        found.add(json.loads((out / "train.json").read_text())["method"])
    except (OSError, ValueError, KeyError, TypeError):  # none yet, or unreadable: the run folders say it
        pass
    return found


def train_method(name: str, out, *, data_dir=None, people: str = "view1", quick: bool = False, seed: int = 0,
                 epochs: int | None = None, params: dict | None = None, progress: bool = True,
                 preset: str | None = None) -> dict:
    """Fit method ``name`` (a registered deep method) on LFW ``people`` and save it under ``out``.

    ``preset`` is the training recipe (:mod:`facelab.presets`; default ``class``, ``quick`` with
    ``quick``); ``params`` change single values of it (``{"backbone": "resnet", "batch_size": 128}``).
    Returns the ``train.json`` record.
    """
    spec = methods.spec(name)
    if spec.kind == "classical":
        raise ValueError(f"{name} is a classical method; `facelab train` trains deep methods "
                         f"({', '.join(methods.available('deep'))})")
    out = Path(out)
    others = sorted(methods_in(out) - {name})
    if others:
        raise ValueError(f"{out} already holds a {' and a '.join(others)} model; `facelab train` keeps one method "
                         f"per --out folder (its model.keras would be replaced): train {name} into another folder, "
                         f"e.g. --out {out.parent / f'{out.name}-{name}'}")
    kwargs = dict(params or {})
    join_hosts()  # a multi-host run (KERAS_DISTRIBUTION_* variables), before anything runs on a device
    if epochs is not None:
        kwargs["epochs"] = epochs
    method = methods.create(name, preset=presets.chosen_name(preset, quick), seed=seed, run_dir=str(out / "run"),
                            progress=progress, **kwargs)
    lfw = LFW(data_dir, progress=progress)
    index = training_people(lfw, people)
    images = lfw.load_images(method.preprocess)[index]
    labels = lfw.labels[index]
    t0 = time.perf_counter()
    method.fit(images, labels)
    seconds = time.perf_counter() - t0
    model_path = method.save(out / "model.keras")
    record = {"method": name, "preset": method.preset, "config": method.config, "people": people, "images": int(len(index)),
              "identities": int(len(np.unique(labels))), "fit_seconds": seconds,
              "device": method.training_.device, "epochs_run_this_call": method.training_.epochs_run,
              "resumed_from": method.training_.resumed_from, "run_dir": method.fit_dir_, "model": str(model_path)}
    io.write_json(out / "train.json", record)
    return record
