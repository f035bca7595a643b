"""The method contract every face-recognition method in facelab serves.

A method (classical or deep) is fitted on images of the *training identities only*, embeds
images as vectors, and names the similarity the evaluator should score pairs with (higher =
more alike). The evaluator, the command line and the comparison notebook use nothing else, so
PCA and a GAN are interchangeable to them.

``images`` are always ``uint8`` arrays of shape ``(n, height, width, channels)`` produced by
the data layer under the method's own :attr:`FaceMethod.preprocess` config; ``labels`` are
integer identity labels ``(n,)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .data.preprocess import PreprocessConfig


class FaceMethod:
    """Base class: subclasses set ``name``, ``similarity``, ``preprocess``, and implement
    :meth:`fit` and :meth:`embed`.

    ``similarity`` is the name of a registered similarity in :mod:`facelab.metrics` (e.g.
    ``"cosine"``, ``"neg_chi2"``) or a :class:`facelab.metrics.Similarity` instance for a
    learned score (Joint Bayesian). ``config`` is a JSON-able dict that is written next to
    every number the method produces.
    """

    name: str = "method"
    kind: str = "classical"  # "classical" | "deep" | "generative": decides the default method set
    similarity: Any = "cosine"
    #: :attr:`config` keys that change only what is embedded from a fitted model, not the fit
    #: (left out of :attr:`fit_config`)
    embedding_only: tuple = ()
    #: the preset (facelab.presets) the registry built this method from; None when built directly
    preset: str | None = None
    #: True when the last fit was another method's, taken over (:mod:`facelab.shared_fits`): the
    #: evaluator then reports a fit time without that training
    fit_reused_: bool = False
    #: per-image tables the method computes once per image list, ``name → fn(images) -> rows`` (the GAN
    #: disentangler's pose targets), which ``facelab data pack`` stores beside the images
    memo_tables: dict = {}

    def __init__(self, preprocess: PreprocessConfig | None = None, seed: int = 0, quick: bool = False):
        self.preprocess = PreprocessConfig.coerce(preprocess)
        self.seed = seed
        self.quick = quick  # smaller budgets for CI and laptops; the config records it

    def fit(self, images: np.ndarray, labels: np.ndarray) -> "FaceMethod":
        return self

    def fit_with(self, fit, images: np.ndarray, labels: np.ndarray) -> "FaceMethod":
        """:meth:`fit`, with every method this one is built on fitted through ``fit(method, images,
        labels)``: in a comparison that is :meth:`facelab.shared_fits.SharedFits.fit`, so a network two
        methods are built on trains once. A method built on no other needs nothing more (override)."""
        return self.fit(images, labels)

    def embed(self, images: np.ndarray) -> np.ndarray:  # (n, d)
        raise NotImplementedError

    @property
    def config(self) -> dict:
        return {"name": self.name, "preprocess": self.preprocess.to_dict(), "seed": self.seed,
                "quick": self.quick, **self.params()}

    def params(self) -> dict:
        """Method-specific hyper-parameters for :attr:`config` (override)."""
        return {}

    def training_history(self) -> dict | None:
        """Per-epoch training losses of the last fit (Keras' ``history.history``), or None for a
        method that does not train by epochs (override)."""
        return None

    @property
    def fit_config(self) -> dict:
        """What the fit depends on: :attr:`config` without the :attr:`embedding_only` keys. Methods
        that differ only in those (the GAN's Table-2 sub-vectors, a deep network embedded with
        ``flip_average``) share one fit: ``facelab compare`` fits them once per split
        (:mod:`facelab.shared_fits`), and a deep run's checkpoint serves them all."""
        return {k: v for k, v in self.config.items() if k not in self.embedding_only}

    def adopt_fit(self, fitted: "FaceMethod") -> "FaceMethod":
        """Take over the fitted state (the scikit-learn ``*_`` attributes) of ``fitted``, a method
        with the same :attr:`fit_config` fitted on the same data."""
        self.__dict__.update({k: v for k, v in fitted.__dict__.items()
                              if k.endswith("_") and not k.startswith("_") and k != "fit_reused_"})
        return self


def check_images(images: np.ndarray, expected_shape: tuple | None = None, what: str = "images") -> np.ndarray:
    """Validate a batch of images: 4-D ``(n, h, w, c)``, non-empty, expected shape if given."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"{what} must be a 4-D array (n, height, width, channels); got shape {images.shape}")
    if len(images) == 0:
        raise ValueError(f"{what} is empty: at least one image is needed")
    if expected_shape is not None and tuple(images.shape[1:]) != tuple(expected_shape):
        raise ValueError(f"{what} have shape {tuple(images.shape[1:])} per image, expected {tuple(expected_shape)}")
    return images


def check_labels(labels: np.ndarray, n: int, min_classes: int = 1, what: str = "labels") -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"{what} must have shape ({n},) to match the images; got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{what} must be integer identity labels; got dtype {labels.dtype}")
    k = len(np.unique(labels))
    if k < min_classes:
        raise ValueError(f"{what} hold {k} identit{'y' if k == 1 else 'ies'}; this method needs at least {min_classes}")
    return labels
