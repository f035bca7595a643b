"""The grouped-identity VAE as a face method (Tan, Pal & Courville; the model, its loss and training
steps are :mod:`facelab.generative.grouped_vae_model`, whose names this module also exports).

Training goes through :func:`facelab.nets.training.train`, like every network of the package: the
seeded group sampler gives each epoch's groups, :func:`group_batches` cuts them into batches for any
``(start_epoch, skip)``, so a killed run resumes mid-epoch on the batches it would have seen, with
checkpoints, the NaN guard, ``history.json`` and progress lines. :class:`GroupedVAEMethod` trains in
``run_dir/grouped-vae/data-<fingerprint of the training set>``; :func:`train_on_groups` trains a model
built by hand (the notebook) on any sampler with ``epoch(e)``.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from ..base import FaceMethod, check_images, check_labels
from ..data.pipeline import image_spec, mapped_batches, to_float
from ..data.preprocess import PreprocessConfig
from ..nets.training import (TrainConfig, TrainResult, check_batch, check_devices, distribution_scope, fingerprint, train,
                             training_set_dir, training_set_fingerprint)
from ..nets.training import save_model  # noqa: F401  (atomic .keras save, shared with the deep methods)
from .grouped_vae_model import (PACKAGE, ConditionalInstanceNorm, GroupedVAE, PixelScale,  # noqa: F401
                                gaussian_kl, gaussian_kl_ops, gaussian_log_density_ops, gaussian_log_prob, to_unit)


# -- batches of groups -------------------------------------------------------------------------
def _epoch_groups(sampler, epoch: int, max_groups: int | None) -> np.ndarray:
    idx = np.asarray(sampler.epoch(epoch))
    if idx.ndim != 2 or idx.shape[1] < 1:
        raise ValueError(f"sampler.epoch({epoch}) must give index groups (G, N ≥ 1); got shape {idx.shape}")
    return idx if max_groups is None else idx[:max_groups]


def group_steps(sampler, batch_groups: int, max_groups: int | None = None) -> int:
    """Batches per epoch: the epoch's groups (at most ``max_groups``) in batches of ``batch_groups``,
    the last one possibly smaller."""
    n = len(sampler) if hasattr(sampler, "__len__") else len(_epoch_groups(sampler, 0, None))
    return math.ceil(min(n, max_groups or n) / batch_groups)


def group_batches(images, sampler, batch_groups: int, *, epochs: int, start_epoch: int = 0, skip: int = 0,
                  max_groups: int | None = None):
    """Float batches ``(B, N, H, W, C)`` in [0, 1] over epochs ``start_epoch .. epochs-1``: epoch e's
    index groups ``sampler.epoch(e)`` (the first ``max_groups``) into ``images`` (uint8), in order, in
    batches of ``batch_groups``; the first ``skip`` batches of ``start_epoch`` are left out (a resumed run).
    The ``make_dataset`` of :func:`facelab.nets.training.train`."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0..255) as the data layer gives them; got {images.dtype}")
    steps = group_steps(sampler, batch_groups, max_groups)
    _epoch_groups(sampler, start_epoch, max_groups)  # a sampler of the wrong shape is named before training

    def gen():
        for e in range(start_epoch, epochs):
            idx = _epoch_groups(sampler, e, max_groups)
            for s in range(skip if e == start_epoch else 0, steps):
                yield (images[idx[s * batch_groups: (s + 1) * batch_groups]],)

    # 1-tuples (x,): what Keras takes from a Python generator, and the train step reads x from a tuple
    return mapped_batches(gen, lambda: (image_spec(images, (None,)),), lambda x: (to_float(x),))


def train_groups(model: GroupedVAE, images, sampler, config: TrainConfig, *, batch_groups: int,
                 max_groups: int | None = None, **train_kwargs) -> TrainResult:
    """:func:`facelab.nets.training.train` on :func:`group_batches` (``train_kwargs``: ``data_fingerprint``,
    ``callbacks``, ``desc``, ``shown_settings``). Compile ``model`` first to choose its optimizer."""
    steps = group_steps(sampler, batch_groups, max_groups)
    make = lambda e, s: group_batches(images, sampler, batch_groups, epochs=config.epochs, start_epoch=e, skip=s,
                                      max_groups=max_groups)
    return train(model, make, steps, config, **train_kwargs)


