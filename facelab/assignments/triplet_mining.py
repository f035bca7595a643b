"""Unit 4 assignment — triplet loss with batch-hard mining (Hermans, Beyer & Leibe 2017)."""
from __future__ import annotations

import numpy as np

from . import reference as ref
from .grading import Assignment, Checks, Fail, as_array, call, expect_close

checks = Checks()
DIST_ATOL = 1e-6


def _batch(seed: int, P: int = 4, K: int = 3, d: int = 6):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (P, d))
    labels = np.repeat(np.arange(P), K)
    emb = centres[labels] + rng.normal(0, 0.6, (P * K, d))
    order = rng.permutation(P * K)
    return emb[order], labels[order] * 7 + 3  # shuffled, non-contiguous label values


def _grade_distances(student, emb, what, atol=DIST_ATOL):
    expect_close(call(student, "pairwise_distances", emb), ref.pairwise_distances(emb), what, atol=atol,
                 mistakes={"values match the SQUARED distance: take the square root (the loss of this assignment "
                           "uses the Euclidean distance, not squared)": ref.pairwise_distances(emb, squared=True)},
                 hint="with ‖a‖² + ‖b‖² − 2a·b, clip at 0 before the square root and set the diagonal to 0")


@checks.add("pairwise_distances", 2, "seeded batch (n=12)")
def _(student):
    _grade_distances(student, _batch(0)[0], "distance matrix")


@checks.add("pairwise_distances", 2, "duplicate embeddings: zeros, not NaN (tolerance 1e-5 for round-off)")
def _(student):
    emb = np.random.default_rng(1).normal(10, 1, (6, 5))
    emb = np.concatenate([emb, emb, emb[:3]])  # every row appears at least twice
    _grade_distances(student, emb, "distances with duplicate rows", atol=1e-5)


def _grade_mask(student, labels, what):
    got = call(student, "valid_positive_mask", labels)
    got = as_array(got, "valid_positive_mask", dtype=float)
    expected = ref.valid_positive_mask(labels)
    expect_close(got, expected, what, atol=0, mistakes={
        "anchor paired with itself: mask the diagonal (a valid positive is another image of the same person)":
            ref.valid_positive_mask(labels, include_diagonal=True),
        "that is the NEGATIVE mask: positives share the anchor's label": ref.negative_mask(labels)},
        hint="bool (n, n): [i, j] True ⇔ labels[i] == labels[j] and i ≠ j")


@checks.add("valid_positive_mask", 2, "seeded labels")
def _(student):
    _grade_mask(student, _batch(2)[1], "positive mask")


@checks.add("valid_positive_mask", 1, "all labels distinct: the mask is empty")
def _(student):
    _grade_mask(student, np.arange(5), "positive mask with no positives")


def _batch_all(emb, labels, margin):
    D = ref.pairwise_distances(emb)
    pos, neg = ref.valid_positive_mask(labels), ref.negative_mask(labels)
    t = margin + D[:, :, None] - D[:, None, :]
    valid = pos[:, :, None] & neg[:, None, :]
    return float(np.maximum(t, 0)[valid].mean()) if valid.any() else 0.0


def _hardest_over_all(emb, labels, margin):
    """min over every other sample (positives included) instead of over the negatives."""
    D = ref.pairwise_distances(emb)
    pos, neg = ref.valid_positive_mask(labels), ref.negative_mask(labels)
    valid = pos.any(1) & neg.any(1)
    if not valid.any():
        return 0.0
    other = ~np.eye(len(D), dtype=bool)
    per = np.maximum(0, margin + np.where(pos, D, -np.inf).max(1) - np.where(other, D, np.inf).min(1))
    return float(per[valid].mean())


def _grade_loss(student, emb, labels, margin, what):
    got = call(student, "batch_hard_triplet_loss", emb, labels, margin)
    if np.ndim(got) != 0 and np.size(got) != 1:
        raise Fail(f"{what}: return one number (the mean over valid anchors), got shape {np.shape(got)}")
    mistakes = {
        "values match the loss on SQUARED distances: use the Euclidean distance (Hermans et al. 2017 found "
        "the non-squared distance more stable)": ref.batch_hard_triplet_loss(emb, labels, margin, squared=True),
        "anchor paired with itself: an anchor without another image of its identity must be skipped — mask "
        "the diagonal": ref.batch_hard_triplet_loss(emb, labels, margin, include_diagonal=True),
        "you averaged over every anchor; anchors with no valid positive (or no negative) must be left out of "
        "the mean, not counted as 0": ref.batch_hard_triplet_loss(emb, labels, margin, average_all=True),
        "values match batch-ALL (the mean over every valid triplet): batch-hard takes, per anchor, the "
        "farthest positive and the closest negative": _batch_all(emb, labels, margin),
        "your hardest negative is searched among all samples, positives included: mask the negatives "
        "(different label)": _hardest_over_all(emb, labels, margin),
    }
    expect_close(got, ref.batch_hard_triplet_loss(emb, labels, margin), what, atol=DIST_ATOL, mistakes=mistakes,
                 hint="mean over valid anchors of max(0, m + max_p D(a,p) − min_n D(a,n)); 0.0 if no anchor is valid")


@checks.add("batch_hard_triplet_loss", 4, "seeded P×K batch (P=4, K=3, m=0.5)")
def _(student):
    _grade_loss(student, *_batch(3), 0.5, "batch-hard loss")


