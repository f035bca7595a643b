"""Heads put on top of a backbone: the pair-difference layer of the binary Siamese head and the
identification softmax. Each is a separate, swappable piece."""
from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

PAIR_FORMS = ("abs", "chi2")


@keras.saving.register_keras_serializable(package="facelab")
class PairDifference(layers.Layer):
    """Elementwise comparison of two embeddings, the input of the binary "same person?" classifier.

    ``"abs"``: |f1 − f2| (Koch, Zemel & Salakhutdinov 2015, Eq. (1) before the weights).
    ``"chi2"``: (f1 − f2)² / (f1 + f2) (DeepFace, Taigman et al. 2014, Sec. 4.2; meant for
    non-negative features — build the backbone with ``nonnegative=True``). 0/0 is taken as 0.
    """

    def __init__(self, form: str = "abs", epsilon: float = 1e-7, **kwargs):
        super().__init__(**kwargs)
        if form not in PAIR_FORMS:
            raise ValueError(f"form must be one of {PAIR_FORMS}, got {form!r}")
        self.form, self.epsilon = form, epsilon

    def call(self, fa, fb):
        fa, fb = ops.cast(fa, "float32"), ops.cast(fb, "float32")
        if self.form == "abs":
            return ops.abs(fa - fb)
        return ops.square(fa - fb) / (ops.abs(fa + fb) + self.epsilon)

    def compute_output_shape(self, fa_shape, fb_shape):
        return fa_shape

    def get_config(self):
        return {**super().get_config(), "form": self.form, "epsilon": self.epsilon}


def binary_pair_logit(fa, fb, form: str = "abs", name: str = "same_logit"):
    """w · d(f1, f2) + b — a logit; sigmoid of it is P(same person). Trained with binary
    cross-entropy from logits, target 1 = SAME."""
    d = PairDifference(form, name="pair_difference")(fa, fb)
    return layers.Dense(1, dtype="float32", name=name)(d)


def pair_logit_similarity(weights, bias: float, form: str = "abs", epsilon: float = 1e-7):
    """The trained binary head as a facelab :class:`~facelab.metrics.Similarity`: the logit
    w · d(f1, f2) + b (monotone in P(same)), so verification thresholds the classifier the network
    was trained with rather than a cosine it never saw. NumPy, float64; ``pairwise`` in blocks."""
    from ..metrics.distances import Similarity, pairwise_blocked  # lazy: keeps nets → metrics one-way at import

    if form not in PAIR_FORMS:
        raise ValueError(f"form must be one of {PAIR_FORMS}, got {form!r}")
    w = np.asarray(weights, dtype=np.float64).ravel()
    b = float(bias)

    def paired(a, c):
        a, c = np.asarray(a, dtype=np.float64), np.asarray(c, dtype=np.float64)
        d = np.abs(a - c) if form == "abs" else np.square(a - c) / (np.abs(a + c) + epsilon)
        return d @ w + b

    return Similarity(f"siamese_head_{form}", paired, lambda A, B: pairwise_blocked(paired, A, B),
                      "logit of the trained same/different head, w·d(f1, f2) + b")


def identity_logits(features, n_classes: int, name: str = "identity_logits"):
    """Softmax classifier over the training identities (DeepID, Sun et al. 2014, Sec. 3), as
    logits in float32 (stable under mixed precision)."""
    return layers.Dense(n_classes, dtype="float32", name=name)(features)


@keras.saving.register_keras_serializable(package="facelab")
class CosineClassifier(layers.Layer):
    """cos θ_j between a face's features and each identity's weight vector, both L2-normalised: the
    logits of a margin softmax (:mod:`facelab.losses.margin`; Wang et al. 2018, Deng et al. 2019),
    in float32. The rows of ``identity_centres`` (the normalised weights) are the identities' directions
    on the sphere."""

    def __init__(self, n_classes: int, epsilon: float = 1e-12, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.n_classes, self.epsilon = int(n_classes), epsilon

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.n_classes), initializer="glorot_uniform",
                                      name="kernel")

    def call(self, features):
        f = ops.cast(features, "float32")
        f = f / ops.sqrt(ops.maximum(ops.sum(ops.square(f), axis=-1, keepdims=True), self.epsilon))
        w = self.kernel / ops.sqrt(ops.maximum(ops.sum(ops.square(self.kernel), axis=0, keepdims=True), self.epsilon))
        return ops.matmul(f, w)

    @property
    def identity_centres(self):
        w = ops.convert_to_numpy(self.kernel).T
        return w / np.linalg.norm(w, axis=1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.n_classes)

    def get_config(self):
        return {**super().get_config(), "n_classes": self.n_classes, "epsilon": self.epsilon}
