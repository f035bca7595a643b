"""``DeepMethod``: the method contract (fit / embed / similarity) on top of :func:`facelab.nets.training.train`.

A deep method says three things and inherits the rest:

- :meth:`DeepMethod.build_training_model` — the network that is trained (backbone + head/loss);
- :meth:`DeepMethod.make_sampler` and :meth:`DeepMethod.make_dataset` — which batches it sees;
- ``loss`` (passed to ``compile``), unless the training model is already compiled.

``fit`` validates the input, maps identity labels to 0..C-1, seeds Keras, builds the backbone
under the precision policy, trains (checkpoints, resume, NaN guard) and keeps the embedding
network as ``backbone_``; ``embed`` runs it in batches. ``save``/``load`` round-trip through a
``.keras`` file (which records the method's name inside) plus the method's config beside it; ``load``
refuses another method's model and names a file that is not a Keras model.
"""
from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from .. import io
from ..base import FaceMethod, check_images, check_labels
from ..data.pipeline import translate
from ..data.preprocess import PreprocessConfig
from .backbones import BACKBONES, build_backbone
from .training.devices import check_batch, check_devices, distribution_scope, single_device_copy
from .training import LR_SCHEDULES, PRECISIONS, SavedModelError, TrainConfig, check_choice, load_model, precision_scope, read_model_info, \
    resolve_precision, save_model, train, training_set_dir, training_set_fingerprint


def _whole_pixels(name: str, value) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a whole number of pixels >= 0, got {value!r}")
    return int(value)


class _Default(int):
    """A default number that ``is`` tells apart from the same number given explicitly, so that quick
    mode shortens a default budget and never one the user chose (``--param epochs=300 --quick``)."""


DEFAULT_EPOCHS = _Default(20)


