"""The checkpoint a run resumes from, and the names that tie a run to its data.

A checkpoint exists to save time, so it must never cost a run: the model's variables, the optimizer's
variables and the position ``(epoch, batch)`` go into ONE file, ``<run_dir>/checkpoint.npz``, written
atomically (a killed process leaves the previous checkpoint intact). Every array is read (and its CRC
checked) before any is assigned, so a half-read file never leaves a half-restored model; one that cannot
be read is a :class:`DamagedCheckpointError` (the loop sets it aside and starts again). A checkpoint of
another model or other data is a :class:`CheckpointMismatchError`, raised before anything is assigned.

The fingerprints (:func:`fingerprint`, :func:`training_set_fingerprint`) and run folders
(:func:`training_set_dir`) live here too: they are what a checkpoint must match, and the evaluator uses
the same training-set fingerprint to find a finished network again.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import zipfile
from pathlib import Path

import keras
import numpy as np

from ... import io
from .config import TrainConfig

CHECKPOINT = "checkpoint.npz"


class CheckpointMismatchError(ValueError):
    """A run directory holds a checkpoint of another model or other training data."""


class DamagedCheckpointError(ValueError):
    """A checkpoint file that cannot be read: truncated, empty or corrupted."""


# what reading a damaged .npz / .keras zip raises (as for the preprocessing cache)
_READ_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


# -- the checkpoint file -------------------------------------------------------------------
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


# -- fingerprints and run folders ----------------------------------------------------------
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
