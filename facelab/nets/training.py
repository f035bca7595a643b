"""Training infrastructure shared by every deep method: one :func:`train` call around ``model.fit``.

What it adds to ``fit``:

- **Checkpoints you can resume from mid-epoch.** Every ``checkpoint_every`` batches and at each
  epoch end, the model's variables, the optimizer's variables and the position
  ``(epoch, batch)`` go into ONE file, ``<run_dir>/checkpoint.npz``, written atomically (a
  killed process leaves the previous checkpoint intact). Started again with the same
  ``run_dir``, :func:`train` restores them and asks the data for the rest of that epoch
  (``make_dataset(start_epoch, skip)``); seeded samplers make those the batches the first run
  would have seen.
- **A damaged checkpoint costs time, not the run.** One that cannot be read (truncated, empty,
  bit-flipped) is renamed ``checkpoint.npz.damaged`` beside itself, with a warning, and training
  starts again from epoch 0. Every array is read (and its CRC checked) before any is assigned, so
  a half-read file never leaves a half-restored model.
- **A finished run can be extended.** The epoch count is not one of the settings a checkpoint must
  match: asking a finished run for more epochs continues it (same weights and optimizer state,
  the earlier epochs' history kept); asking for as many reports it finished; asking for fewer is
  an error (a run cannot be shortened), and so is another epoch count under a cosine schedule
  (its length is part of the learning-rate curve).
- **NaN guard.** :class:`StopOnNaN` stops at the first non-finite loss *before* anything is
  saved, and :func:`train` raises :class:`TrainingDivergedError` naming the step and the last
  good checkpoint, which is kept.
- Progress, on stderr, as Keras users expect it: one line with the run's settings, one line per epoch
  with its losses (``verbose=2`` style; they stay in a log file) and, on a terminal, one tqdm bar over
  all steps; ``progress=False`` prints nothing. TensorBoard logs in ``<run_dir>/logs`` (a CSV log
  there when TensorFlow or the ``tensorboard`` package is missing), and the whole run's per-epoch history in
  ``<run_dir>/history.json``, written at each epoch end (before the checkpoint) and carried across
  resumed calls (a killed run's finished epochs are kept; a resumed epoch's entry is the new one).
- Precision and device: :func:`precision_scope` builds a model under a dtype policy without
  changing the global one; ``"auto"`` means mixed_float16 on a GPU, float32 on a CPU (where
  mixed_float16 measured 6× slower and mixed_bfloat16 only marginally faster).

Saved models: :func:`save_model` writes a ``.keras`` file atomically, with what saved it (the
method's name and kind) inside as ``facelab.json``, so a loader can say what a file holds; custom
layers are registered with ``keras.saving.register_keras_serializable`` so :func:`load_model` needs
no ``custom_objects``. A file that is not a Keras model is a :class:`SavedModelError` naming it.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
import tempfile
import time
import warnings
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from .. import io

CHECKPOINT = "checkpoint.npz"
MODEL_INFO = "facelab.json"  # inside a .keras file: what saved the model
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
LR_SCHEDULES = ("constant", "cosine")


def check_choice(name: str, value, allowed) -> None:
    """A ValueError naming the setting and its allowed values when ``value`` is not one of them."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint (if any) is left on disk."""


class CheckpointMismatchError(ValueError):
    """A run directory holds a checkpoint of another model or other training data."""


class DamagedCheckpointError(ValueError):
    """A checkpoint file that cannot be read: truncated, empty or corrupted."""


class SavedModelError(ValueError):
    """A saved model that cannot be loaded as asked: not a Keras model file, damaged, or another method's."""


# what reading a damaged .npz / .keras zip raises (as for the preprocessing cache)
_READ_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


# -- device and precision -------------------------------------------------------------------
def gpu_available() -> bool:
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if keras.backend.backend() == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    return False


def device_summary() -> str:
    return "GPU" if gpu_available() else "CPU"


def resolve_precision(precision: str = "auto") -> str:
    check_choice("precision", precision, PRECISIONS)
    if precision == "auto":
        return "mixed_float16" if gpu_available() else "float32"
    return precision


