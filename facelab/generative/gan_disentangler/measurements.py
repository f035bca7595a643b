"""What a fitted disentangler is measured by, beside verification per sub-vector (which the evaluator
does: :mod:`facelab.evaluation.disentanglement`): reconstruction error (the paper's Table 1), pose
error against the OpenCV targets and identity transfer, each a function of a fitted model and images;
and the method's presets by name (:data:`BUDGETS`), which the notebook, figures and tests train with."""
from __future__ import annotations

import numpy as np

from ... import presets
from ..pose import POSE_NAMES
from .data import pose_targets
from .method import GanDisentangler


def reconstruction_rmse(model: GanDisentangler, images) -> dict:
    """Root-mean-square pixel error on the 0–255 scale (the paper's Table 1) of ``G(E(x))``
    (``autoencoder``) and ``G(Φ⁻¹(Φ(E(x))))`` (``disentangled``); ``mean_image`` is the error of the
    held-out images' own mean image, a floor any useful model should beat."""
    x = np.asarray(images, np.float64)
    rmse = lambda r: float(np.sqrt(np.mean((x - np.asarray(r, np.float64)) ** 2)))
    return {"autoencoder": rmse(model.reconstruct(images, "z")), "disentangled": rmse(model.reconstruct(images, "f")),
            "mean_image": rmse(np.broadcast_to(x.mean(axis=0), x.shape)), "images": int(len(x))}


def pose_error(model: GanDisentangler, images) -> dict:
    """Mean absolute error of f_pose (in target units) against the OpenCV targets on the images whose
    eyes OpenCV finds, next to the error of always predicting the training mean, and the correlation."""
    target, found = pose_targets(np.asarray(images))
    pred = model.predict_pose(np.asarray(images))
    out = {"images": int(len(found)), "with_target": int(found.sum())}
    for j, name in enumerate(POSE_NAMES):
        t, p = target[found, j], pred[found, j]
        out[name] = {"mae": float(np.mean(np.abs(p - t))) if len(t) else float("nan"),
                     "mae_predict_mean": float(np.mean(np.abs(model.pose_mean_[j] - t))) if len(t) else float("nan"),
                     "pearson_r": float(np.corrcoef(p, t)[0, 1]) if len(t) > 2 and p.std() > 0 and t.std() > 0
                     else float("nan")}
    return out


def identity_transfer(model: GanDisentangler, images, labels, *, n_sources: int = 6, n_targets: int = 6,
                      seed: int = 0, draws: int = 1) -> dict:
    """Identity transfer, measured. ``n_sources`` people and ``n_targets`` other people, each with at
    least two images, are drawn (seeded); the first image of each is the source/target face, the
    others form that person's gallery entry (mean f_id). Every generated face (source f_id, target
    f_pose and f_style) is re-encoded; reported: how often its f_id is nearest to the source person's
    gallery entry (and to the target's), against chance 1/people and against how often the real source
    face is nearest to it (the ceiling: f_id's own identification of these people), the largest share
    of generated faces nearest to one person (near 1: every face is drawn as the same person), and the mean
    distance of its f_pose to the target's against the source's own distance to the target (roll
    degrees, yaw proxy), and how much the generated faces differ along the grid (:func:`grid_spread`).
    ``people_drawn``: the labels of the sources, then the targets; ``grid`` (n_sources, n_targets, h, w, c)
    holds the generated faces for plotting.

    Six source people make one draw's rate move in steps of one person's row, so with ``draws`` > 1 the
    rate is also measured on the draws of people of seeds ``0 .. draws-1`` (the same people for every
    model, whatever its own seed), each with the same number of people; ``over_draws`` gives the rate per
    draw, its mean and standard error, and the pose distances pooled over the draws' faces. Every other
    entry is the draw of ``seed``."""
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    first = _transfer_once(model, images, labels, n_sources, n_targets, seed)
    if draws == 1:
        return first
    each = [first if s == seed else _transfer_once(model, images, labels, n_sources, n_targets, s) for s in range(draws)]
    rates = [d["nearest_is_source"] for d in each]
    real = [d["real_source_nearest_is_source"] for d in each]
    # every draw's grid has the same size, so the mean of the draws' mean distances is the pooled mean
    pooled = {key: {n: float(np.mean([d[key][n] for d in each])) for n in POSE_NAMES}
              for key in ("pose_distance_to_target", "pose_distance_source_to_target")}
    return {**first, "over_draws": {"draws": draws, "nearest_is_source": rates, "mean": float(np.mean(rates)),
                                    "se": float(np.std(rates, ddof=1) / np.sqrt(draws)),
                                    "real_source_nearest_is_source": real, "real_source_mean": float(np.mean(real)),
                                    **pooled}}