def train_on_groups(model: GroupedVAE, images: np.ndarray, sampler, *, epochs: int, batch_groups: int = 16,
                    max_groups: int | None = None, verbose: int = 0, callbacks: list | None = None,
                    run_dir: str | None = None, checkpoint_every: int = 50) -> dict:
    """Fit ``model`` (compiled, or Adam at 1e-3) on groups of one identity each: per epoch,
    ``sampler.epoch(e)`` gives index groups ``(G, N)`` into ``images`` (uint8); ``max_groups`` caps G
    (quick runs). ``verbose`` > 0 prints the progress lines; ``callbacks`` see the epochs numbered across
    the run. With ``run_dir`` a rerun resumes from its checkpoint (None: a temporary folder). Returns the
    run's history (per-epoch loss, nll, kl_w, kl_z, beta)."""
    images = np.asarray(images)
    data_fp = fingerprint(images[:: max(1, len(images) // 64)], images.shape, _epoch_groups(sampler, 0, max_groups))
    unnamed = lambda cfg: {k: v for k, v in cfg.items() if k != "name"}  # Keras numbers the names in a process
    config = TrainConfig(epochs=epochs, checkpoint_every=checkpoint_every if run_dir else 0, run_dir=run_dir,
                         tensorboard=False, progress=verbose > 0,
                         extra={"model": unnamed(model.get_config()),
                                "optimizer": unnamed(model.optimizer.get_config()) if model.compiled else None,
                                "batch_groups": batch_groups, "max_groups": max_groups})
    result = train_groups(model, images, sampler, config, batch_groups=batch_groups, max_groups=max_groups,
                          data_fingerprint=data_fp, callbacks=callbacks, desc="grouped VAE",
                          shown_settings={"batch": f"{batch_groups} groups"})
    return result.run_history


# -- the method --------------------------------------------------------------------------------
class GroupedVAEMethod(FaceMethod):
    """μ_w of a single image (the mean of q(w | x) with N = 1) as a face embedding.

    Trains a :class:`GroupedVAE` on groups of ``group_size`` images of one training identity
    (the data layer's ``GroupSampler``; ``short="replace"`` lets identities with 2..N−1 images
    take part with repeats). Defaults target a GPU run at 64×64; ``quick=True`` trains one short
    epoch at 32×32 for CI (it sets defaults only: ``epochs`` given explicitly are kept). ``run_dir``:
    checkpoints (every ``checkpoint_every`` batches and at each epoch end), ``history.json`` and
    TensorBoard logs in ``run_dir/grouped-vae/data-<fingerprint of the training set>`` (``-seed<k>`` for
    a seed k ≠ 0), so a killed fit resumes and a finished one is re-embedded without training (None =
    temporary). ``progress``: a line with the settings, then one line per epoch with the losses, on
    stderr (``verbose`` > 0 says the same, its older name). ``devices``: train on several devices
    under JAX (:mod:`facelab.nets.training.devices`; always with the compiled step there).
    ``flip_average``: embed a face as μ_w of the group (face, its mirror image), two views of one person
    that the set encoder pools as it pools a training group (q(w | x_1:N), Tan, Pal & Courville eq. 4);
    it changes what is embedded, not the fit.
    """

    name = "grouped-vae"
    kind = "generative"
    similarity = "cosine"
    embedding_only = ("flip_average",)

    def __init__(self, preprocess: PreprocessConfig | None = None, seed: int = 0, quick: bool = False, *,
                 w_dim: int = 32, z_dim: int = 16, group_size: int = 5, short: str = "replace",
                 epochs: int | None = None, batch_groups: int = 16, learning_rate: float = 1e-3,
                 kl_warmup_epochs: float = 5, filters: int | None = None, likelihood_sigma: float | None = None,
                 jit_compile: bool | str = "auto", verbose: int = 0, progress: bool = False,
                 run_dir: str | None = None, checkpoint_every: int = 50, tensorboard: bool | None = None,
                 devices: int | str = 1, flip_average: bool = False):
        super().__init__(PreprocessConfig.coerce(preprocess, PreprocessConfig(size=32 if quick else 64)), seed, quick)
        self.w_dim, self.z_dim, self.group_size, self.short = w_dim, z_dim, group_size, short
        self.epochs = epochs if epochs is not None else (1 if quick else 60)
        self.batch_groups, self.learning_rate, self.kl_warmup_epochs = batch_groups, learning_rate, kl_warmup_epochs
        self.filters = filters if filters is not None else (16 if quick else 32)
        self.likelihood_sigma = likelihood_sigma
        self.progress = progress or verbose > 0
        self.run_dir, self.checkpoint_every = run_dir, checkpoint_every
        self.tensorboard = run_dir is not None if tensorboard is None else tensorboard
        self.max_groups = 128 if quick else None
        self.devices = check_devices(devices)
        self.flip_average = flip_average  # the registry checks its type, as for every method's arguments
        # a quick run is a few steps: tracing the train step (≈10 s on a busy 2-core CPU) would cost more
        self.jit_compile, self.run_eagerly = (False, True) if quick else (jit_compile, False)

    def training_history(self) -> dict | None:
        return getattr(self, "history_", None)  # None before the first fit

    def params(self) -> dict:
        return {"w_dim": self.w_dim, "z_dim": self.z_dim, "group_size": self.group_size, "short": self.short,
                "epochs": self.epochs, "batch_groups": self.batch_groups, "learning_rate": self.learning_rate,
                "kl_warmup_epochs": self.kl_warmup_epochs, "filters": self.filters,
                "likelihood_sigma": self.likelihood_sigma, "max_groups": self.max_groups,
                **({"devices": self.devices} if self.devices != 1 else {}),
                **({"flip_average": True} if self.flip_average else {})}

    def training_callbacks(self) -> list:
        """Extra Keras callbacks for the fit (none by default)."""
        return []

    def fit(self, images, labels):
        from ..data.samplers import GroupSampler

        images = check_images(images, self.preprocess.shape)
        labels = check_labels(labels, len(images))
        labels = np.unique(labels, return_inverse=True)[1].astype(np.int32)  # the same groups, a stable fingerprint
        sampler = GroupSampler(labels, self.group_size, short=self.short, seed=self.seed)
        steps = group_steps(sampler, self.batch_groups, self.max_groups)
        data_fp = training_set_fingerprint(images, labels)
        self.fit_dir_ = training_set_dir(self.run_dir, self.name, data_fp, self.seed)
        # what a checkpoint must match: every setting but the epoch count (a finished run may be extended)
        config = TrainConfig(epochs=self.epochs, learning_rate=self.learning_rate, jit_compile=self.jit_compile,
                             checkpoint_every=self.checkpoint_every, run_dir=self.fit_dir_,
                             tensorboard=self.tensorboard, progress=self.progress,
                             extra={"method": self.name,
                                    "params": {k: v for k, v in self.params().items()
                                               if k not in ("epochs", "devices", *self.embedding_only)}})
        with distribution_scope(self.devices) as replicas:  # built, compiled and fitted on every device
            self._train(images, sampler, steps, data_fp, config, replicas)
        self.history_ = self.training_.run_history  # every epoch of the run, across resumed calls
        return self

    def _train(self, images, sampler, steps, data_fp, config, replicas: int) -> None:
        if replicas > 1 and keras.backend.backend() != "jax":
            raise ValueError(f"{self.name} trains on several devices under JAX (KERAS_BACKEND=jax), whose step is one "
                             f"program over the whole batch; under {keras.backend.backend()} use devices=1")
        check_batch(self.batch_groups, replicas, "batch_groups")
        # the warm-up counts optimiser steps, which the checkpoint keeps: a resumed run gets the same β per step
        self.model_ = GroupedVAE(self.preprocess.shape, w_dim=self.w_dim, z_dim=self.z_dim, filters=self.filters,
                                 likelihood_sigma=self.likelihood_sigma,
                                 kl_warmup_steps=int(round(self.kl_warmup_epochs * steps)), seed=self.seed)
        # one compiled step on several devices: eager steps there wait on each other's all-reduces for ever
        eager = self.run_eagerly and replicas == 1
        self.model_.compile(optimizer=config.make_optimizer(self.epochs * steps),
                            jit_compile=self.jit_compile if eager or replicas == 1 else "auto", run_eagerly=eager)
        self.training_ = train_groups(
            self.model_, images, sampler, config, batch_groups=self.batch_groups, max_groups=self.max_groups,
            data_fingerprint=data_fp, callbacks=self.training_callbacks(), desc=self.name,
            shown_settings={**({"preset": self.preset} if self.preset else {}),
                            "batch": f"{self.batch_groups} groups of {self.group_size} images", "w": self.w_dim,
                            "z": self.z_dim, "filters": self.filters, "precision": keras.config.dtype_policy().name,
                            **({"devices": replicas} if replicas > 1 else {})})

    def embed(self, images, batch: int = 512):
        images = check_images(images, self.preprocess.shape)
        # (B, 1, H, W, C): each face alone; (B, 2, H, W, C): each face and its mirror as one group
        groups = (lambda x: np.stack([x, x[:, :, ::-1]], axis=1)) if self.flip_average else (lambda x: x[:, None])
        out = [np.asarray(ops.convert_to_numpy(self.model_.q_w(to_unit(groups(images[s: s + batch])))[0]))
               for s in range(0, len(images), batch)]
        return np.concatenate(out).astype(np.float32)
