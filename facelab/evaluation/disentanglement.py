"""The GAN disentangler measured on LFW: verification with each sub-vector of its code (Browatzki &
Wallraven, Table 2) through the one evaluator, and every measurement of :mod:`facelab.generative.gan_disentangler`
in one JSON (``facelab disentangle``). The method and its per-model measurements live in that package;
this module only drives the evaluator and gathers the numbers."""
from __future__ import annotations

import json
import time

import keras
import numpy as np

from .. import io
from ..base import FaceMethod
from ..data.lfw import LFW
from ..generative.gan_disentangler import (BUDGETS, GanDisentangler, identity_transfer, pose_error,
                                           reconstruction_rmse, transfer_people)
from ..metrics import get_similarity
from .protocols import verification_splits
from .report import device_description
from .runner import fit_method, nearest_class_mean, verify_each


def verification_by_part(lfw, *, protocol: str = "view1", parts=("id", "noid", "pose", "style"), folds=None,
                         progress: bool = False, after_stage=None, **method_kwargs) -> tuple[dict, GanDisentangler]:
    """LFW verification with each sub-vector of f (Browatzki & Wallraven, Table 2) through
    :func:`~facelab.evaluation.runner.verify_each`, as ``facelab compare`` runs its methods; one model is trained
    per split and read by every part (:class:`~facelab.shared_fits.SharedFits`; with
    ``run_dir``, each split trains in its own folder, so a killed run resumes split by split). Returns
    ``({part: summary}, the fitted model of the last split)``. ``after_stage(stage, model)`` is called
    after each training stage (:attr:`GanDisentangler.after_stage`)."""
    def factory(part):
        def make():
            m = GanDisentangler(part=part, **method_kwargs)
            m.after_stage = after_stage
            return m
        return make

    results = {part: result for part, result, _ in
               verify_each({part: factory(part) for part in parts}, lfw, protocol, progress=progress, folds=folds)}
    return {part: r.summary() for part, r in results.items()}, results[parts[-1]].last_fitted


#: identity transfer is measured on this many draws of 12 people (one draw moves in steps of one person)
TRANSFER_DRAWS = 10


class _AsItIs(FaceMethod):
    """One sub-vector of a model as it is between two training stages, for the evaluator: its fit
    changes nothing (and, being quick, is never shared between methods)."""

    kind = "classical"
    similarity = "cosine"

    def __init__(self, model: GanDisentangler, part: str):
        super().__init__(model.preprocess, seed=model.seed)
        self.model, self.part, self.name = model, part, f"{model.name} ({part}, as trained so far)"

    def embed(self, images):
        return self.model.embed(images, self.part)


def _verification(table: dict) -> dict:
    return {p: {k: s[k] for k in ("accuracy_mean", "accuracy_se", "auc")} for p, s in table.items()}


def _model_measurements(model: GanDisentangler, images, labels, seed: int, *, stage: int = 3) -> dict:
    """Reconstruction RMSE, and from stage 2 on (when f exists) pose error and identity transfer, on held-out images."""
    rmse = reconstruction_rmse(model, images)
    if stage == 1:
        return {"reconstruction_rmse": {k: v for k, v in rmse.items() if k != "disentangled"}}
    transfer = identity_transfer(model, images, labels, seed=seed, draws=TRANSFER_DRAWS)
    return {"reconstruction_rmse": rmse, "pose_error": pose_error(model, images[:300]),
            "identity_transfer": {k: v for k, v in transfer.items() if k not in ("grid", "sources", "targets")}}


