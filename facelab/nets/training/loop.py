"""The training loop: one :func:`train` call around ``model.fit`` that every deep method (and each stage
of the GAN disentangler) trains through, so checkpoints, resumption and the NaN guard work the same for all.

What it adds to ``fit``:

- **Resuming mid-epoch.** Started again with the same ``run_dir``, :func:`train` restores the checkpoint
  (:mod:`.checkpoint`) and asks the data for the rest of that epoch (``make_dataset(start_epoch, skip)``);
  seeded samplers make those the batches the first run would have seen.
- **A damaged checkpoint costs time, not the run.** It is renamed ``checkpoint.npz.damaged`` beside
  itself, with a warning, and training starts again from epoch 0.
- **A finished run can be extended.** The epoch count is not one of the settings a checkpoint must
  match: asking a finished run for more epochs continues it (same weights and optimizer state, the
  earlier epochs' history kept); asking for as many reports it finished; asking for fewer is an error
  (a run cannot be shortened), and so is another epoch count under a cosine schedule (its length is
  part of the learning-rate curve).
- **NaN guard.** A non-finite loss stops training before anything is saved, and :func:`train` raises
  :class:`TrainingDivergedError` naming the step and the last good checkpoint, which is kept.
- Records: TensorBoard logs in ``<run_dir>/logs`` (a CSV log there when TensorFlow or the ``tensorboard``
  package is missing), and the whole run's per-epoch history in ``<run_dir>/history.json``, written at
  each epoch end (before the checkpoint) and carried across resumed calls (a killed run's finished epochs
  are kept; a resumed epoch's entry is the new one).
"""
from __future__ import annotations

import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import keras

from ... import io
from .callbacks import Checkpointer, EpochLines, Position, Progress, StopOnNaN, _count, _RunHistory, say, settings_line
from .checkpoint import CHECKPOINT, DamagedCheckpointError, _resume_checkpoint, fingerprint, read_checkpoint_meta
from .config import TrainConfig, device_summary, tensorboard_available


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint (if any) is left on disk."""


@dataclass
class TrainResult:
    history: dict
    epochs_run: int
    resumed_from: tuple | None  # (epoch, batch) of the checkpoint this run started from
    seconds: float
    run_dir: str
    device: str
    run_history: dict = field(default_factory=dict)  # every epoch of the run, across resumed calls


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
    position = Position(start_epoch, skip)
    nan_guard = StopOnNaN(position)
    run_history = _RunHistory(None if tmp else run_dir / "history.json", start_epoch, resumed)
    # the caller's callbacks before every recorder, so what they add to an epoch's logs (the triplet
    # statistics, say) reaches history.json, TensorBoard and the CSV log on every backend; the history
    # before the checkpoint: resuming never skips an entry
    cbs = [position, nan_guard, *(callbacks or []), run_history,
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
