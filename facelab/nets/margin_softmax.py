"""ArcFace, CosFace and SphereFace as facelab methods: DeepID's identification training with the
softmax moved onto the unit sphere and a margin added to the true identity's logit.

The network, batches and embedding are DeepID's (:class:`~facelab.nets.siamese.DeepID`): the
backbone's ``features`` go to a :class:`~facelab.nets.heads.CosineClassifier` (cos θ_j to each
training identity), and :class:`~facelab.losses.margin.MarginSoftmaxLoss` trains it. At test time
the classifier is dropped and a face is its L2-normalised features, compared by cosine: the very
angle the margin was applied to in training.
"""
from __future__ import annotations

import keras

from ..losses.margin import MarginSoftmaxLoss, check_margin
from .base import with_joint_bayesian
from .heads import CosineClassifier
from .siamese import DeepID


class MarginSoftmax(DeepID):
    """DeepID trained with a margin softmax. ``scale``: s, the logits' radius; ``margin``: m (radians
    for ArcFace, a cosine for CosFace, an integer angle multiple for SphereFace)."""

    kind_of_margin = "arcface"
    default_scale, default_margin = 30.0, 0.5

    def __init__(self, *args, scale: float | None = None, margin: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.scale = float(self.default_scale if scale is None else scale)
        self.margin = float(self.default_margin if margin is None else margin)
        check_margin(self.kind_of_margin, self.scale, self.margin)
        self.loss = MarginSoftmaxLoss(self.kind_of_margin, self.scale, self.margin)

    def method_params(self):
        return {"scale": self.scale, "margin": self.margin}

    def build_training_model(self, backbone, n_classes):
        features = keras.Model(backbone.input, backbone.get_layer("features").output)
        x = keras.Input(backbone.input_shape[1:], name="image")
        return keras.Model(x, CosineClassifier(n_classes, name="identity_cosines")(features(x)), name=self.name)


class ArcFace(MarginSoftmax):
    """Additive angular margin, cos(θ_y + m) (Deng et al. 2019)."""

    name = "arcface"
    kind_of_margin = "arcface"
    # chosen on View 1 at the class budget: the paper's s = 64, m = 0.5 suit a deep network and millions
    # of faces; the small CNN on LFW's 9,525 training faces verified better with a smaller sphere and margin
    default_scale, default_margin = 16.0, 0.3


class CosFace(MarginSoftmax):
    """Additive cosine margin, cos θ_y − m (CosFace, Wang et al. 2018; AM-softmax, Wang, Cheng et al. 2018)."""

    name = "cosface"
    kind_of_margin = "cosface"
    default_scale, default_margin = 16.0, 0.25  # chosen on View 1 at the class budget (the paper: s = 64, m = 0.35)


class SphereFace(MarginSoftmax):
    """Multiplicative angular margin, ψ(θ_y) with cos(mθ_y) (A-softmax, Liu et al. 2017), without the
    paper's annealing from the plain softmax: at small budgets it trains slowly."""

    name = "sphereface"
    kind_of_margin = "sphereface"
    default_scale, default_margin = 30.0, 2.0


arcface_jb = with_joint_bayesian(ArcFace, "arcface+jb")
cosface_jb = with_joint_bayesian(CosFace, "cosface+jb")