@contextlib.contextmanager
def precision_scope(precision: str = "auto"):
    """Layers created inside use ``precision``'s dtype policy; the global policy is restored after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(resolve_precision(precision))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def tensorboard_available() -> bool:
    """Keras's TensorBoard callback writes through ``tf.summary``: it needs TensorFlow as well as the
    tensorboard package (a JAX-only GPU machine often has the second without the first)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("tensorflow", "tensorboard"))


# -- configuration --------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """How long and how to train. ``run_dir=None`` trains in a temporary folder (no resumption)."""

    epochs: int = 10
    learning_rate: float = 1e-3
    optimizer: str = "adam"  # "adam" | "sgd" (momentum 0.9)
    weight_decay: float = 0.0  # decoupled (AdamW) when > 0 with "adam"
    #: "constant", or "cosine": decay to 0 over the whole run (Loshchilov & Hutter 2017, SGDR without restarts)
    lr_schedule: str = "constant"
    #: XLA-compile the train step; "auto" = yes under JAX (whose un-jitted steps run op by op), no
    #: under TensorFlow (its graph step, the default the CPU numbers were measured with)
    jit_compile: bool | str = "auto"
    checkpoint_every: int = 50  # batches; 0 = only at epoch ends
    run_dir: str | None = None
    tensorboard: bool = True
    progress: bool = True
    extra: dict = field(default_factory=dict)  # anything the caller wants in the checkpoint metadata

    def __post_init__(self):
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if self.jit_compile not in (True, False, "auto"):
            raise ValueError(f"jit_compile must be true, false or 'auto', got {self.jit_compile!r}")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")

    @property
    def jit(self) -> bool:
        return keras.backend.backend() == "jax" if self.jit_compile == "auto" else bool(self.jit_compile)

    def make_optimizer(self, total_steps: int = 1) -> keras.optimizers.Optimizer:
        """The optimizer; ``total_steps`` (epochs × steps per epoch) sets the cosine schedule's length.
        The schedule reads the optimizer's step counter, which checkpoints keep, so a resumed run
        continues on the same curve."""
        lr = self.learning_rate
        if self.lr_schedule == "cosine":
            lr = keras.optimizers.schedules.CosineDecay(self.learning_rate, decay_steps=max(1, int(total_steps)))
        if self.optimizer == "sgd":
            return keras.optimizers.SGD(lr, momentum=0.9, weight_decay=self.weight_decay or None)
        if self.weight_decay:
            return keras.optimizers.AdamW(lr, weight_decay=self.weight_decay)
        return keras.optimizers.Adam(lr)


@dataclass
class TrainResult:
    history: dict
    epochs_run: int
    resumed_from: tuple | None  # (epoch, batch) of the checkpoint this run started from
    seconds: float
    run_dir: str
    device: str
    run_history: dict = field(default_factory=dict)  # every epoch of the run, across resumed calls


class _RunHistory(keras.callbacks.Callback):
    """The whole run's per-epoch logs: the earlier calls' epochs before ``first_epoch`` (read from
    ``history.json``), then this call's, rewritten atomically at each epoch end."""

    def __init__(self, path: Path | None, first_epoch: int, resumed):
        super().__init__()
        self.path, self.resumed = path, resumed
        earlier = {}
        if path is not None and resumed is not None and path.exists():
            earlier = json.loads(path.read_text()).get("history", {})
        self.history = {k: list(v[:first_epoch]) for k, v in earlier.items()}
        self.earlier = {k: len(v) for k, v in self.history.items()}  # (a file older than this rule may hold fewer)

    def on_epoch_end(self, epoch, logs=None):
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))
        self.write()

    def this_call(self) -> dict:
        """The epochs this call ran (what ``model.fit``'s History of every segment would hold)."""
        return {k: v[self.earlier.get(k, 0):] for k, v in self.history.items() if len(v) > self.earlier.get(k, 0)}

    def write(self):
        if self.path is not None:
            io.write_json(self.path, {"history": self.history, "resumed_from": self.resumed})


