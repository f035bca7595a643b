"""Training infrastructure shared by every deep method: one :func:`train` call around ``model.fit``,
with checkpoints a run resumes from mid-epoch, a NaN guard, progress lines and saved models.

One idea per module, imported in this order (none imports this package's ``__init__``):

- :mod:`.config` — :class:`TrainConfig`, the device and the precision (``check_choice``, ``PRECISIONS``,
  ``LR_SCHEDULES``);
- :mod:`.devices` — training on several devices (``devices``: ``keras.distribution.DataParallel`` under JAX,
  ``tf.distribute.MirroredStrategy`` under TensorFlow) and across hosts (:func:`join_hosts`);
- :mod:`.checkpoint` — the checkpoint file (save, read, verify; :class:`CheckpointMismatchError`), the
  fingerprints a checkpoint must match and the run folders named by them;
- :mod:`.stateless` — stateless JAX training steps (:func:`jax_objectives_step`) and their helpers;
- :mod:`.callbacks` — the Keras callbacks :func:`train` uses (position, NaN guard, checkpointer, history,
  progress lines);
- :mod:`.saved_model` — ``.keras`` files that say which method saved them (:class:`SavedModelError`);
- :mod:`.loop` — :func:`train` itself.

Every name is re-exported here, so ``from facelab.nets.training import X`` is the one import callers need.
"""
from __future__ import annotations

from .callbacks import Checkpointer, EpochLines, Position, Progress, StopOnNaN, say, settings_line
from .checkpoint import (CHECKPOINT, CheckpointMismatchError, DamagedCheckpointError, fingerprint, load_checkpoint,
                         read_checkpoint_meta, save_checkpoint, training_set_dir, training_set_fingerprint)
from .config import (LR_SCHEDULES, PRECISIONS, TrainConfig, check_choice, config_dict, device_summary, gpu_available,
                     precision_scope, resolve_precision, tensorboard_available)
from .devices import (check_batch, check_devices, distribution_scope, join_hosts, mines_per_replica,
                      single_device_copy, synchronized_batch_norm)
from .loop import TrainingDivergedError, TrainResult, train
from .saved_model import MODEL_INFO, SavedModelError, load_model, read_model_info, save_model
from .stateless import jax_objectives_step, scope_values, stateless_record

__all__ = [
    "CHECKPOINT", "LR_SCHEDULES", "MODEL_INFO", "PRECISIONS",
    "CheckpointMismatchError", "Checkpointer", "DamagedCheckpointError", "EpochLines", "Position", "Progress",
    "SavedModelError", "StopOnNaN", "TrainConfig", "TrainResult", "TrainingDivergedError",
    "check_batch", "check_choice", "check_devices", "config_dict", "distribution_scope", "join_hosts",
    "mines_per_replica", "single_device_copy", "synchronized_batch_norm", "device_summary", "fingerprint", "gpu_available", "jax_objectives_step",
    "load_checkpoint", "load_model",
    "precision_scope", "read_checkpoint_meta", "read_model_info", "resolve_precision", "save_checkpoint", "save_model",
    "say", "scope_values", "settings_line", "stateless_record", "tensorboard_available", "train",
    "training_set_dir", "training_set_fingerprint",
]
