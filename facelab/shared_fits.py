"""One training per network within a comparison: ``deepid`` and ``deepid+jb`` on the same fold
share the trained DeepID. It sits with the methods (``LearnedMetricMethod`` fits its base through
it); the evaluator and ``facelab compare`` use it from here.

Inside :func:`share_fits` (``facelab compare`` opens it), :func:`fit_shared` returns an already
fitted method when one with the same config was fitted on the same training images, and a method
whose config differs only outside its ``fit_config`` (the GAN disentangler's sub-vectors, Table 2)
adopts that fit; outside it, it simply fits. Only deep and generative methods are shared (minutes of training each; classical
fits are seconds and their timings stay their own). A method reused this way gets
``fit_reused_ = True`` (the caller's fit time then excludes that training, and says so).
"""
from __future__ import annotations

import contextlib

import numpy as np

_SHARED: dict | None = None


@contextlib.contextmanager
def share_fits():
    global _SHARED
    outer = _SHARED
    if outer is None:
        _SHARED = {}
    try:
        yield
    finally:
        if outer is None:
            _SHARED = None


def _key(method, images: np.ndarray, labels: np.ndarray) -> str:
    """The method's config, the labels and every ~1/256th image (hashing all pixels of every fold
    would cost more than the lookup saves for small fits). Only deep and generative methods get
    here, so importing the training module (and Keras) costs nothing they do not pay already."""
    from .nets.training import fingerprint

    return fingerprint(method.fit_config, list(images.shape), labels, images[:: max(1, len(images) // 256)])


def fit_shared(method, images: np.ndarray, labels: np.ndarray):
    """``method.fit(images, labels)``, or the same-config method already fitted on these images."""
    if _SHARED is None or method.kind == "classical":
        return method.fit(images, labels)
    key = _key(method, images, labels)
    if key in _SHARED:
        fitted = _SHARED[key]
        if fitted.config != method.config:  # same fit, another view of it
            fitted = method.adopt_fit(fitted)
        fitted.fit_reused_ = True
        return fitted
    _SHARED[key] = method.fit(images, labels)
    return _SHARED[key]