def transfer_people(labels, n_sources: int = 6, n_targets: int = 6, seed: int = 0) -> np.ndarray:
    """The people of one draw of :func:`identity_transfer` (seeded): ``n_sources`` then ``n_targets``
    labels of people with at least two images. Each person's first image is the face transferred or
    identified; the others are that person's gallery entry."""
    labels = np.asarray(labels)
    people = np.flatnonzero(np.bincount(labels) >= 2)
    if len(people) < n_sources + n_targets:
        raise ValueError(f"identity_transfer needs {n_sources + n_targets} people with >= 2 images; "
                         f"the images hold {len(people)}")
    return np.random.default_rng(seed).choice(people, n_sources + n_targets, replace=False)


def _transfer_once(model: GanDisentangler, images, labels, n_sources: int, n_targets: int, seed: int) -> dict:
    images, labels = np.asarray(images), np.asarray(labels)
    chosen = transfer_people(labels, n_sources, n_targets, seed)
    first = np.array([np.flatnonzero(labels == p)[0] for p in chosen])
    gallery = np.stack([model.embed(images[np.flatnonzero(labels == p)[1:]], "id").mean(0) for p in chosen])
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    src, tgt = first[:n_sources], first[n_sources:]
    grid = model.transfer(images[src], images[tgt])  # (S, T, h, w, c)
    generated = grid.reshape(-1, *grid.shape[2:])
    nearest = np.argmax(model.embed(generated, "id") @ gallery.T, axis=1).reshape(n_sources, n_targets)
    # the ceiling: the source faces themselves (never in the gallery), identified among the same people
    real = np.argmax(model.embed(images[src], "id") @ gallery.T, axis=1)
    src_people = np.arange(n_sources)[:, None]
    tgt_people = n_sources + np.arange(n_targets)[None, :]
    pose_gen = model.predict_pose(generated).reshape(n_sources, n_targets, -1)
    pose_src, pose_tgt = model.predict_pose(images[src]), model.predict_pose(images[tgt])
    gen_to_tgt = np.abs(pose_gen - pose_tgt[None]).mean(axis=(0, 1))
    src_to_tgt = np.abs(pose_src[:, None] - pose_tgt[None]).mean(axis=(0, 1))
    return {"people": int(len(chosen)), "people_drawn": [int(p) for p in chosen], "chance": 1.0 / len(chosen),
            "nearest_is_source": float(np.mean(nearest == src_people)),
            "nearest_is_target": float(np.mean(nearest == tgt_people)),
            "real_source_nearest_is_source": float(np.mean(real == np.arange(n_sources))),
            "largest_share_of_one_person": float(np.bincount(nearest.ravel()).max() / nearest.size),
            "pose_distance_to_target": {n: float(v) for n, v in zip(POSE_NAMES, gen_to_tgt)},
            "pose_distance_source_to_target": {n: float(v) for n, v in zip(POSE_NAMES, src_to_tgt)},
            "grid_spread": grid_spread(grid), "grid": grid, "sources": images[src], "targets": images[tgt]}


def grid_spread(grid) -> dict:
    """How much a transfer grid (sources × targets × h × w × c, uint8) changes along each axis: the pixel
    standard deviation (0–255) down each column, between the sources' identities (``between_sources``), and
    along each row, between the targets' pose and style (``between_targets``), each averaged over pixels
    and over the other axis. A grid whose columns look alike has ``between_targets`` near 0."""
    g = np.asarray(grid, np.float64)
    return {"between_sources": float(g.std(axis=0).mean()), "between_targets": float(g.std(axis=1).mean())}


#: the budgets are the method's presets (facelab/presets/generative.toml): quick (the test suite's tiny
#: networks), class (the lecture's CPU budget, 32×32, 6 + 30 + 3 epochs), full (64×64, 20 + 40 + 10, a GPU job)
BUDGETS = {name: {**preset.params, **({"quick": True} if preset.quick else {})}
           for name, preset in presets.presets_of("gan-disentangler").items()}
QUICK_SETTINGS = BUDGETS["quick"]
LECTURE_SETTINGS = BUDGETS["class"]
