"""Unit 3 assignment — margin softmax: cosine logits and ArcFace's additive angular margin
(Deng et al. 2019, eq. 3), the identification loss of modern face recognisers."""
from __future__ import annotations

import numpy as np

from . import reference as ref
from .grading import Assignment, Checks, Fail, call, expect_close

checks = Checks()
ATOL = 1e-6  # room for cos(θ + m) written as cos θ cos m − sin θ sin m, or through arccos
SAFE_HINT = "ψ(θ) = cos(θ + m) while θ + m ≤ π, else cos θ − m·sin m; θ = arccos(cos θ) and m in radians"


# -- seeded inputs --------------------------------------------------------------------------------
def _faces(seed: int, n: int = 12, C: int = 5, d: int = 8, *, opposite: int = 0):
    """Features near their identity's weight vector (the last ``opposite`` faces near its opposite),
    with lengths far from 1, and identity weights (rows) of different lengths."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 1, (C, d)) * rng.uniform(0.2, 3.0, (C, 1))
    labels = rng.permutation(np.arange(n) % C)
    unit = weights / np.linalg.norm(weights, axis=1, keepdims=True)
    sign = np.where(np.arange(n) < n - opposite, 1.0, -1.0)[:, None]
    features = (sign * unit[labels] + rng.normal(0, 0.5 if not opposite else 0.15, (n, d)))
    features *= rng.uniform(0.3, 4.0, (n, 1))
    return features, weights, labels


def _cosines(seed: int, targets, C: int = 6):
    """Cosines in [−1, 1] (n, C) with the given true-identity cosines, and the labels."""
    rng = np.random.default_rng(seed)
    targets = np.asarray(targets, dtype=np.float64)
    cos = rng.uniform(-1, 1, (len(targets), C))
    labels = rng.integers(0, C, len(targets))
    cos[np.arange(len(targets)), labels] = targets
    return cos, labels


# -- cosine_logits ----------------------------------------------------------------------------------
def _cosine_mistakes(f, w):
    return {
        "neither the features nor the identity weights were L2-normalised: the logit of a margin softmax "
        "is cos θ = f̂ · ŵ, both of unit length": ref.cosine_logits(f, w, normalise_features=False,
                                                                    normalise_weights=False),
        "the features are not L2-normalised: divide each face's features by its length ‖f_i‖ (the logit is "
        "cos θ, not f · ŵ)": ref.cosine_logits(f, w, normalise_features=False),
        "the identity weights are not L2-normalised: divide each identity's weight vector (a ROW of `weights`) "
        "by its length": ref.cosine_logits(f, w, normalise_weights=False),
        "the weights were normalised across identities (axis 0): each identity's weight vector is a ROW of "
        "`weights`, shape (C, d); normalise every row": ref.cosine_logits(f, w, weights_axis=0),
    }


def _grade_cosines(student, f, w, what):
    expect_close(call(student, "cosine_logits", f, w), ref.cosine_logits(f, w), what, atol=ATOL,
                 mistakes=_cosine_mistakes(f, w),
                 hint="(n, C): entry [i, j] = f_i · w_j / (‖f_i‖ ‖w_j‖), weights given one identity per row")


@checks.add("cosine_logits", 3, "seeded faces and identity weights of different lengths")
def _(student):
    f, w, _ = _faces(0)
    _grade_cosines(student, f, w, "cosine logits")


@checks.add("cosine_logits", 1, "rescaling a face or an identity's weights leaves its cosines unchanged")
def _(student):
    f, w, _ = _faces(1, n=6, C=4, d=5)
    f, w = f * np.array([[10.0], [0.1], [1.0], [3.0], [0.5], [7.0]]), w * np.array([[0.05], [20.0], [1.0], [4.0]])
    _grade_cosines(student, f, w, "cosine logits of rescaled inputs")


# -- arcface_logits ---------------------------------------------------------------------------------
def _logit_mistakes(cos, labels, s, m):
    return {
        "the margin was applied to EVERY identity's logit: ArcFace moves only the true identity's angle "
        "(column labels[i] of row i); the other logits stay s · cos θ_j": ref.arcface_logits(cos, labels, s, m,
                                                                                              every_logit=True),
        f"your margin is {180 / np.pi:.1f} times too small, as if m were in degrees: m is given in RADIANS "
        f"({m} rad ≈ {np.degrees(m):.1f}°); do not convert it with np.radians / np.deg2rad":
            ref.arcface_logits(cos, labels, s, np.radians(m)),
        "you converted m with np.degrees: np.cos takes radians, and m is in radians already":
            ref.arcface_logits(cos, labels, s, np.degrees(m)),
        "your angle θ is in degrees: np.arccos returns radians and np.cos expects radians, so add m to θ in "
        "radians": ref.arcface_logits(cos, labels, s, m, angle_in_degrees=True),
        "the angle θ in degrees was added to m in radians and the sum taken as radians: keep θ in radians":
            ref.arcface_logits(cos, labels, s, m, angle_in_degrees=True, safe=False),
        f"the scale s is missing: return s · ψ(θ_y) and s · cos θ_j (s = {s:g} is the radius of the sphere the "
        "softmax sees; on values in [−1, 1] alone it can never be confident)":
            ref.arcface_logits(cos, labels, 1.0, m),
        "only the true identity's logit was multiplied by s: scale every logit":
            ref.arcface_logits(cos, labels, s, m, scale_target_only=True),
        "past θ + m > π you used cos(θ + m), which grows again as θ → π and so rewards a worse angle: "
        "there use the safe form cos θ − m·sin m": ref.arcface_logits(cos, labels, s, m, safe=False),
    }


def _grade_logits(student, cos, labels, s, m, what):
    got = call(student, "arcface_logits", cos, labels, s, m)
    expect_close(got, ref.arcface_logits(cos, labels, s, m), what, atol=ATOL,
                 mistakes=_logit_mistakes(cos, labels, s, m),
                 hint=f"(n, C): s · ψ(θ_y) in column labels[i], s · cos θ_j elsewhere; {SAFE_HINT}")


@checks.add("arcface_logits", 3, "seeded cosines, s = 30, m = 0.5 (every θ_y + m < π)")
def _(student):
    cos, labels = _cosines(2, np.random.default_rng(20).uniform(-0.8, 0.95, 10))
    _grade_logits(student, cos, labels, 30.0, 0.5, "ArcFace logits")


@checks.add("arcface_logits", 1, "other settings, s = 64, m = 0.2 (nothing hard-coded)")
def _(student):
    cos, labels = _cosines(3, np.random.default_rng(30).uniform(-0.9, 0.99, 8), C=4)
    _grade_logits(student, cos, labels, 64.0, 0.2, "ArcFace logits at s = 64, m = 0.2")


@checks.add("arcface_logits", 2, "true identities at θ_y + m > π: the safe form")
def _(student):
    cos, labels = _cosines(4, [-1.0, -0.99, -0.95, -0.9, 0.3, -0.5], C=5)
    _grade_logits(student, cos, labels, 30.0, 0.5, "ArcFace logits of faces far from their identity")


@checks.add("arcface_logits", 1, "cosines a round-off above 1: clip before arccos")
def _(student):
    above, below = np.nextafter(1.0, 2.0), np.nextafter(-1.0, -2.0)  # what normalising in floating point gives
    cos = np.array([[above, 0.2, below], [0.1, above, -0.3], [1.0, 0.5, 0.0]])
    labels = np.array([0, 1, 0])
    try:
        _grade_logits(student, cos, labels, 30.0, 0.5, "ArcFace logits at cos θ = 1 + 2e-16")
    except Fail as failed:
        message = str(failed.args[0])
        if "NaN at index" in message or "max |difference|" in message:  # not one of the diagnosed mistakes
            message += (". Round-off in the normalisation gives cosines a hair above 1 (or below −1), where "
                        "np.arccos and √(1 − cos²θ) give NaN: clip cos θ to [−1, 1] first")
        raise Fail(message) from None


# -- margin_softmax_loss ----------------------------------------------------------------------------
def _grade_loss(student, f, w, labels, s, m, what):
    got = call(student, "margin_softmax_loss", f, w, labels, s, m)
    if np.ndim(got) != 0 and np.size(got) != 1:
        raise Fail(f"{what}: return one number (the mean over the faces), got shape {np.shape(got)}")
    cos = ref.cosine_logits(f, w)
    mistakes = {message: ref.softmax_cross_entropy(logits, labels).mean()
                for message, logits in _logit_mistakes(cos, labels, s, m).items()}
    mistakes = {
        **{message: ref.softmax_cross_entropy(ref.arcface_logits(wrong, labels, s, m), labels).mean()
           for message, wrong in _cosine_mistakes(f, w).items()},
        **mistakes,
        "you summed the cross-entropy over the faces: return the MEAN": ref.margin_softmax_loss(f, w, labels, s, m,
                                                                                             total=True),
        "your loss is the plain softmax of s · cos θ: the cross-entropy must use the margin logits "
        "(arcface_logits)": ref.margin_softmax_loss(f, w, labels, s, 0.0),
    }
    expect_close(got, ref.margin_softmax_loss(f, w, labels, s, m), what, atol=ATOL, mistakes=mistakes,
                 hint="mean over faces of −log softmax(arcface_logits(cosine_logits(f, W), y, s, m))_y; "
                      "subtract each row's maximum logit before np.exp")


@checks.add("margin_softmax_loss", 3, "seeded batch, s = 30, m = 0.5")
def _(student):
    f, w, labels = _faces(5)
    _grade_loss(student, f, w, labels, 30.0, 0.5, "ArcFace loss")


@checks.add("margin_softmax_loss", 1, "faces far from their identity (θ_y + m > π), s = 16, m = 0.4")
def _(student):
    f, w, labels = _faces(6, n=8, C=4, d=6, opposite=4)
    _grade_loss(student, f, w, labels, 16.0, 0.4, "ArcFace loss of faces opposite their identity")


# -- run on real data ---------------------------------------------------------------------------
def run(student, *, lfw, quick: bool = False, seed: int = 0, progress: bool = False) -> dict:
    """The student's ArcFace loss on real faces: View 1 training people with ≥ 4 images, embedded
    by a fixed seeded projection; each identity's weight vector is the centre (mean embedding) of
    its faces. Reports the loss beside the reference's and how many faces beat every other
    identity by the margin; then trains per-dimension weights of the embedding with the student's
    loss (finite-difference gradients) and verifies pairsDevTest by the student's cosines."""
    from ..data.preprocess import PreprocessConfig
    from .realdata import balanced_subset, fit_diagonal_metric, load_images, pair_data, pca_embedding, verify

    scale, margin, min_images = 30.0, 0.5, 4
    per_person = 8  # at most this many images of one person: no identity dominates
    config = PreprocessConfig(size=32)
    rng = np.random.default_rng(seed)
    (train_people,) = lfw.people_folds("view1-train")
    positions = lfw.people_indices(train_people)
    people, counts = np.unique(lfw.labels[positions], return_counts=True)
    people = people[counts >= min_images][: 40 if quick else 100]
    positions = np.concatenate([rng.permutation(positions[lfw.labels[positions] == p])[:per_person] for p in people])
    images = load_images(lfw, positions, config)
    _, labels = np.unique(lfw.labels[positions], return_inverse=True)
    dim = 24 if quick else 48
    embed = pca_embedding(images, dim, seed)
    emb = embed(images)
    centres = np.stack([emb[labels == j].mean(0) for j in range(labels.max() + 1)])

    def loss(fn, w):  # the centres of x ⊙ w are the centres of x, ⊙ w
        return float(fn(emb * w, centres * w, labels, scale, margin))

    ones = np.ones(dim)
    cosines = np.asarray(call(student, "cosine_logits", emb, centres), dtype=float)
    logits = np.asarray(call(student, "arcface_logits", cosines, labels, scale, margin), dtype=float)
    steps = 20 if quick else 60
    w, history = fit_diagonal_metric(lambda w: loss(student.margin_softmax_loss, w), dim, steps=steps)
    w_ref, history_ref = fit_diagonal_metric(lambda w: loss(ref.margin_softmax_loss, w), dim, steps=steps)

    test = pair_data(lfw, balanced_subset(lfw.pairs("view1-test"), 150 if quick else None, seed), config)
    thr = pair_data(lfw, balanced_subset(lfw.pairs("view1-train"), 150 if quick else None, seed), config)

    def accuracy(w, cosine_fn):
        def scores(data):
            e = embed(data.images) * w
            return np.asarray(cosine_fn(e, e), dtype=float)[data.a, data.b]  # all-pairs cosines
        return verify(scores, thr, test)["test_accuracy"]

    return {
        "embedding": f"whitened PCA({dim}) of peopleDevTrain faces, seeded rotation, L2-normalised",
        "identity_weights": "the centre (mean embedding) of each identity's faces",
        "preprocess": config.to_dict(), "scale": scale, "margin": margin,
        "train_images": len(images), "train_identities": int(len(people)),
        "loss_before_training": {"student": loss(student.margin_softmax_loss, ones),
                                 "reference": loss(ref.margin_softmax_loss, ones)},
        "faces_nearest_their_own_centre": float(np.mean(cosines.argmax(1) == labels)),
        "faces_winning_with_the_margin": float(np.mean(logits.argmax(1) == labels)),
        "training": {"what": "per-dimension weights, finite-difference gradient descent on the mean loss",
                     "steps": len(history) - 1, "loss_history": history, "reference_loss_history": history_ref},
        "test_accuracy": {"pairs": len(test), "before": accuracy(ones, student.cosine_logits),
                          "after": accuracy(w, student.cosine_logits),
                          "reference_after": accuracy(w_ref, ref.cosine_logits)},
    }


ASSIGNMENT = Assignment("margin-softmax", 3, "Cosine logits and the ArcFace margin softmax (m in radians)",
                        ("cosine_logits", "arcface_logits", "margin_softmax_loss"), checks, run)
