"""One training per network within a comparison: ``deepid`` and ``deepid+jb`` on the same fold
share the trained DeepID, and the GAN disentangler's sub-vectors (Table 2) share one model.

A :class:`SharedFits` is the fits of one comparison. The evaluator owns one
(:func:`facelab.evaluation.runner.verify_each` makes it; ``facelab compare`` makes one for its
verification and identification) and fits every method through :meth:`SharedFits.fit`. A method built
on another (``LearnedMetricMethod``'s base network) receives that ``fit`` in
:meth:`~facelab.base.FaceMethod.fit_with`, so the base it fits is shared as well. Only deep and
generative methods are shared (minutes of training each; classical fits are seconds and their
timings stay their own). A method reused this way gets ``fit_reused_ = True`` (the caller's fit time
then excludes that training, and says so).
"""
from __future__ import annotations

import numpy as np


class SharedFits:
    """Fitted methods by (:attr:`~facelab.base.FaceMethod.fit_config`, training images, labels)."""

    def __init__(self):
        self._fitted: dict = {}

    def fit(self, method, images: np.ndarray, labels: np.ndarray):
        """``method`` fitted on ``images``: the same-config method fitted on them already, if there is
        one (a method whose config differs only outside its ``fit_config`` adopts that fit), else a new fit."""
        if method.kind == "classical":
            return method.fit_with(self.fit, images, labels)
        key = _key(method, images, labels)
        if key in self._fitted:
            fitted = self._fitted[key]
            if fitted.config != method.config:  # same fit, another view of it
                fitted = method.adopt_fit(fitted)
            fitted.fit_reused_ = True
            return fitted
        self._fitted[key] = method.fit_with(self.fit, images, labels)
        return self._fitted[key]


def _key(method, images: np.ndarray, labels: np.ndarray) -> str:
    """The method's config, the labels and every ~1/256th image (hashing all pixels of every fold
    would cost more than the lookup saves for small fits). Only deep and generative methods get
    here, so importing the training module (and Keras) costs nothing they do not pay already."""
    from .nets.training import fingerprint

    return fingerprint(method.fit_config, list(images.shape), labels, images[:: max(1, len(images) // 256)])
