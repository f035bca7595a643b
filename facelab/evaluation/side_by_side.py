"""Several methods run through the same protocol splits, keeping what the notebooks want to look at.

:func:`run_side_by_side` runs :func:`~facelab.evaluation.runner.verify_each`, the loop ``facelab
compare`` runs, on the same splits — it changes nothing in how a method is fitted or scored — and keeps
the method fitted on the *last* split, so a notebook can plot its training history and embed
people that model never saw (:func:`held_out_sample`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..data.lfw import LFW
from .protocols import VerificationSplit, verification_splits
from .report import device_description, markdown_table
from .runner import verify_each


@dataclass
class SideBySide:
    """Results of :func:`run_side_by_side`: per method, its :class:`VerificationResult`, the method
    fitted on the last split (``fitted``) and its wall time; ``split`` is that last split."""

    protocol: str
    split: VerificationSplit
    results: dict = field(default_factory=dict)  # name → VerificationResult
    fitted: dict = field(default_factory=dict)  # name → FaceMethod fitted on split.train_images
    seconds: dict = field(default_factory=dict)  # name → wall seconds (fits + embeddings + scoring)
    folds: list | None = None

    def roc_curves(self) -> dict:
        """name → (pooled test scores, same) — the input of :func:`facelab.plots.roc_figure`."""
        return {n: (r.test_scores, r.test_same) for n, r in self.results.items()}

    def histories(self) -> dict:
        """name → the Keras training history (per-epoch lists) of the last split's model, for deep methods."""
        return {n: m.training_history() for n, m in self.fitted.items() if m.training_history() is not None}

    def table(self, lfw: LFW | None = None, seed: int = 0, quick: bool = False) -> str:
        """The ``facelab compare`` Markdown table of these results."""
        results = {"protocol": self.protocol, "folds": "all" if self.folds is None else [k + 1 for k in self.folds],
                   "data_variant": lfw.variant if lfw is not None else "?", "seed": seed, "quick": quick,
                   "device": device_description(),
                   "methods": {n: {**r.summary(), "wall_seconds": self.seconds[n]} for n, r in self.results.items()}}
        return markdown_table(results)


def run_side_by_side(factories: dict, lfw: LFW, protocol: str = "view2", *, folds: list[int] | None = None,
                     log=print) -> SideBySide:
    """Evaluate each ``name → factory`` on the same ``protocol`` splits (``folds`` as in
    :func:`evaluate_verification`) and keep each method's model of the last split."""
    if not factories:
        raise ValueError("factories is empty: give at least one name → method factory")
    splits = verification_splits(lfw, protocol)
    last = splits[folds[-1]] if folds else splits[-1]
    out = SideBySide(protocol, last, folds=None if folds is None else list(folds))
    for name, result, seconds in verify_each(factories, lfw, protocol, progress=False, folds=folds):
        out.results[name], out.fitted[name], out.seconds[name] = result, result.last_fitted, seconds
        if log is not None:
            log(f"{name:>22s}: accuracy {100 * result.accuracy_mean:6.2f} ± {100 * result.accuracy_se:.2f} %  "
                f"(fit {result.fit_seconds:.1f} s, total {seconds:.1f} s)")
    return out


def held_out_sample(lfw: LFW, split: VerificationSplit, n_people: int = 10, per_person: int = 12,
                    seed: int = 0) -> np.ndarray:
    """Image positions of the ``n_people`` people with the most images among those *not* in
    ``split.train_images`` (so a model fitted on that split never saw them), at most
    ``per_person`` images each (a seeded choice)."""
    if n_people < 1 or per_person < 1:
        raise ValueError(f"n_people and per_person must be >= 1; got {n_people}, {per_person}")
    labels = lfw.labels
    unseen = np.setdiff1d(np.unique(labels), labels[split.train_images])
    counts = np.bincount(labels, minlength=len(lfw.people))[unseen]
    keep = unseen[np.argsort(-counts, kind="stable")[:n_people]]
    keep = keep[np.bincount(labels)[keep] >= 2]
    if len(keep) == 0:
        raise ValueError(f"{split.name}: no held-out person has two or more images")
    rng = np.random.default_rng(seed)
    picks = []
    for person in keep:
        members = np.flatnonzero(labels == person)
        picks.append(np.sort(rng.choice(members, size=min(per_person, len(members)), replace=False)))
    return np.concatenate(picks)