# -- checkpoints ----------------------------------------------------------------------------
def _optimizer_variables(model) -> list:
    opt = model.optimizer
    if not opt.built:
        opt.build(model.trainable_variables)
    return list(opt.variables)


def save_checkpoint(path, model, *, epoch: int, batch: int, fingerprint: str, extra: dict | None = None) -> Path:
    """Model + optimizer variables and the position ``(epoch, batch done in epoch)``, atomically."""
    arrays = {f"m{i}": np.asarray(keras.ops.convert_to_numpy(v)) for i, v in enumerate(model.variables)}
    arrays.update({f"o{i}": np.asarray(keras.ops.convert_to_numpy(v))
                   for i, v in enumerate(_optimizer_variables(model))})
    meta = {"epoch": int(epoch), "batch": int(batch), "fingerprint": fingerprint,
            "n_model": len(model.variables), "n_optimizer": len(model.optimizer.variables),
            "saved_at": time.time(), **(extra or {})}
    return io.save_npz(path, meta=np.array(json.dumps(meta)), **arrays)


def read_checkpoint_meta(path) -> dict:
    """The metadata of a checkpoint; :class:`DamagedCheckpointError` names a file that cannot be read."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
    except _READ_ERRORS as exc:
        raise DamagedCheckpointError(f"{path} cannot be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(meta, dict) or not all(isinstance(meta.get(k), int)
                                             for k in ("epoch", "batch", "n_model", "n_optimizer")):
        raise DamagedCheckpointError(f"{path} cannot be read (its metadata is not a checkpoint's)")
    return meta


def load_checkpoint(path, model, fingerprint: str | None = None) -> dict:
    """Restore variables written by :func:`save_checkpoint`; returns its metadata.

    Raises :class:`CheckpointMismatchError` when the checkpoint belongs to another model
    (variable count or shapes) or to other training data/settings (``fingerprint``), and
    :class:`DamagedCheckpointError` when it cannot be read; in both cases before any variable is
    assigned, so the model is left as it was.
    """
    path = Path(path)
    meta = read_checkpoint_meta(path)
    if fingerprint is not None and meta.get("fingerprint") != fingerprint:
        raise CheckpointMismatchError(
            f"{path} was written for other training data or settings (fingerprint {meta.get('fingerprint')} "
            f"!= {fingerprint}); use another run directory or delete it to start afresh")
    model_vars, opt_vars = list(model.variables), _optimizer_variables(model)
    if meta["n_model"] != len(model_vars) or meta["n_optimizer"] != len(opt_vars):
        raise CheckpointMismatchError(
            f"{path} holds {meta['n_model']} model / {meta['n_optimizer']} optimizer variables; this model has "
            f"{len(model_vars)} / {len(opt_vars)}")
    pairs = [(f"{prefix}{i}", v) for prefix, variables in (("m", model_vars), ("o", opt_vars))
             for i, v in enumerate(variables)]
    try:  # every array read (and CRC-checked) before the first is assigned
        with np.load(path, allow_pickle=False) as npz:
            values = [npz[key] for key, _ in pairs]
    except _READ_ERRORS as exc:
        raise DamagedCheckpointError(f"{path} cannot be read ({type(exc).__name__}: {exc})") from exc
    for (_, v), value in zip(pairs, values):
        if tuple(value.shape) != tuple(v.shape):
            raise CheckpointMismatchError(
                f"{path}: variable {v.path} has shape {tuple(v.shape)}, checkpoint {tuple(value.shape)}")
    for (_, v), value in zip(pairs, values):
        v.assign(value)
    return meta


def _fingerprint_with_epochs(data_fingerprint: str, settings: dict, epochs: int) -> str | None:
    """The fingerprint a deep method's checkpoint had while its epoch count was one of the settings it
    had to match (``settings["params"]["epochs"]``, before a finished run could be extended), or None
    for a run without ``params``: such checkpoints still resume and re-embed."""
    if not isinstance(settings.get("params"), dict):
        return None
    return fingerprint(data_fingerprint, {**settings, "params": {**settings["params"], "epochs": epochs}})


def _resume_checkpoint(path, model, data_fingerprint: str, settings: dict, config: TrainConfig) -> dict:
    """Load the run's checkpoint into ``model`` once it is clear that this call can continue it: the
    same data and settings (the epoch count aside), not past ``config.epochs`` (a run cannot be
    shortened), and under a cosine schedule the same epoch count (the curve's length). Returns its metadata."""
    meta = read_checkpoint_meta(path)
    fp, run_epochs = fingerprint(data_fingerprint, settings), meta.get("epochs")
    if run_epochs is None:  # written while the epoch count was a setting: it matches with its own count
        for epochs in (config.epochs, meta["epoch"]):
            if meta.get("fingerprint") == _fingerprint_with_epochs(data_fingerprint, settings, epochs):
                fp, run_epochs = meta["fingerprint"], epochs
                break
    if meta.get("fingerprint") == fp:  # (else load_checkpoint names the mismatch)
        if (meta["epoch"], meta["batch"]) > (config.epochs, 0):
            into = f" and {meta['batch']} batches of the next" if meta["batch"] else ""
            raise CheckpointMismatchError(
                f"{path} has trained {meta['epoch']} epochs{into}, more than the {config.epochs} asked, and a run "
                f"cannot be shortened: ask for {meta['epoch'] + bool(meta['batch'])} epochs or more to use it, or use "
                f"another run directory to train {config.epochs} epochs")
        if config.lr_schedule == "cosine" and run_epochs not in (None, config.epochs):
            raise CheckpointMismatchError(
                f"{path} was trained under a cosine learning-rate schedule over {run_epochs} epochs, which cannot be "
                f"stretched to {config.epochs}: ask for {run_epochs} epochs to use it, or use another run directory "
                f"to train {config.epochs} epochs from the start")
    return load_checkpoint(path, model, fingerprint=fp)


def scope_values(scope, variables, previous) -> list:
    """The values a :class:`keras.StatelessScope` assigned to ``variables`` (else their ``previous``
    ones): the new state of a stateless JAX training step (BatchNorm statistics, seed generators, metrics)."""
    out = []
    for v, old in zip(variables, previous):
        new = scope.get_current_value(v)
        out.append(old if new is None else new)
    return out


def stateless_record(model: keras.Model, metric_vars, record: Callable[[], dict]):
    """``record()`` (which updates ``model``'s metrics and returns the logs) run statelessly on the
    metric values ``metric_vars``: ``(logs, new metric values)``, for a JAX ``train_step``."""
    with keras.StatelessScope(state_mapping=list(zip(model.metrics_variables, metric_vars))) as scope:
        logs = record()
    return logs, scope_values(scope, model.metrics_variables, metric_vars)


def fingerprint(*parts) -> str:
    """A short hash of the things a checkpoint must match (data, labels, settings)."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray):
            h.update(str((p.shape, p.dtype.str)).encode())
            h.update(np.ascontiguousarray(p).tobytes())
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def training_set_fingerprint(images: np.ndarray, labels: np.ndarray) -> str:
    """What a run's training data must match: the labels, every ~1/64th image and the array shape
    (hashing every pixel of a fold costs more than it protects)."""
    return fingerprint(labels, images[:: max(1, len(images) // 64)], images.shape)


def training_set_dir(run_dir: str | os.PathLike | None, method_name: str, data_fingerprint: str,
                     seed: int = 0) -> str | None:
    """``run_dir/<method>/data-<fingerprint>``: one folder per method and training set, so one
    ``run_dir`` serves every method and split of a comparison (and its identification fit), and a
    finished split is re-evaluated without training. Another seed is another network: ``-seed<k>``
    is appended for seed k ≠ 0 (seed 0 keeps the name runs always had). None stays None (a temporary run)."""
    if run_dir is None:
        return None
    return str(Path(run_dir) / method_name / f"data-{data_fingerprint}{f'-seed{seed}' if seed else ''}")


# -- callbacks ------------------------------------------------------------------------------
class StopOnNaN(keras.callbacks.TerminateOnNaN):
    """TerminateOnNaN that remembers where it happened (so :func:`train` can say so and raise)."""

    def __init__(self, position: Callable[[int], tuple[int, int]]):
        super().__init__()
        self.position = position
        self.diverged_at = None
        self.loss = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged_at, self.loss = self.position(batch), float(loss)
            self.model.stop_training = True


class Checkpointer(keras.callbacks.Callback):
    """Atomic checkpoint every ``every`` batches and at each epoch end (skipped once a NaN was seen)."""

    def __init__(self, path, every: int, fingerprint: str, nan_guard: StopOnNaN, position, steps_per_epoch: int,
                 extra=None):
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self.path, self.every, self.fingerprint = Path(path), every, fingerprint
        self.nan_guard, self.position, self.extra = nan_guard, position, extra or {}
        self.saved = 0

    def _save(self, epoch, batch):
        if self.nan_guard.diverged_at is not None:
            return
        save_checkpoint(self.path, self.model, epoch=epoch, batch=batch, fingerprint=self.fingerprint,
                        extra=self.extra)
        self.saved += 1

    def on_train_batch_end(self, batch, logs=None):
        epoch, done = self.position(batch)
        if self.every and done % self.every == 0 and done < self.steps_per_epoch:  # epoch end: below
            self._save(epoch, done)

    def on_epoch_end(self, epoch, logs=None):
        self._save(epoch + 1, 0)


def say(line: str) -> None:
    """Print a progress line on stderr without breaking a tqdm bar drawn there."""
    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stderr)


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' * (n != 1)}"


def settings_line(desc: str, epochs: int, steps: int, shown: dict) -> str:
    """The line a training starts with: what trains, how long, and ``shown`` (batch, network, precision);
    the device is added, since a run on the CPU that was meant for the GPU is the costliest surprise."""
    shown = {**shown, "device": device_summary()}
    return f"{desc}: {_count(epochs, 'epoch')} of {_count(steps, 'step')}, " + ", ".join(f"{k} {v}" for k, v in shown.items())


class Progress(keras.callbacks.Callback):
    """One tqdm bar over every step of the run (starts where a resumed run starts); drawn on a terminal
    only, where it redraws in place (a log file gets the :class:`EpochLines` alone)."""

    def __init__(self, total: int, initial: int, desc: str):
        super().__init__()
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, initial=initial, desc=desc, unit="step", leave=False, disable=None)

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(1)
        if logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}", refresh=False)

    def close(self):
        self.bar.close()


class EpochLines(keras.callbacks.Callback):
    """One line per epoch, as Keras's ``verbose=2`` prints: ``desc: epoch 3/20 - 12.3 s - loss: 0.4012 - ...``
    with every value of the epoch's logs (a method's extra statistics too)."""

    def __init__(self, epochs: int, desc: str):
        super().__init__()
        self.epochs, self.desc, self.started = epochs, desc, time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        values = []
        for key, value in (logs or {}).items():
            try:
                values.append(f" - {key}: {float(value):.4g}")
            except (TypeError, ValueError):  # not one number: left to history.json
                continue
        seconds = time.perf_counter() - self.started
        say(f"{self.desc}: epoch {epoch + 1}/{self.epochs} - {seconds:.1f} s{''.join(values)}")


# -- the entry point ------------------------------------------------------------------------
def train(model: keras.Model, make_dataset: Callable[[int, int], object], steps_per_epoch: int,
          config: TrainConfig, *, loss=None, loss_weights=None, metrics=None, data_fingerprint: str = "",
          callbacks: list | None = None, desc: str = "training", shown_settings: dict | None = None) -> TrainResult:
    """Compile (if needed) and fit ``model`` for ``config.epochs`` epochs of ``steps_per_epoch``
    batches, resuming from ``<run_dir>/checkpoint.npz`` when one is there (a finished run asked for
    more epochs continues; a damaged checkpoint is set aside, with a warning, and training restarts).

    ``make_dataset(start_epoch, skip)`` must return a dataset over epochs
    ``start_epoch .. config.epochs-1`` whose first ``skip`` batches of ``start_epoch`` are left
    out (the :mod:`facelab.data.pipeline` builders take exactly these arguments). The model must
    be built (functional models are).

    With ``config.progress``, the run starts with one line: ``desc``, epochs × steps, ``shown_settings``
    (what the caller wants a reader to see: batch size, backbone, precision, ...), the device, and where a
    resumed run starts; then one line per epoch (:class:`EpochLines`).
    """
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch} (too few training images "
                         "for one batch?)")
    t0 = time.perf_counter()
    tmp = None
    if config.run_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="facelab-run-")
        run_dir = Path(tmp.name)
    else:
        run_dir = Path(config.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = run_dir / CHECKPOINT
    if loss is not None or not model.compiled:
        model.compile(optimizer=config.make_optimizer(config.epochs * steps_per_epoch), loss=loss,
                      loss_weights=loss_weights, metrics=metrics, jit_compile=config.jit)
    settings = {"epochs_steps": steps_per_epoch, "lr": config.learning_rate, "opt": config.optimizer,
                "wd": config.weight_decay, **config.extra}
    if config.lr_schedule != "constant":  # only when set, so older checkpoints still match
        settings["sched"] = config.lr_schedule
    fp = fingerprint(data_fingerprint, settings)

    start_epoch, skip, resumed = 0, 0, None
    if ckpt.exists():
        try:
            meta = _resume_checkpoint(ckpt, model, data_fingerprint, settings, config)
        except DamagedCheckpointError as err:  # a checkpoint only saves time: start again, keep the file
            aside = io.set_aside(ckpt)
            warnings.warn(f"{desc}: {err}; set it aside as {aside.name} and training starts again from epoch 0",
                          stacklevel=2)
        else:
            start_epoch, skip = meta["epoch"], meta["batch"]
            resumed = (start_epoch, skip)
            if skip >= steps_per_epoch:
                start_epoch, skip = start_epoch + 1, 0

    # where are we? position(batch index within the current fit call) -> (epoch, batches done in it)
    state = {"epoch": start_epoch, "offset": skip}

    def position(batch):
        return state["epoch"], state["offset"] + batch + 1

    class _Epoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            state["epoch"] = epoch

        def on_epoch_end(self, epoch, logs=None):
            state["offset"] = 0

    nan_guard = StopOnNaN(position)
    run_history = _RunHistory(None if tmp else run_dir / "history.json", start_epoch, resumed)
    # the caller's callbacks before every recorder, so what they add to an epoch's logs (the triplet
    # statistics, say) reaches history.json, TensorBoard and the CSV log on every backend; the history
    # before the checkpoint: resuming never skips an entry
    cbs = [_Epoch(), nan_guard, *(callbacks or []), run_history,
           Checkpointer(ckpt, config.checkpoint_every, fp, nan_guard, position, steps_per_epoch,
                        extra={"desc": desc, "epochs": config.epochs})]
    progress = None
    if config.progress:
        if resumed is None:
            where = ""
        elif start_epoch >= config.epochs:
            where = f"; {_count(config.epochs, 'epoch')} trained before, nothing left to train"
        else:
            where = f"; resuming at epoch {start_epoch + 1}" + (f", batch {skip + 1}" if skip else "")
        say(settings_line(desc, config.epochs, steps_per_epoch, shown_settings or {}) + where)
        progress = Progress(config.epochs * steps_per_epoch, start_epoch * steps_per_epoch + skip, desc)
        cbs += [EpochLines(config.epochs, desc), progress]
    if config.tensorboard:
        if tensorboard_available():
            cbs.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs"), write_graph=False))
        else:  # tf.summary needs TensorFlow and the tensorboard package; keep the per-epoch logs as CSV instead
            warnings.warn("TensorBoard logs need TensorFlow and the tensorboard package: writing per-epoch logs to "
                          f"{run_dir / 'logs' / 'history.csv'} instead of TensorBoard event files", stacklevel=2)
            (run_dir / "logs").mkdir(exist_ok=True)
            cbs.append(keras.callbacks.CSVLogger(str(run_dir / "logs" / "history.csv"), append=True))

    try:
        if start_epoch < config.epochs:
            segments = []
            if skip:  # the rest of an interrupted epoch, then the remaining whole epochs
                segments.append((start_epoch, start_epoch + 1, steps_per_epoch - skip,
                                 make_dataset(start_epoch, skip)))
                start_epoch += 1
            if start_epoch < config.epochs:
                segments.append((start_epoch, config.epochs, steps_per_epoch, make_dataset(start_epoch, 0)))
            for first, last, steps, ds in segments:
                model.fit(ds, initial_epoch=first, epochs=last, steps_per_epoch=steps, callbacks=cbs,
                          verbose=0, shuffle=False)
                if nan_guard.diverged_at is not None:
                    break
    finally:
        if progress is not None:
            progress.close()
    if nan_guard.diverged_at is not None:
        epoch, batch = nan_guard.diverged_at
        kept = (f"the last good checkpoint {ckpt} (epoch {read_checkpoint_meta(ckpt)['epoch']}, batch "
                f"{read_checkpoint_meta(ckpt)['batch']}) is kept" if ckpt.exists() and tmp is None
                else "no checkpoint was written yet")
        if tmp is not None:
            tmp.cleanup()
        raise TrainingDivergedError(
            f"{desc}: loss became {nan_guard.loss} at epoch {epoch}, batch {batch}; training stopped and "
            f"{kept}. Try a lower learning rate (now {config.learning_rate}).")
    if not (run_dir / "history.json").exists():
        run_history.write()  # a run of 0 epochs
    history = run_history.this_call()
    result = TrainResult(history, len(history.get("loss", [])), resumed, time.perf_counter() - t0,
                         str(run_dir), device_summary(), run_history.history)
    if tmp is not None:
        tmp.cleanup()
        result.run_dir = ""
    return result


# -- saved models ---------------------------------------------------------------------------
def save_model(model: keras.Model, path, info: dict | None = None) -> Path:
    """``model.save`` to a ``.keras`` file, atomically (Keras insists on the extension, hence no
    :func:`facelab.io.atomic_path`: the temporary file is ``.<name>.<pid>.tmp.keras``). ``info``
    (JSON: which method saved it) goes inside the file as ``facelab.json``, which Keras ignores and
    :func:`read_model_info` reads, so the file says what it holds wherever it is copied."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model path must end in .keras, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    try:
        model.save(tmp)
        if info is not None:
            with zipfile.ZipFile(tmp, "a") as z:
                z.writestr(MODEL_INFO, json.dumps(info))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _not_a_model(path, exc) -> SavedModelError:
    return SavedModelError(f"{path} is not a Keras model file (damaged or another format): {type(exc).__name__}: "
                           f"{exc}. Save the model again, or give the path of the .keras file that save() wrote")


