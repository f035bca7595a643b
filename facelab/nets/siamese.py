"""Siamese networks and DeepID-style training signals, as facelab methods.

| method | trains on | signal |
| --- | --- | --- |
| ``siamese-contrastive`` | balanced pairs | contrastive loss (DeepID2 Eq. 5 form) on the embeddings |
| ``siamese-binary`` | balanced pairs | sigmoid(w·|f1−f2| + b) (or chi-square form) + binary cross-entropy |
| ``deepid`` | shuffled images | softmax over the training identities (embedding = layer before it) |
| ``deepid2`` | balanced pairs with identities | identification + λ · verification (Sun et al. 2014, Eq. 1–5) |

All four share the backbone (:mod:`facelab.nets.backbones`), the training loop
(:mod:`facelab.nets.training`) and score pairs by the cosine of the L2-normalised embeddings —
except ``siamese-binary``, which scores a pair with the logit of the head it was trained with
(``score="cosine"`` to compare).
Pair labels: ``same = 1`` means the SAME person.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from ..data import pipeline
from ..data.samplers import BatchSampler, PairSampler
from ..losses.contrastive import ContrastiveLoss
from ..miners.hard_pairs import HardPairSampler, MineEachEpoch
from .base import DeepMethod, with_joint_bayesian
from .heads import binary_pair_logit, identity_logits, pair_logit_similarity


@keras.saving.register_keras_serializable(package="facelab")
class StackPair(layers.Layer):
    """(batch, d), (batch, d) → (batch, 2, d): both embeddings in one tensor for a pair loss."""

    def call(self, fa, fb):
        return ops.stack([ops.cast(fa, "float32"), ops.cast(fb, "float32")], axis=1)

    def compute_output_shape(self, fa_shape, fb_shape):
        return (fa_shape[0], 2, fa_shape[1])


def _pair_inputs(backbone):
    shape = backbone.input_shape[1:]
    return keras.Input(shape, name="image_a"), keras.Input(shape, name="image_b")


class _PairMethod(DeepMethod):
    """Pair-trained methods: ``pairs_per_epoch`` balanced pairs per epoch, optionally with hard pairs
    re-mined from the current embeddings at the start of every epoch (``hard_mining``)."""

    with_identities = False

    def __init__(self, *args, pairs_per_epoch: int = 6400, hard_mining: bool = False, hard_fraction: float = 0.5,
                 mining_pool: int = 1024, **kwargs):
        super().__init__(*args, **kwargs)
        self.pairs_per_epoch = pairs_per_epoch
        self.hard_mining = hard_mining
        self.hard_fraction = hard_fraction
        self.mining_pool = mining_pool

    def _pair_params(self) -> dict:
        return {"pairs_per_epoch": self.pairs_per_epoch, "hard_mining": self.hard_mining,
                **({"hard_fraction": self.hard_fraction, "mining_pool": self.mining_pool} if self.hard_mining else {})}

    def make_sampler(self, images, labels, backbone):
        n = self.pairs_per_epoch
        if self.quick:
            n = min(n, self.quick_steps * self.batch_size)
        n -= n % 2
        if not self.hard_mining:
            return PairSampler(labels, n, seed=self.seed)

        def embed_fn(idx):
            return np.asarray(ops.convert_to_numpy(backbone(self._float(images[idx]), training=False)))

        return HardPairSampler(labels, n, embed_fn, hard_fraction=self.hard_fraction, pool=self.mining_pool,
                               seed=self.seed)

    def training_callbacks(self, sampler):
        return [MineEachEpoch(sampler)] if isinstance(sampler, HardPairSampler) else []

    def steps_per_epoch(self, sampler):
        return pipeline.steps_per_epoch(sampler, self.batch_size)

    def batch_shown(self) -> str:
        return f"{self.batch_size} pairs"

    def make_dataset(self, images, labels, sampler, start_epoch, skip):
        return pipeline.pair_dataset(images, labels, sampler, self.batch_size, epochs=self.train_epochs,
                                     start_epoch=start_epoch, skip=skip, augment=self.augment, shift=self.shift,
                                     with_identities=self.with_identities)


class SiameseContrastive(_PairMethod):
    """Twin network with shared weights trained by the contrastive loss (Hadsell et al. 2006; the
    verification signal of DeepID2, Sun et al. 2014, Eq. 5), margin ``margin`` on unit-norm embeddings."""

    name = "siamese-contrastive"

    def __init__(self, *args, margin: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.margin = margin
        self.loss = ContrastiveLoss(margin)

    def method_params(self):
        return {"margin": self.margin, **self._pair_params()}

    def build_training_model(self, backbone, n_classes):
        xa, xb = _pair_inputs(backbone)
        return keras.Model([xa, xb], StackPair(name="pair")(backbone(xa), backbone(xb)), name="siamese_contrastive")


class SiameseBinary(_PairMethod):
    """Twin network + logistic "same person?" unit on |f1 − f2| (Koch et al. 2015, Eq. 1) or the
    chi-square form (DeepFace, Taigman et al. 2014, Sec. 4.2), trained with binary cross-entropy.
    ``label_smoothing`` ε trains towards 1 − ε/2 and ε/2 instead of 1 and 0 (Szegedy et al. 2016,
    Sec. 7), which bounds the head's logits on the pairs of the people it trains on."""

    name = "siamese-binary"

    def __init__(self, *args, form: str = "abs", score: str = "head", label_smoothing: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        if score not in ("head", "cosine"):
            raise ValueError(f"score must be 'head' (the trained classifier's logit) or 'cosine'; got {score!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.form, self.score, self.label_smoothing = form, score, float(label_smoothing)
        if form == "chi2":  # chi-square needs non-negative features
            self.backbone_kwargs.setdefault("nonnegative", True)
        self.loss = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=self.label_smoothing)

    def method_params(self):
        return {"form": self.form, "score": self.score, **self._pair_params(),
                **({"label_smoothing": self.label_smoothing} if self.label_smoothing else {})}

    def build_training_model(self, backbone, n_classes):
        xa, xb = _pair_inputs(backbone)
        return keras.Model([xa, xb], binary_pair_logit(backbone(xa), backbone(xb), self.form), name="siamese_binary")

    def fit(self, images, labels):
        super().fit(images, labels)
        kernel, bias = self.training_model_.get_layer("same_logit").get_weights()
        self._use_head(kernel, bias)
        return self

    def _use_head(self, kernel, bias):
        """Score pairs by the trained head (its logit) unless ``score="cosine"``."""
        self.head_ = {"kernel": np.asarray(kernel, np.float64).ravel().tolist(), "bias": float(np.ravel(bias)[0])}
        if self.score == "head":
            self.similarity = pair_logit_similarity(self.head_["kernel"], self.head_["bias"], self.form)

    def extra_state(self):
        return {"head": getattr(self, "head_", None)}

    def restore_extra_state(self, state):
        self.form = state.get("config", {}).get("form", self.form)
        self.score = state.get("config", {}).get("score", self.score)
        if state.get("head"):
            self._use_head(state["head"]["kernel"], state["head"]["bias"])


class DeepID(DeepMethod):
    """Identification signal only: softmax over the training identities on the backbone's
    ``features`` layer; the embedding is that layer, L2-normalised (DeepID, Sun et al. 2014)."""

    name = "deepid"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def build_training_model(self, backbone, n_classes):
        features = keras.Model(backbone.input, backbone.get_layer("features").output)
        x = keras.Input(backbone.input_shape[1:], name="image")
        return keras.Model(x, identity_logits(features(x), n_classes), name="deepid")

    def make_sampler(self, images, labels, backbone):
        return BatchSampler(len(labels), self.batch_size, seed=self.seed)

    def steps_per_epoch(self, sampler):
        return min(len(sampler), self.quick_steps) if self.quick else len(sampler)

    def make_dataset(self, images, labels, sampler, start_epoch, skip):
        return pipeline.batch_dataset(images, labels, sampler, epochs=self.train_epochs, start_epoch=start_epoch,
                                      skip=skip, augment=self.augment, shift=self.shift, max_steps=self.steps_per_epoch(sampler))


class DeepID2(_PairMethod):
    """Joint identification + verification (Sun et al. 2014, Eq. 1–5): per pair,
    ½(Ident(f_a) + Ident(f_b)) + λ · Verif(f_a, f_b, same), with the softmax on the ``features``
    layer and the contrastive verification loss on the L2-normalised embedding."""

    name = "deepid2"
    with_identities = True

    def __init__(self, *args, lam: float = 1.0, margin: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        if lam < 0:
            raise ValueError(f"lam (the verification weight λ) must be >= 0, got {lam}")
        self.lam, self.margin = lam, margin
        self.loss = [ContrastiveLoss(margin),
                     keras.losses.SparseCategoricalCrossentropy(from_logits=True, name="ident_a"),
                     keras.losses.SparseCategoricalCrossentropy(from_logits=True, name="ident_b")]
        self.loss_weights = [lam, 0.5, 0.5]

    def method_params(self):
        return {"lam": self.lam, "margin": self.margin, **self._pair_params()}

    def build_training_model(self, backbone, n_classes):
        xa, xb = _pair_inputs(backbone)
        both = keras.Model(backbone.input, [backbone.get_layer("features").output, backbone.output])
        feat_a, emb_a = both(xa)
        feat_b, emb_b = both(xb)
        classifier = layers.Dense(n_classes, dtype="float32", name="identity_logits")
        return keras.Model([xa, xb], [StackPair(name="verification")(emb_a, emb_b), classifier(feat_a),
                                      classifier(feat_b)], name="deepid2")


# DeepID's own verifier (Sun et al. 2014, section 4): its features scored by Joint Bayesian, not cosine
deepid_jb = with_joint_bayesian(DeepID, "deepid+jb")
deepid2_jb = with_joint_bayesian(DeepID2, "deepid2+jb")