@checks.add("batch_hard_triplet_loss", 3, "batch with singleton identities (no valid positive)")
def _(student):
    emb, labels = _batch(4, P=3, K=3)
    rng = np.random.default_rng(40)
    # each singleton lies within the margin of another person's image: an anchor paired with itself then
    # costs m − D(a, n) > 0, so keeping the diagonal and averaging over every anchor give different numbers
    # and each mistake gets its own diagnosis
    emb = np.concatenate([emb, emb[:2] + rng.normal(0, 0.1, (2, emb.shape[1]))])
    labels = np.concatenate([labels, [100, 101]])
    _grade_loss(student, emb, labels, 1.0, "batch-hard loss with singletons")


@checks.add("batch_hard_triplet_loss", 2, "a batch with one identity (no negatives) gives 0.0")
def _(student):
    emb, _ = _batch(5, P=1, K=4)
    _grade_loss(student, emb, np.full(4, 9), 0.3, "batch-hard loss with one identity")


@checks.add("batch_hard_triplet_loss", 1, "all singletons (no positives) gives 0.0")
def _(student):
    emb, _ = _batch(6, P=5, K=1)
    _grade_loss(student, emb, np.arange(5), 0.3, "batch-hard loss with all singletons")


@checks.add("batch_hard_triplet_loss", 1, "all embeddings identical: every anchor costs the margin")
def _(student):
    _grade_loss(student, np.ones((6, 3)), np.repeat([0, 1], 3), 0.2, "batch-hard loss at zero distances")


# -- run on real data ---------------------------------------------------------------------------
def _pk_batches(labels: np.ndarray, P: int, K: int, n_batches: int, seed: int) -> list[np.ndarray]:
    """Seeded P×K batches: P identities with ≥ K images, K images each."""
    rng = np.random.default_rng(seed)
    ids, counts = np.unique(labels, return_counts=True)
    eligible = ids[counts >= K]
    batches = []
    for _ in range(n_batches):
        people = rng.choice(eligible, size=P, replace=False)
        batches.append(np.concatenate([rng.choice(np.flatnonzero(labels == p), K, replace=False) for p in people]))
    return batches


def run(student, *, lfw, quick: bool = False, seed: int = 0, progress: bool = False) -> dict:
    """The student's batch-hard loss on real faces: P×K batches of View 1 training people
    (peopleDevTrain with ≥ 4 images), embedded by a fixed seeded projection; then per-dimension
    weights of that embedding are trained with the student's loss (finite-difference gradients)
    and pairsDevTest is verified with the student's distances."""
    from ..data.preprocess import PreprocessConfig
    from .realdata import balanced_subset, fit_diagonal_metric, load_images, pair_data, pca_embedding, verify

    margin, P, K = 0.2, 8, 4
    config = PreprocessConfig(size=32)
    (train_people,) = lfw.people_folds("view1-train")
    positions = lfw.people_indices(train_people)
    counts = np.bincount(lfw.labels[positions])
    positions = positions[counts[lfw.labels[positions]] >= K]  # people with ≥ K images
    if quick:
        keep_people = np.unique(lfw.labels[positions])[: 60]
        positions = positions[np.isin(lfw.labels[positions], keep_people)]
    images, labels = load_images(lfw, positions, config), lfw.labels[positions]
    dim = 24 if quick else 64
    embed = pca_embedding(images, dim, seed)
    emb = embed(images)
    batches = _pk_batches(labels, P, K, 6 if quick else 20, seed)

    def mean_loss(fn, w):
        return float(np.mean([fn(emb[b] * w, labels[b], margin) for b in batches]))

    ones = np.ones(dim)
    steps = 20 if quick else 80
    w, history = fit_diagonal_metric(lambda w: mean_loss(student.batch_hard_triplet_loss, w), dim, steps=steps)
    w_ref, history_ref = fit_diagonal_metric(lambda w: mean_loss(ref.batch_hard_triplet_loss, w), dim, steps=steps)

    test = pair_data(lfw, balanced_subset(lfw.pairs("view1-test"), 150 if quick else None, seed), config)
    thr = pair_data(lfw, balanced_subset(lfw.pairs("view1-train"), 150 if quick else None, seed), config)

    def accuracy(w, dist_fn):
        def scores(data):
            D = np.asarray(dist_fn(embed(data.images) * w), dtype=float)  # all-pairs distances of this set's images
            return -D[data.a, data.b]
        return verify(scores, thr, test)["test_accuracy"]

    return {
        "embedding": f"whitened PCA({dim}) of peopleDevTrain faces, seeded rotation, L2-normalised",
        "preprocess": config.to_dict(), "margin": margin, "P": P, "K": K, "batches": len(batches),
        "train_images": len(images), "train_identities": int(len(np.unique(labels))),
        "loss_before_training": {"student": mean_loss(student.batch_hard_triplet_loss, ones),
                                 "reference": mean_loss(ref.batch_hard_triplet_loss, ones)},
        "training": {"what": "per-dimension weights, finite-difference gradient descent on the mean batch loss",
                     "steps": len(history) - 1, "loss_history": history, "reference_loss_history": history_ref},
        "test_accuracy": {"pairs": len(test), "before": accuracy(ones, student.pairwise_distances),
                          "after": accuracy(w, student.pairwise_distances),
                          "reference_after": accuracy(w_ref, ref.pairwise_distances)},
    }


ASSIGNMENT = Assignment("triplet-mining", 4, "Batch-hard triplet loss with valid-positive masks (Euclidean)",
                        ("pairwise_distances", "valid_positive_mask", "batch_hard_triplet_loss"), checks, run)
