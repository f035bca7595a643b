"""The Keras callbacks :func:`~facelab.nets.training.train` hangs on ``model.fit``: where the run is
(:class:`Position`), the NaN guard, the checkpointer, the whole run's history, and progress on stderr.

Every trainable model (the Siamese, DeepID and triplet networks, the grouped VAE, the GAN's stages)
trains through ``train``, so all print the same lines. Progress is what Keras users expect: one line
with the run's settings, one line per epoch with its losses (``verbose=2`` style; they stay in a log file)
and, on a terminal, one tqdm bar over all steps. The NaN guard stops at the first non-finite loss *before*
anything is saved, so the last good checkpoint is kept.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Callable

import keras

from ... import io
from .checkpoint import save_checkpoint
from .config import device_summary


class Position(keras.callbacks.Callback):
    """Where training is: called with a batch index within the current ``fit`` call, it returns
    ``(epoch, batches done in it)``; a resumed run starts at ``(epoch, offset)``, and the offset of a
    partly trained epoch counts until that epoch ends."""

    def __init__(self, epoch: int, offset: int):
        super().__init__()
        self.epoch, self.offset = epoch, offset

    def __call__(self, batch) -> tuple[int, int]:
        return self.epoch, self.offset + batch + 1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self.offset = 0


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
