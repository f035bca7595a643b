"""Saved models: :func:`save_model` writes a ``.keras`` file atomically, with what saved it (the method's
name and kind) inside as ``facelab.json``, so a loader can say what a file holds wherever it is copied;
custom layers are registered with ``keras.saving.register_keras_serializable`` so :func:`load_model` needs
no ``custom_objects``. A file that is not a Keras model is a :class:`SavedModelError` naming it."""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import keras

from .checkpoint import _READ_ERRORS

MODEL_INFO = "facelab.json"  # inside a .keras file: what saved the model


class SavedModelError(ValueError):
    """A saved model that cannot be loaded as asked: not a Keras model file, damaged, or another method's."""


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
    from .. import layers  # noqa: F401  (registers the custom layers)

    path = Path(path)
    read_model_info(path)
    try:
        return keras.models.load_model(path, compile=False)
    except _READ_ERRORS as exc:  # a damaged weights file (bad CRC, truncated HDF5)
        raise _not_a_model(path, exc) from exc
