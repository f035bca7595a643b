"""The disentangler as a facelab method: :class:`GanDisentangler` trains the three stages (module doc
of :mod:`facelab.generative.gan_disentangler`) through :func:`facelab.nets.training.train` and embeds
one sub-vector of f; its three variants embed the others (the paper's Table 2)."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import typing
from pathlib import Path

import keras
import numpy as np
from keras import ops

from ... import io
from ...base import FaceMethod, check_images, check_labels
from ...data.preprocess import PreprocessConfig
from ...data.samplers import BatchSampler, PKSampler
from ...nets.training import (CHECKPOINT, CheckpointMismatchError, TrainConfig, check_batch, check_devices,
                              distribution_scope, train, training_set_dir,
                              training_set_fingerprint)
from ..pose import POSE_NAMES
from .config import PARTS, GanConfig
from .data import POSE_MEMO_KEY, PoseTargets, _pose_rows, stage_dataset
from .networks import Networks
from .trainer import DxWinsMonitor, StageTrainer


_SET_BY_FACELAB = ("image_shape", "steps_cap")  # from the preprocessing and quick mode, never a --param


def _describe_differences(saved: dict, now: dict) -> list[str]:
    keys = sorted(set(saved) | set(now))
    return [f"{k}: checkpoint {saved.get(k, '<missing>')!r}, now {now.get(k, '<missing>')!r}"
            for k in keys if saved.get(k) != now.get(k)]


class GanDisentangler(FaceMethod):
    """Browatzki & Wallraven's disentangler with Zeno's generator as a facelab method (module doc).

    ``embed`` returns the L2-normalised sub-vector ``part`` of f = Φ(E(x)): ``"id"`` (the registered
    ``gan-disentangler``), ``"noid"`` (f_pose ⊕ f_style), ``"pose"``, ``"style"`` — the paper's
    Table 2 — or ``"z"`` (the stage-1 code). Keyword arguments go to :class:`GanConfig` (``epochs``
    per stage, dimensions, λ's, ...). ``quick=True`` caps every epoch at ``quick_steps`` batches and
    makes the default ``quick_epochs`` epochs per stage (``epochs`` given explicitly are kept).
    ``run_dir`` keeps checkpoints, TensorBoard logs and ``history.json`` (every loss per epoch) per stage
    (None: a temporary folder, no resumption).
    :meth:`fit` trains in ``run_dir/gan-disentangler/data-<fingerprint of the training set>``, as the
    deep methods do, so one folder serves every split and sub-vector of a comparison; the stage
    methods called one by one train in ``run_dir`` itself. Methods that differ only in ``part`` read one fitted model (Table 2
    in one training) within one :class:`facelab.shared_fits.SharedFits`. ``after_stage(stage, model)``, when set
    on an instance, is called by :meth:`fit` after each stage (``facelab disentangle`` measures there).
    ``devices``: each stage trains on several devices under JAX (:mod:`facelab.nets.training.devices`).
    ``jit_compile``: XLA-compile each stage's step (``"auto"``: under JAX only, as every facelab network;
    ``benchmarks/bench_gan_step.py`` measures what it gains under TensorFlow on a CPU).
    ``flip_average``: embed a face by the mean of its sub-vector and its mirror image's, as the deep methods'
    test-time view; it changes what is embedded (every part, and so the identity-transfer measurement), not
    the fit. Pose is predicted from the face alone (:meth:`predict_pose`) unless ``mirror_pose``:
    then from the face and its mirror, antisymmetrised as the OpenCV targets are
    (:func:`facelab.generative.pose.head_pose`), since a mirror flips the sign of roll and yaw.
    """

    name = "gan-disentangler"
    kind = "generative"
    embedding_only = ("part", "name", "flip_average", "mirror_pose")  # every sub-vector and view is read from one fitted model (Table 2)
    similarity = "cosine"
    part = "id"
    quick_epochs = 2
    quick_steps = 4
    pose_subset = 512  # images whose OpenCV pose sets the targets' scale
    #: per-image functions whose rows ``facelab data pack`` computes and ships (see :func:`pose_targets`)
    memo_tables = {POSE_MEMO_KEY: _pose_rows}
    after_stage = None

    @classmethod
    def declared_settings(cls) -> dict:
        """The :class:`GanConfig` fields a caller sets (``--param``), as ``{name: (type, default)}``: what
        :func:`facelab.methods.accepted_parameters` lists and type-checks, beside the constructor's own."""
        hints = typing.get_type_hints(GanConfig)
        return {f.name: (hints[f.name], f.default) for f in dataclasses.fields(GanConfig) if f.name not in _SET_BY_FACELAB}

    def __init__(self, preprocess: PreprocessConfig | None = None, seed: int = 0, quick: bool = False, *,
                 part: str | None = None, run_dir: str | None = None, progress: bool = False,
                 tensorboard: bool | None = None, checkpoint_every: int = 50, devices: int | str = 1,
                 jit_compile: bool | str = "auto", flip_average: bool = False, mirror_pose: bool = False,
                 **config):
        super().__init__(PreprocessConfig.coerce(preprocess, PreprocessConfig(size=64, grayscale=True)), seed=seed, quick=quick)
        self.part = part or type(self).part
        if self.part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {self.part!r}")
        unknown = set(config) - set(self.declared_settings())
        if unknown:
            from ...methods import declared_parameter_names, unknown_parameters

            raise unknown_parameters(self.name, unknown, declared_parameter_names(GanDisentangler))
        if quick:  # a small default budget; epochs the caller gave are kept
            config.setdefault("epochs", (self.quick_epochs,) * 3)
            config["steps_cap"] = self.quick_steps
        self.gan_config = GanConfig(image_shape=self.preprocess.shape, **config)
        self.run_dir, self.progress, self.checkpoint_every = run_dir, progress, checkpoint_every
        self.tensorboard = run_dir is not None if tensorboard is None else tensorboard
        self.devices = check_devices(devices)
        TrainConfig(jit_compile=jit_compile)  # checks the value now, not at the first stage
        self.jit_compile = jit_compile
        self.flip_average = flip_average  # the registry checks their types, as for every method's arguments
        self.mirror_pose = mirror_pose

    def params(self) -> dict:
        # how it trained, recorded when not the default but not part of a checkpoint's key
        return {"part": self.part, **self.gan_config.to_dict(), **({"devices": self.devices} if self.devices != 1 else {}),
                **({"jit_compile": self.jit_compile} if self.jit_compile != "auto" else {}),
                **({"flip_average": True} if self.flip_average else {}),
                **({"mirror_pose": True} if self.mirror_pose else {})}

    # -- training ------------------------------------------------------------------------------
    def fit(self, images, labels) -> "GanDisentangler":
        images, labels = self._check(images, labels)
        # every sub-vector reads the same fit, so the folder is named for the model, not the part
        self.fit_dir_ = training_set_dir(self.run_dir, GanDisentangler.name, training_set_fingerprint(images, labels),
                                        self.seed)
        for stage, train in ((1, lambda: self.train_autoencoder(images)),
                             (2, lambda: self.train_disentanglement(images, labels)),
                             (3, lambda: self.train_joint(images, labels))):
            train()
            if self.after_stage is not None:  # e.g. measurements after every stage, not only at the end
                self.after_stage(stage, self)
        return self

    @contextlib.contextmanager
    def _devices(self):
        """Each stage builds and trains its networks inside :func:`distribution_scope` (``devices``)."""
        with distribution_scope(self.devices) as replicas:
            if replicas > 1:
                self._check_replicas(replicas)
            yield

    def _check_replicas(self, replicas: int) -> None:
        """Several devices: JAX only (its step is one program over the whole batch; the custom TensorFlow
        step does not divide its objectives among replicas), and batches that split evenly."""
        if keras.backend.backend() != "jax":
            raise ValueError(f"{self.name} trains on several devices under JAX (KERAS_BACKEND=jax), whose step is one "
                             f"program over the whole batch; under {keras.backend.backend()} use devices=1")
        check_batch(self.gan_config.batch_size, replicas, "batch_size")
        check_batch(self.gan_config.p * self.gan_config.k, replicas, "p × k")

    def _check(self, images, labels=None):
        images = check_images(images, self.gan_config.image_shape, "images")
        if images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 as produced by the data layer; got {images.dtype}")
        if labels is None:
            return images, None
        labels = check_labels(labels, len(images), min_classes=2)
        return images, np.unique(labels, return_inverse=True)[1].astype(np.int32)

    def _stage_images_check(self, images, stage: int):
        got = tuple(np.shape(images)[1:])
        if not hasattr(self, "nets_"):
            if stage > 1:
                raise RuntimeError(f"stage {stage} needs the stage-1 autoencoder: call train_autoencoder() first")
            return
        if got != self.input_shape_:
            raise ValueError(f"stage {stage} got images of shape {got}, but stage 1 was trained on {self.input_shape_} "
                             "images: use the same preprocessing for every stage")

    def train_autoencoder(self, images) -> "GanDisentangler":
        """Stage 1 (Eq. 1–5) on unlabelled images."""
        self._stage_images_check(images, 1)
        images, _ = self._check(images)
        keras.utils.set_random_seed(self.seed)
        with self._devices():
            self.nets_ = Networks(self.gan_config)
            self.input_shape_ = tuple(images.shape[1:])
            self.curves_ = {}
            sampler = BatchSampler(len(images), min(self.gan_config.batch_size, len(images)), seed=self.seed)
            no_pose = lambda idx: (np.zeros((len(idx), len(POSE_NAMES))), np.zeros(len(idx), bool))
            self._run_stage(1, images, np.zeros(len(images), np.int32), no_pose, sampler)
        return self

    def train_disentanglement(self, images, labels) -> "GanDisentangler":
        """Stage 2 (Eq. 6, 8–11): Φ and Φ⁻¹ alone, E and G frozen."""
        return self._supervised(2, images, labels)

    def train_joint(self, images, labels) -> "GanDisentangler":
        """Stage 3: every loss, every network."""
        return self._supervised(3, images, labels)

    def _supervised(self, stage, images, labels):
        self._stage_images_check(images, stage)
        images, labels = self._check(images, labels)
        targets = PoseTargets(images)
        if stage == 2 or not hasattr(self, "pose_scale_"):
            # target scale from a seeded subset (the OpenCV cascade costs ~15 ms per image)
            subset = np.random.default_rng(self.seed).permutation(len(images))[:self.pose_subset]
            pose, found = targets.get(subset)
            scale = pose[found].std(axis=0) if found.sum() > 1 else np.ones(len(POSE_NAMES))
            self.pose_scale_ = np.where(scale > 0, scale, 1.0)
            self.pose_mean_ = pose[found].mean(axis=0) if found.any() else np.zeros(len(POSE_NAMES))
            self.pose_found_fraction_ = float(found.mean())
        cfg = self.gan_config
        sampler = PKSampler(labels, min(cfg.p, int((np.bincount(labels) >= 2).sum())), cfg.k, short="replace",
                            seed=self.seed + stage)

        def normalised(idx):
            pose, found = targets.get(idx)
            return pose / self.pose_scale_, found

        with self._devices():
            if cfg.lambda_softmax:
                self.nets_.add_identity_classifier(int(labels.max()) + 1)
            self._run_stage(stage, images, labels, normalised, sampler)
        return self

    def _run_stage(self, stage, images, labels, targets, sampler):
        cfg = self.gan_config
        run_dir = self.fit_dir_ if hasattr(self, "fit_dir_") else self.run_dir  # fit()'s folder, or run_dir
        run_root = Path(run_dir) if run_dir else None
        stage_dir = None if run_root is None else run_root / f"stage{stage}"
        data_fp = training_set_fingerprint(images, labels)
        # everything but the epoch budgets: a finished run may be extended by asking for more epochs
        record = {"stage": stage, "seed": self.seed, "data": data_fp,
                  **{k: v for k, v in cfg.to_dict().items() if k != "epochs"}}
        record["image_shape"] = list(self.input_shape_)
        defaults = {f.name: f.default for f in dataclasses.fields(GanConfig)}
        for key in GanConfig.LATER_SETTINGS:  # recorded only when set: older runs still resume
            if record[key] == defaults[key]:
                del record[key]
        if stage_dir is not None:
            self._check_run_record(stage_dir, record)
        steps = len(sampler) if cfg.steps_cap is None else min(len(sampler), cfg.steps_cap)
        tconf = TrainConfig(epochs=cfg.epochs[stage - 1], learning_rate=cfg.lr, lr_schedule=cfg.lr_schedule,
                            checkpoint_every=self.checkpoint_every,
                            run_dir=None if stage_dir is None else str(stage_dir), tensorboard=self.tensorboard,
                            progress=self.progress, jit_compile=self.jit_compile,
                            extra={"method": self.name, "stage": stage, "config": record})
        model = StageTrainer(self.nets_, stage, cfg, seed=self.seed + stage)
        model.compile(learning_rate=tconf.rate(tconf.epochs * steps), jit_compile=tconf.jit)
        monitor = DxWinsMonitor()
        make = lambda e, s: stage_dataset(images, labels, targets, sampler,
                                          epochs=tconf.epochs, start_epoch=e, skip=s, max_steps=steps,
                                          augment=cfg.augment, seed=self.seed + 1000 * stage)
        batch = f"{sampler.batch_size} images" if stage == 1 else f"P×K = {sampler.p}×{sampler.k} images"
        result = train(model, make, steps, tconf, data_fingerprint=data_fp,
                       callbacks=[monitor] if model.adversarial else [], desc=f"{self.name} stage {stage}",
                       shown_settings={"batch": batch, "width": cfg.width, "z": cfg.z_dim,
                                       "precision": keras.config.dtype_policy().name})
        self.curves_[f"stage{stage}"] = result.run_history  # every epoch, across resumed calls
        self.dx_wins_epochs_ = {**getattr(self, "dx_wins_epochs_", {}), f"stage{stage}": monitor.fired}
        setattr(self, f"training_stage{stage}_", result)
        self.stage_models_ = {**getattr(self, "stage_models_", {}), stage: model}

    @staticmethod
    def _check_run_record(stage_dir: Path, record: dict):
        """A checkpoint left by another configuration gets an error naming what differs."""
        path = stage_dir / "config.json"
        if (stage_dir / CHECKPOINT).exists() and path.exists():
            saved = json.loads(path.read_text())
            diffs = _describe_differences(saved, json.loads(json.dumps(record)))
            if diffs:
                raise CheckpointMismatchError(f"{stage_dir / CHECKPOINT} was written by another configuration; "
                                              "differences: " + "; ".join(diffs)
                                              + ". Use another run_dir or delete it to start afresh.")
        stage_dir.mkdir(parents=True, exist_ok=True)
        io.write_json(path, record)

    # -- inference -----------------------------------------------------------------------------
    def _require_fit(self):
        if not hasattr(self, "nets_"):
            raise RuntimeError(f"{self.name}: call fit() before embed() or generation")

    def _batches(self, fn, array, batch_size=256):
        return np.concatenate([np.asarray(ops.convert_to_numpy(fn(array[i:i + batch_size])))
                               for i in range(0, len(array), batch_size)])

    def codes(self, images) -> dict:
        """``{"z": (n, z_dim), "f": (n, z_dim)}`` of uint8 images."""
        self._require_fit()
        images = check_images(images, self.input_shape_)
        x = images.astype(np.float32) / 255.0
        z = self._batches(lambda b: self.nets_.encoder(b, training=False), x)
        f = self._batches(lambda b: self.nets_.phi(b, training=False), z)
        return {"z": z, "f": f}

    def embed(self, images, part: str | None = None) -> np.ndarray:
        part = part or self.part
        self._require_fit()
        images = check_images(images, self.input_shape_)  # before mirroring: a clear error for a wrong shape
        views = (images, images[:, :, ::-1]) if self.flip_average else (images,)
        v = 0.0
        for view in views:
            c = self.codes(view)
            v = v + (c["z"] if part == "z" else c["f"][:, self.gan_config.part_slice(part)])
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    def predict_pose(self, images) -> np.ndarray:
        """f_pose's first two dimensions in the OpenCV targets' units (roll degrees, yaw proxy); with
        ``mirror_pose``, half the difference between the face's and its mirror image's (both change sign
        under a mirror), so that a face and its mirror get opposite poses, as their targets have."""
        a = self.gan_config.id_dim
        read = lambda x: self.codes(x)["f"][:, a:a + len(POSE_NAMES)] * self.pose_scale_
        if not self.mirror_pose:
            return read(images)
        self._require_fit()
        images = check_images(images, self.input_shape_)  # before mirroring: a clear error for a wrong shape
        return (read(images) - read(images[:, :, ::-1])) / 2.0

    def _to_uint8(self, x) -> np.ndarray:
        return np.clip(np.rint(np.asarray(x) * 255.0), 0, 255).astype(np.uint8)

    def decode_f(self, f) -> np.ndarray:
        self._require_fit()
        f = np.asarray(f, np.float32)
        return self._to_uint8(self._batches(lambda b: self.nets_.decode_f(b), f))

    def reconstruct(self, images, route: str = "z") -> np.ndarray:
        """G(E(x)) (``route="z"``) or G(Φ⁻¹(Φ(E(x)))) (``"f"``), uint8."""
        c = self.codes(images)
        if route == "f":
            return self.decode_f(c["f"])
        if route == "z":
            return self._to_uint8(self._batches(lambda b: self.nets_.decode(b), c["z"]))
        raise ValueError(f"route must be 'z' or 'f', got {route!r}")

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """Images of n codes drawn from the prior N(0, I), uint8."""
        self._require_fit()
        z = np.random.default_rng(seed).normal(size=(n, self.gan_config.z_dim)).astype(np.float32)
        return self._to_uint8(self._batches(lambda b: self.nets_.decode(b), z))

    def transfer(self, sources, targets) -> np.ndarray:
        """Identity transfer grid ``(n_sources, n_targets, h, w, c)``: the source's f_id with the
        target's f_pose and f_style, decoded by G ∘ Φ⁻¹."""
        fs, ft = self.codes(sources)["f"], self.codes(targets)["f"]
        a = self.gan_config.id_dim
        grid = np.concatenate([np.repeat(fs[:, None, :a], len(ft), 1),
                               np.repeat(ft[None, :, a:], len(fs), 0)], axis=2)
        out = self.decode_f(grid.reshape(-1, grid.shape[-1]))
        return out.reshape(len(fs), len(ft), *out.shape[1:])


class GanDisentanglerNoId(GanDisentangler):
    """GAN disentangler embedding with the ``noid`` sub-vector, f_pose ⊕ f_style (Table 2 of Browatzki & Wallraven)."""

    name = "gan-disentangler-noid"
    part = "noid"


class GanDisentanglerPose(GanDisentangler):
    """GAN disentangler embedding with the ``pose`` sub-vector (Table 2 of Browatzki & Wallraven)."""

    name = "gan-disentangler-pose"
    part = "pose"


class GanDisentanglerStyle(GanDisentangler):
    """GAN disentangler embedding with the ``style`` sub-vector (Table 2 of Browatzki & Wallraven)."""

    name = "gan-disentangler-style"
    part = "style"