def reference_identification(lfw, protocol: str, name: str, preprocess, *, seed: int = 0,
                             draws: int = TRANSFER_DRAWS) -> dict:
    """Identity transfer's ceiling for another recogniser: the registered method ``name``, fitted on the
    last split's training people and reading the same faces as the disentangler (``preprocess``, its
    size and crop), identifies the real source faces of the same ``draws`` draws of people
    (:func:`~facelab.generative.gan_disentangler.transfer_people`) by the same rule, the nearest mean
    of each person's other images under its own similarity. Beside f_id's ceiling it says whether the
    people are hard to tell apart or f_id is the weak reader."""
    from .. import methods

    split, held = _last_split_and_its_test_images(lfw, protocol)
    factory = lambda: methods.create(name, seed=seed, preprocess=preprocess)
    images = lfw.load_images(factory().preprocess)
    method = fit_method(factory, images[split.train_images], lfw.labels[split.train_images]).method
    embeddings, labels = np.asarray(method.embed(images[held])), lfw.labels[held]
    rates = []
    for draw in range(draws):
        chosen = transfer_people(labels, seed=draw)
        first = np.array([np.flatnonzero(labels == p)[0] for p in chosen])
        gallery = np.setdiff1d(np.flatnonzero(np.isin(labels, chosen)), first)
        sources = first[:len(chosen) // 2]
        found = nearest_class_mean(embeddings[gallery], labels[gallery], embeddings[sources],
                                   get_similarity(method.similarity))
        rates.append(float(np.mean(found == labels[sources])))
    return {"method": name, "preprocess": method.preprocess.to_dict(), "real_source_nearest_is_source": rates,
            "real_source_mean": float(np.mean(rates)),
            "se": float(np.std(rates, ddof=1) / np.sqrt(draws)) if draws > 1 else float("nan")}


def _last_split_and_its_test_images(lfw, protocol: str):
    """The split the measurements use (View 1's one, View 2's last) and the images of its test pairs,
    people never trained on."""
    split = verification_splits(lfw, protocol)[-1]
    return split, np.unique(np.concatenate([split.test_pairs.index_a, split.test_pairs.index_b]))


def measure(lfw, *, protocol: str = "view1", seed: int = 0, reference: str | None = None, **settings) -> dict:
    """Every measurement of the disentangler in one call: verification per sub-vector, reconstruction RMSE,
    pose error and identity transfer on the images of the last split's test pairs (people never
    trained on). On View 1 (one split) the same measurements are also taken after stages 1 and 2
    (``after_stage``; after stage 1 only z exists): which stage gains or loses what. ``reference``: a
    registered method whose ceiling on identity transfer's draws is measured beside f_id's
    (:func:`reference_identification`). ``settings`` go to
    :class:`~facelab.generative.gan_disentangler.GanDisentangler`."""
    t0 = time.perf_counter()
    _, held = _last_split_and_its_test_images(lfw, protocol)
    stages: dict = {}

    def after_stage(stage, model):
        if stage == 3:
            return
        parts = ("z",) if stage == 1 else ("id", "noid", "pose", "style", "z")
        table = {p: r.summary() for p, r, _ in
                 verify_each({p: lambda p=p: _AsItIs(model, p) for p in parts}, lfw, protocol, progress=False)}
        images = lfw.load_images(model.preprocess)
        stages[f"after_stage{stage}"] = {"verification": _verification(table),
                                         **_model_measurements(model, images[held], lfw.labels[held], seed, stage=stage)}

    table, model = verification_by_part(lfw, protocol=protocol, seed=seed,
                                        after_stage=after_stage if protocol == "view1" else None, **settings)
    images = lfw.load_images(model.preprocess)
    measured = _model_measurements(model, images[held], lfw.labels[held], seed)
    if reference:
        reading = reference_identification(lfw, protocol, reference, model.preprocess, seed=seed)
        measured["identity_transfer"]["reference"] = reading
    return {"protocol": protocol, "config": model.config, "verification": _verification(table), **measured,
            **({"stages": stages} if stages else {}),
            "pose_targets_found_fraction": model.pose_found_fraction_,
            "dx_wins_epochs": model.dx_wins_epochs_, "seconds": time.perf_counter() - t0}


def disentangle(preset: str, *, protocol: str = "view1", data_dir=None, run_dir=None, out=None, seed: int = 0,
                command: str = "facelab disentangle", params: dict | None = None, reference: str | None = None) -> dict:
    """``facelab disentangle``: :func:`measure` with the method's preset ``preset`` (quick, class or full;
    see ``facelab methods``) and ``params`` changing single settings on top of it; the preset, device,
    Keras backend and ``command`` (the command line that ran) are added, and the whole is also written
    to ``out`` as JSON (atomically) when given."""
    if preset not in BUDGETS:
        raise ValueError(f"preset must be one of {sorted(BUDGETS)}, got {preset!r}")
    if reference is not None:
        from .. import methods

        methods.spec(reference)  # a misspelt name fails now, not after the training
    result = measure(LFW(data_dir, progress=False), protocol=protocol, seed=seed, run_dir=run_dir, reference=reference,
                     **{**BUDGETS[preset], **(params or {})})
    result.update(preset=preset, device=device_description(), keras_backend=keras.backend.backend(), command=command)
    if out:
        io.write_text(out, to_json(result) + "\n")
    return result


def to_json(result: dict) -> str:
    """The JSON text ``facelab disentangle`` prints and writes."""
    return json.dumps(result, indent=1, default=float)