def read_model_info(path) -> dict:
    """What :func:`save_model` recorded inside a ``.keras`` file (``{}`` for a file saved without it).
    A file that is not a Keras model file is a :class:`SavedModelError` naming it (Keras itself calls
    such a file "not found")."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no saved model at {path}")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            info = json.loads(z.read(MODEL_INFO)) if MODEL_INFO in names else {}
    except _READ_ERRORS as exc:
        raise _not_a_model(path, exc) from exc
    if "config.json" not in names:
        raise _not_a_model(path, ValueError("a zip file without a Keras model's config.json"))
    if not isinstance(info, dict):
        raise _not_a_model(path, ValueError(f"its {MODEL_INFO} is not a JSON object"))
    return info


def load_model(path) -> keras.Model:
    """Load a ``.keras`` model saved by :func:`save_model` (facelab's layers are registered); a file
    that is missing, not a Keras model or damaged is an error naming it."""
    from . import layers  # noqa: F401  (registers the custom layers)

    path = Path(path)
    read_model_info(path)
    try:
        return keras.models.load_model(path, compile=False)
    except _READ_ERRORS as exc:  # a damaged weights file (bad CRC, truncated HDF5)
        raise _not_a_model(path, exc) from exc


def config_dict(config: TrainConfig) -> dict:
    d = asdict(config)
    d.pop("extra", None)
    return d
