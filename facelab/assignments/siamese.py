"""Unit 3 assignment — Siamese networks: the DeepID2 contrastive (verification) loss."""
from __future__ import annotations

import numpy as np

from . import reference as ref
from .grading import Assignment, Checks, call, expect_close

checks = Checks()
DIST_ATOL = 1e-6  # distances: room for the ‖a‖² + ‖b‖² − 2a·b route


def _pairs(seed: int, n: int = 24, d: int = 6, spread: float = 0.45):
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, (n, d))
    b = a + rng.normal(0, spread, (n, d)) * rng.uniform(0.2, 2.0, (n, 1))
    same = rng.random(n) < 0.5
    same[:2] = [True, False]
    return a, b, same


@checks.add("euclidean_distance", 2, "seeded pairs")
def _(student):
    a, b, _ = _pairs(0)
    expect_close(call(student, "euclidean_distance", a, b), ref.euclidean(a, b), "distances", atol=DIST_ATOL,
                 mistakes={"values match the SQUARED distance: take the square root": ref.euclidean(a, b) ** 2})


@checks.add("euclidean_distance", 1, "identical embeddings give 0, not NaN")
def _(student):
    a = np.random.default_rng(1).normal(100, 1, (5, 4))
    expect_close(call(student, "euclidean_distance", a, a.copy()), np.zeros(5), "distance of a pair to itself",
                 atol=DIST_ATOL, hint="clip tiny negative round-off at 0 before the square root")


def _mistakes(a, b, same, m):
    d = ref.euclidean(a, b)
    expected = ref.contrastive_loss(a, b, same, m)
    return {
        "your loss swaps the two cases: did you flip the label convention? y = 1 must mean the SAME person "
        "(same pairs cost ½ d², different pairs ½ max(0, m − d)²)": ref.contrastive_loss(a, b, ~same, m),
        "the factor ½ is missing (DeepID2: ½ d² and ½ max(0, m − d)²)": 2 * expected,
        "the margin term must use the Euclidean distance d, not d²: ½ max(0, m − d)²":
            np.where(same, 0.5 * d ** 2, 0.5 * np.maximum(0, m - d ** 2) ** 2),
        "the margin term must be SQUARED: ½ max(0, m − d)²": np.where(same, 0.5 * d ** 2, 0.5 * np.maximum(0, m - d)),
        "the same-person term is ½ d² (squared distance), not ½ d": np.where(same, 0.5 * d, expected),
        "you forgot the max(0, ·): different pairs farther apart than the margin must cost 0":
            np.where(same, 0.5 * d ** 2, 0.5 * (m - d) ** 2),
    }


def _grade_loss(student, a, b, same, m, what):
    got = call(student, "contrastive_loss", a, b, same, m)
    expect_close(got, ref.contrastive_loss(a, b, same, m), what, atol=DIST_ATOL,
                 mistakes=_mistakes(a, b, np.asarray(same).astype(bool), m),
                 hint="one loss per pair, shape (n,); same=1 ⇒ ½ d², same=0 ⇒ ½ max(0, m − d)²")


@checks.add("contrastive_loss", 4, "seeded pairs around the margin (m = 1.5)")
def _(student):
    _grade_loss(student, *_pairs(2), 1.5, "contrastive loss")


@checks.add("contrastive_loss", 2, "labels given as integers 0/1 (m = 1)")
def _(student):
    a, b, same = _pairs(3)
    _grade_loss(student, a, b, same.astype(np.int64), 1.0, "contrastive loss with integer labels")


@checks.add("contrastive_loss", 2, "zero distances: same pair costs 0, different pair ½ m²")
def _(student):
    a = np.random.default_rng(4).normal(0, 1, (4, 3))
    _grade_loss(student, a, a.copy(), np.array([True, False, True, False]), 2.0, "contrastive loss at d = 0")


@checks.add("contrastive_loss", 1, "different pairs beyond the margin cost exactly 0")
def _(student):
    a = np.zeros((3, 2))
    b = np.array([[3.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    _grade_loss(student, a, b, np.zeros(3, bool), 1.0, "contrastive loss for d ≥ m")


# -- run on real data ---------------------------------------------------------------------------
def run(student, *, lfw, quick: bool = False, seed: int = 0, progress: bool = False) -> dict:
    """The student's loss on real faces: View 1 pairs embedded by a fixed seeded projection
    (whitened PCA of pairsDevTrain faces, rotated, L2-normalised). Reports the loss for same and
    different pairs, then *trains* per-dimension weights of that embedding with the student's
    loss (finite-difference gradients) and verifies pairsDevTest with the student's distance."""
    from ..data.preprocess import PreprocessConfig
    from .realdata import fit_diagonal_metric, pca_embedding, verify, view1

    margin = 1.5  # above √2, the typical distance of unrelated unit vectors: different pairs stay active
    config = PreprocessConfig(size=32)
    train, test = view1(lfw, config, per_class=150 if quick else 500, seed=seed)
    dim = 24 if quick else 64
    embed = pca_embedding(train.images, dim, seed)
    e_tr = embed(train.images)

    def losses(fn, w, data, e):
        return np.asarray(fn(e[data.a] * w, e[data.b] * w, data.same.astype(int), margin), dtype=float)

    def accuracy(dist_fn, w):
        def scores(data):
            e = embed(data.images) * w
            return -np.asarray(dist_fn(e[data.a], e[data.b]), dtype=float)
        return verify(scores, train, test)["test_accuracy"]

    ones = np.ones(dim)
    before = losses(student.contrastive_loss, ones, train, e_tr)
    steps = 25 if quick else 100
    w, history = fit_diagonal_metric(lambda w: losses(student.contrastive_loss, w, train, e_tr).mean(), dim, steps=steps)
    w_ref, history_ref = fit_diagonal_metric(lambda w: ref.contrastive_loss(e_tr[train.a] * w, e_tr[train.b] * w,
                                                                            train.same, margin).mean(), dim, steps=steps)
    return {
        "embedding": f"whitened PCA({dim}) of the pairsDevTrain faces, seeded rotation, L2-normalised",
        "preprocess": config.to_dict(), "margin": margin, "train_pairs": len(train), "test_pairs": len(test),
        "loss_before_training": {"same": float(before[train.same].mean()), "different": float(before[~train.same].mean()),
                                 "reference_same": float(ref.contrastive_loss(e_tr[train.a], e_tr[train.b], train.same, margin)[train.same].mean()),
                                 "reference_different": float(ref.contrastive_loss(e_tr[train.a], e_tr[train.b], train.same, margin)[~train.same].mean())},
        "training": {"what": "per-dimension weights, finite-difference gradient descent on the mean loss",
                     "steps": len(history) - 1, "loss_history": history, "reference_loss_history": history_ref},
        "test_accuracy": {"before": accuracy(student.euclidean_distance, ones), "after": accuracy(student.euclidean_distance, w),
                          "reference_after": accuracy(ref.euclidean, w_ref)},
    }


ASSIGNMENT = Assignment("siamese", 3, "The DeepID2 contrastive loss (y = 1: same person)",
                        ("euclidean_distance", "contrastive_loss"), checks, run)
