"""The method behind a gallery, rebuilt rather than stored.

A classical method is fitted on LFW View 1's training people (deterministic, seconds; fitted
once per process and reused, so a notebook or a test that runs several commands fits it once).
A deep method comes from a ``facelab train`` folder, whose ``model.keras`` ``DeepMethod.load``
reads in Keras' safe mode. Opening a gallery re-embeds its stored faces and compares them with
the stored embeddings, so a refit on other data or a retrained model is caught, not trusted.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import methods
from ..base import FaceMethod
from ..data.lfw import LFW
from ..evaluation.runner import fit_method
from .gallery_file import GalleryFile, GalleryFileError, check_method
from .photos import wild_preprocess

_FITTED: dict[tuple, FaceMethod] = {}


def build(name: str, lfw: LFW, *, preset: str | None = None, model=None) -> FaceMethod:
    """A fitted ``name``: a classical method fitted on View 1's training people, or a deep method
    loaded from the ``facelab train`` folder ``model``."""
    spec = methods.spec(name)
    if model is not None:
        if preset is not None:
            raise ValueError("give --preset or --model, not both: a trained model keeps the preset it was trained "
                             "with (its train.json says which)")
        return _load_trained(name, Path(model))
    if spec.kind != "classical":
        raise ValueError(f"{name} is a {spec.kind} method: train it first (`facelab train {name} --preset quick "
                         f"--out runs/{name}`) and give that folder as --model runs/{name}")
    # fitted on LFW faces cut out by the face detector, as faces in photos are
    preprocess = wild_preprocess(methods.create(name, preset=preset).preprocess).to_dict()
    factory = lambda: methods.create(name, preset=preset, preprocess=preprocess)  # noqa: E731
    method = factory()
    key = (name, method.preset, json.dumps(method.config, sort_keys=True, default=str), str(lfw.layout.root),
           lfw.variant)
    if key not in _FITTED:
        (people,) = lfw.people_folds("view1-train")
        train = lfw.people_indices(people)
        images = lfw.load_images(method.preprocess)
        _FITTED[key] = fit_method(factory, images[train], lfw.labels[train]).method
    return _FITTED[key]


def _load_trained(name: str, run: Path) -> FaceMethod:
    from ..nets.base import DeepMethod  # TensorFlow is imported only on this path

    path = run / "model.keras" if run.is_dir() else run
    if not path.is_file():
        raise ValueError(f"{run}: no model.keras there; give the folder that `facelab train {name} --out FOLDER` wrote")
    cls = methods.spec(name).factory()
    if not (isinstance(cls, type) and issubclass(cls, DeepMethod)):
        raise ValueError(f"{name} cannot be loaded from a saved model; the networks that `facelab train` saves are: "
                         f"{', '.join(n for n in methods.available('deep') if _loadable(n))}")
    return cls.load(path)  # another method's model is refused, naming both


def _loadable(name: str) -> bool:
    from ..nets.base import DeepMethod

    cls = methods.spec(name).factory()
    return isinstance(cls, type) and issubclass(cls, DeepMethod)


def source(method: FaceMethod, model=None) -> dict:
    """What a gallery records to get ``method`` back."""
    return {"name": method.name, "kind": method.kind, "preset": None if model else method.preset,
            "model": str(Path(model).resolve()) if model else None, "config": method.config}


def reopen(gallery: GalleryFile, lfw: LFW, path) -> FaceMethod:
    """The gallery's method, rebuilt and checked: same name and preprocessing, and the same
    embeddings of the enrolled faces (else the gallery is refused: enrol again)."""
    recorded = gallery.method
    if recorded["model"] is not None and not Path(recorded["model"]).exists():
        raise GalleryFileError(f"{path} needs the trained model in {recorded['model']}, which is not there any more; "
                               "put it back, or enrol the people again")
    method = build(recorded["name"], lfw, preset=recorded["preset"], model=recorded["model"])
    check_method(gallery, method, path)
    again = np.asarray(method.embed(gallery.faces), dtype=np.float32)
    scale = max(float(np.abs(gallery.embeddings).max()), 1e-12)
    if again.shape != gallery.embeddings.shape or float(np.abs(again - gallery.embeddings).max()) > 1e-3 * scale:
        where = recorded["model"] or f"LFW at {lfw.layout.root}"
        raise GalleryFileError(f"{path}: {recorded['name']} rebuilt from {where} no longer gives the enrolled faces "
                               "the embeddings stored at enrolment (other data or another model); enrol the people "
                               "again")
    return method
