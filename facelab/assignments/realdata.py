"""Small real-LFW inputs for ``facelab assignment run``: View 1 pairs (a seeded subset in quick
mode) preprocessed straight from the JPEGs, so a run costs seconds, not a full-data cache."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.lfw import LFW, PairSet
from ..data.preprocess import PreprocessConfig, preprocess_files
from . import reference as ref


def balanced_subset(pairs: PairSet, per_class: int | None, seed: int, *, per_fold: bool = False) -> PairSet:
    """``per_class`` same and ``per_class`` different pairs (of every fold if ``per_fold``),
    seeded; ``None`` keeps all."""
    if per_class is None:
        return pairs
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(pairs), dtype=bool)
    groups = np.unique(pairs.fold) if per_fold else [None]
    for g in groups:
        in_group = np.ones(len(pairs), bool) if g is None else pairs.fold == g
        for value in (True, False):
            idx = np.flatnonzero(in_group & (pairs.same == value))
            keep[rng.choice(idx, size=min(per_class, len(idx)), replace=False)] = True
    return pairs.subset(keep)


def load_images(lfw: LFW, positions: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """uint8 (n, h, w, c) images at ``positions`` of the LFW index, preprocessed under ``config``."""
    paths = [lfw.layout.images[i].path for i in positions]
    images, _ = preprocess_files(paths, config, progress=False, workers=2)
    return images


@dataclass
class PairData:
    """Pairs with their images: ``images[a[i]]`` and ``images[b[i]]`` form pair i."""

    images: np.ndarray  # uint8 (n_unique, h, w, c)
    labels: np.ndarray  # identity label of each image (n_unique,)
    a: np.ndarray
    b: np.ndarray
    same: np.ndarray
    fold: np.ndarray

    def __len__(self) -> int:
        return len(self.same)


def pair_data(lfw: LFW, pairs: PairSet, config: PreprocessConfig) -> PairData:
    unique, inverse = np.unique(np.concatenate([pairs.index_a, pairs.index_b]), return_inverse=True)
    n = len(pairs)
    return PairData(load_images(lfw, unique, config), lfw.labels[unique], inverse[:n], inverse[n:],
                    pairs.same.astype(bool), pairs.fold)


def view1(lfw: LFW, config: PreprocessConfig, *, per_class: int | None, seed: int) -> tuple[PairData, PairData]:
    """View 1 (pairsDevTrain, pairsDevTest), each reduced to ``per_class`` same/different pairs."""
    train = balanced_subset(lfw.pairs("view1-train"), per_class, seed)
    test = balanced_subset(lfw.pairs("view1-test"), per_class, seed + 1)
    return pair_data(lfw, train, config), pair_data(lfw, test, config)


def verify(scores, threshold_set: PairData, test_set: PairData) -> dict:
    """Verification of a run's pair scores by the answer key's rule (:mod:`.reference`), the same in every
    assignment: ``scores(pair_data)`` → one similarity per pair; the threshold that maximises accuracy on
    ``threshold_set``, the accuracy at that threshold and the AUC on ``test_set``."""
    s_thr, s_test = scores(threshold_set), scores(test_set)
    t, thr_accuracy = ref.best_threshold_and_accuracy(s_thr, threshold_set.same)
    return {"threshold": t, "train_accuracy": thr_accuracy, "test_accuracy": ref.accuracy_at(s_test, test_set.same, t),
            "test_auc": ref.roc_auc(s_test, test_set.same)}


def flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float64)


def pca_embedding(train_images: np.ndarray, dim: int, seed: int):
    """A fixed linear embedding of real faces: PCA (fitted on ``train_images``) whitened, then a
    seeded random rotation — the stand-in for a trained network when grading a loss on real data.
    Returns ``embed(images) -> (n, dim)`` L2-normalised."""
    X = flat(train_images)
    mean = X.mean(0)
    _, s, vt = np.linalg.svd(X - mean, full_matrices=False)
    dim = min(dim, len(s))
    scale = s[:dim] / np.sqrt(max(len(X) - 1, 1))
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))

    def embed(images):
        e = ((flat(images) - mean) @ vt[:dim].T / scale) @ q
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)

    return embed


def fit_diagonal_metric(loss, dim: int, *, steps: int, lr: float = 0.05, h: float = 1e-4) -> tuple[np.ndarray, list]:
    """Learn per-dimension weights w (embedding x ↦ x ⊙ w) by gradient descent on ``loss(w)``,
    with central finite-difference gradients — so any NumPy loss a student writes can train,
    no autodiff needed. Steps are normalised (‖Δw‖ = lr). Returns (w, loss history)."""
    w = np.ones(dim)
    history = [float(loss(w))]
    eye = np.eye(dim) * h
    for _ in range(steps):
        grad = np.array([(loss(w + eye[j]) - loss(w - eye[j])) / (2 * h) for j in range(dim)])
        norm = np.linalg.norm(grad)
        if not np.isfinite(norm) or norm == 0:
            break
        w = w - lr * grad / norm
        history.append(float(loss(w)))
    return w, history