class DeepMethod(FaceMethod):
    """Base class for trained embedding networks; ``similarity`` is cosine on the L2-normalised output.

    Parameters common to all deep methods (subclasses add their own): ``backbone`` ("small" |
    "resnet"), ``embedding_dim``, ``backbone_kwargs`` (e.g. ``{"width": 32}``), ``epochs``,
    ``batch_size``, ``learning_rate``, ``lr_schedule`` ("constant" | "cosine"), ``weight_decay``,
    ``augment`` (random horizontal flips), ``shift`` (random translations of up to ±``shift`` pixels,
    reflect-padded: :func:`facelab.data.pipeline.shift_batch`; 0 = none), ``flip_average`` (embed a face as the mean of the
    network's outputs for it and its mirror image: test-time augmentation, as DeepID (Sun et al.
    2014) and SphereFace (Liu et al. 2017) describe a test face by it and its flipped copy; not part
    of the fit, so a finished run can be re-embedded with it), ``shift_average`` (s pixels: the mean
    over the 3×3 grid of copies moved by −s, 0, s pixels on each axis, reflect-padded — the
    multi-crop testing of Krizhevsky et al. 2012, Sec. 4.1, for a network trained with ``shift``;
    with ``flip_average`` each copy and its mirror, 18 views; 0 = none; embedding-only too), ``run_dir``
    (checkpoints + TensorBoard logs in ``run_dir/<name>/data-<fingerprint of the training set>``,
    ``-seed<k>`` appended for a seed k ≠ 0, so one folder serves every method, split and seed; None =
    temporary), ``devices`` (1, a larger count or "all": data-parallel training, one replica per device,
    the batch split evenly among them: :mod:`facelab.nets.training.devices`), ``precision`` ("auto" |
    "float32" | "mixed_bfloat16" | "mixed_float16"), ``jit_compile``
    (True | False | "auto": XLA under JAX only), ``progress`` (a line with the settings, then one line
    per epoch with the losses, on stderr). ``quick=True`` caps every epoch at ``quick_steps`` batches and
    makes the default ``epochs`` ``quick_epochs``; ``epochs`` given explicitly are kept.
    """

    kind = "deep"
    similarity = "cosine"
    embedding_only = ("flip_average", "shift_average")  # test-time views change what is embedded, not what is trained
    min_identities = 2
    quick_epochs = 2
    quick_steps = 8

    def __init__(self, preprocess: PreprocessConfig | None = None, seed: int = 0, quick: bool = False, *,
                 backbone: str = "small", embedding_dim: int = 128, backbone_kwargs: dict | None = None,
                 epochs: int = DEFAULT_EPOCHS, batch_size: int = 64, learning_rate: float = 1e-3,
                 weight_decay: float = 0.0,
                 lr_schedule: str = "constant", augment: bool = True, shift: int = 0, flip_average: bool = False,
                 shift_average: int = 0, run_dir: str | None = None, devices: int | str = 1,
                 precision: str = "auto", jit_compile: bool | str = "auto", checkpoint_every: int = 50, progress: bool = False,
                 tensorboard: bool | None = None):
        super().__init__(PreprocessConfig.coerce(preprocess, PreprocessConfig(size=64, grayscale=True)), seed=seed, quick=quick)
        check_choice("backbone", backbone, tuple(BACKBONES))
        check_choice("lr_schedule", lr_schedule, LR_SCHEDULES)
        check_choice("precision", precision, PRECISIONS)
        self.backbone = backbone
        self.embedding_dim = embedding_dim
        self.backbone_kwargs = dict(backbone_kwargs or {})
        self.epochs = (self.quick_epochs if quick else int(epochs)) if epochs is DEFAULT_EPOCHS else epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.augment = augment
        self.shift = _whole_pixels("shift", shift)
        self.flip_average = flip_average
        self.shift_average = _whole_pixels("shift_average", shift_average)
        self.run_dir = run_dir
        self.devices = check_devices(devices)
        self.precision = precision
        self.jit_compile = jit_compile
        self.checkpoint_every = checkpoint_every
        self.progress = progress
        self.tensorboard = run_dir is not None if tensorboard is None else tensorboard

    # -- to override --------------------------------------------------------------------
    loss = None  # compile loss (function, dict or list) for the training model
    loss_weights = None

    def build_training_model(self, backbone: keras.Model, n_classes: int) -> keras.Model:
        raise NotImplementedError

    def make_sampler(self, images: np.ndarray, labels: np.ndarray, backbone: keras.Model):
        raise NotImplementedError

    def training_callbacks(self, sampler) -> list:
        """Extra Keras callbacks (e.g. per-epoch hard-pair mining)."""
        return []

    def steps_per_epoch(self, sampler) -> int:
        raise NotImplementedError

    def make_dataset(self, images, labels, sampler, start_epoch: int, skip: int):
        raise NotImplementedError

    def method_params(self) -> dict:
        """Subclass hyper-parameters for :attr:`config`."""
        return {}

    def batch_shown(self) -> str:
        """A training batch as the progress line shows it (pair and triplet methods batch otherwise)."""
        return f"{self.batch_size} images"

    def check_replicas(self, replicas: int) -> None:
        """Refuse a batch that does not split evenly over ``replicas`` devices (methods that batch
        otherwise check their own)."""
        check_batch(self.batch_size, replicas)

    # -- the contract -------------------------------------------------------------------
    @property
    def train_epochs(self) -> int:
        """The epochs a fit runs: ``epochs``, which quick mode already set when it was not given."""
        return self.epochs

    def params(self) -> dict:
        # devices: where it trained, recorded but not part of a checkpoint's key (a run may resume on others)
        return {**self._training_params(), **({"flip_average": True} if self.flip_average else {}),
                **({"shift_average": self.shift_average} if self.shift_average else {}),
                **({"devices": self.devices} if self.devices != 1 else {})}

    def _training_params(self) -> dict:
        """The hyper-parameters the trained network depends on (they key its checkpoints)."""
        return {"backbone": self.backbone, "embedding_dim": self.embedding_dim,
                "backbone_kwargs": self.backbone_kwargs, "epochs": self.train_epochs, "batch_size": self.batch_size,
                "learning_rate": self.learning_rate, "weight_decay": self.weight_decay,
                **({"lr_schedule": self.lr_schedule} if self.lr_schedule != "constant" else {}),
                "augment": self.augment, **({"shift": self.shift} if self.shift else {}),
                "precision": resolve_precision(self.precision), "jit_compile": self.jit_compile,
                **self.method_params()}

    def _checkpoint_params(self) -> dict:
        """What a checkpoint must match: the training hyper-parameters but the epoch count, so a
        finished run asked for more epochs continues (:func:`~facelab.nets.training.train`)."""
        return {k: v for k, v in self._training_params().items() if k != "epochs"}

    def build_backbone(self, input_shape) -> keras.Model:
        return build_backbone(self.backbone, input_shape, self.embedding_dim, **self.backbone_kwargs)

    def fit(self, images, labels) -> "DeepMethod":
        images = check_images(images)
        if images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 as produced by the data layer; got {images.dtype}")
        labels = check_labels(labels, len(images), min_classes=self.min_identities)
        classes, labels = np.unique(labels, return_inverse=True)
        labels = labels.astype(np.int32)
        with distribution_scope(self.devices) as replicas:  # models are built, compiled and fitted inside
            self.check_replicas(replicas)
            self.replicas_ = replicas
            self._fit(images, labels, classes, replicas)
        if replicas > 1:  # embedded, saved and loaded as a network trained on one device
            self.backbone_ = single_device_copy(self.backbone_)
        return self

    def _fit(self, images, labels, classes, replicas: int) -> None:
        keras.utils.set_random_seed(self.seed)
        with precision_scope(self.precision):
            backbone = self.build_backbone(images.shape[1:])
            model = self.build_training_model(backbone, len(classes))
        sampler = self.make_sampler(images, labels, backbone)
        steps = self.steps_per_epoch(sampler)
        if self.quick:
            steps = min(steps, self.quick_steps)
        data_fp = training_set_fingerprint(images, labels)
        self.fit_dir_ = training_set_dir(self.run_dir, self.name, data_fp, self.seed)
        config = TrainConfig(epochs=self.train_epochs, learning_rate=self.learning_rate,
                             weight_decay=self.weight_decay, lr_schedule=self.lr_schedule,
                             jit_compile=self.jit_compile,
                             checkpoint_every=self.checkpoint_every, run_dir=self.fit_dir_,
                             tensorboard=self.tensorboard, progress=self.progress,
                             extra={"method": self.name, "params": self._checkpoint_params()})
        self.training_ = train(model, lambda e, s: self.make_dataset(images, labels, sampler, e, s), steps, config,
                               loss=self.loss, loss_weights=self.loss_weights, data_fingerprint=data_fp,
                               callbacks=self.training_callbacks(sampler), desc=self.name,
                               shown_settings={**({"preset": self.preset} if self.preset else {}),
                                               "batch": self.batch_shown(), "backbone": self.backbone,
                                               "embedding": self.embedding_dim,
                                               "precision": resolve_precision(self.precision),
                                               **({"devices": replicas} if replicas > 1 else {})})
        self.backbone_ = backbone
        self.training_model_ = model
        self.classes_ = classes
        self.input_shape_ = tuple(images.shape[1:])

    def training_history(self) -> dict | None:
        training = getattr(self, "training_", None)  # None before the first fit
        return None if training is None else training.history

    def embed(self, images, batch_size: int = 256) -> np.ndarray:  # (n, embedding_dim)
        if not hasattr(self, "backbone_"):
            raise RuntimeError(f"{self.name}: call fit() (or load()) before embed()")
        images = check_images(images, self.input_shape_)
        # predict_on_batch runs the backbone as one compiled (graph) function in inference mode
        # (benchmarks/bench_embed.py: 1.18× the eager call's throughput here, same outputs to 5e-8)
        def outputs(x):
            return np.concatenate([np.asarray(self.backbone_.predict_on_batch(self._float(x[i: i + batch_size])),
                                              dtype=np.float32) for i in range(0, len(x), batch_size)])

        s = self.shift_average
        offsets = [(dy, dx) for dy in (-s, 0, s) for dx in (-s, 0, s)] if s else [(0, 0)]
        out, n_views = 0.0, 0
        for dy, dx in offsets:  # one view in memory at a time
            view = translate(images, dy, dx, "shift_average")
            for v in (view, view[:, :, ::-1]) if self.flip_average else (view,):
                out, n_views = out + outputs(v), n_views + 1
        return (out / np.float32(n_views)).astype(np.float32)

    @staticmethod
    def _float(batch: np.ndarray) -> np.ndarray:
        return batch.astype(np.float32) / np.float32(255.0)

    # -- persistence --------------------------------------------------------------------
    def save(self, path) -> Path:
        """The embedding network as ``<path>`` (``.keras``) plus ``<path>.json`` (the config)."""
        if not hasattr(self, "backbone_"):
            raise RuntimeError(f"{self.name}: nothing to save, the method is not fitted")
        path = save_model(self.backbone_, path, info={"method": self.name, "kind": self.kind})
        io.write_json(Path(f"{path}.json"), {"config": self.config, "input_shape": list(self.input_shape_),
                                              **self.extra_state()})
        return path

    def extra_state(self) -> dict:
        """JSON-able state beyond the embedding network that :meth:`load` must restore (override)."""
        return {}

    def restore_extra_state(self, state: dict) -> None:
        """Inverse of :meth:`extra_state` (override)."""

    @classmethod
    def load(cls, path) -> "DeepMethod":
        """A fitted method from :meth:`save` (embedding only; training state is in the run dir).

        Raises :class:`~facelab.nets.training.SavedModelError` for a file that is not a Keras model
        or holds another method's model (what :meth:`save` recorded inside it, or in the config beside
        it for older files)."""
        path = Path(path)
        inside = read_model_info(path)  # a missing file, or one that is not a Keras model, is named first
        settings = Path(f"{path}.json")
        try:
            info = json.loads(settings.read_text()) if settings.exists() else {}
        except (OSError, ValueError) as exc:
            raise SavedModelError(f"{settings}, the settings saved beside {path.name}, cannot be read "
                                  f"({type(exc).__name__}: {exc}); save the model again") from exc
        cfg = info.get("config", {})
        held = inside.get("method") or cfg.get("name")
        if held is not None and held != cls.name:
            raise SavedModelError(f"{path} holds a {held} model, not {cls.name}")
        pre = cfg.get("preprocess")
        method = cls(preprocess=PreprocessConfig(**pre) if pre else None, seed=cfg.get("seed", 0),
                     quick=cfg.get("quick", False), flip_average=cfg.get("flip_average", False),
                     shift_average=cfg.get("shift_average", 0))
        method.backbone_ = load_model(path)
        method.input_shape_ = tuple(method.backbone_.input_shape[1:])
        method.restore_extra_state(info)
        return method


def with_joint_bayesian(method_cls, name: str, pca_dim: int = 128):
    """A registry factory: ``method_cls``'s embedding → PCA whitening → Joint Bayesian fitted on the same
    training identities (Chen et al. 2012) instead of cosine.

    DeepID scored its ConvNet features this way (Sun et al. 2014, section 4); the same verifier serves any
    embedding. In a comparison the network trains once for the method with and without it
    (``facelab.shared_fits``). ``pca_dim`` is the default whitened dimension (a ``--param``).
    """
    def factory(preprocess=None, seed=0, quick=False, pca_dim: int = pca_dim, **kwargs):
        from ..classical.face_methods import LearnedMetricMethod

        base = method_cls(preprocess, seed, quick, **kwargs)
        return LearnedMetricMethod(base, pca_dim=pca_dim, metric="jb", name=name, seed=seed, quick=quick)

    factory.__doc__ = (f"{method_cls.__name__}'s embedding → PCA whitening ({pca_dim} dimensions unless "
                       "pca_dim says otherwise) → Joint Bayesian on the training identities (Chen et al. 2012).")
    return factory
