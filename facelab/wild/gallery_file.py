"""The gallery file (``facelab enrol --out people.facelab``): the enrolled faces' embeddings, names
and sources, how to get the method back, and the calibrated open-set threshold.

It is one ``.npz`` of plain arrays plus one JSON text, read with ``allow_pickle=False``: loading a
gallery cannot run code, whoever made the file. No network is stored in it, only where the method
comes from: a registered method and preset (a classical method, refitted on LFW's training people
when the gallery is opened) or a ``facelab train`` folder (its ``model.keras`` loaded by Keras in
safe mode). The file is written atomically (:mod:`facelab.io`): a write that fails or is killed
leaves the previous gallery as it was.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import io
from .calibrate import Calibration

KIND, FORMAT = "facelab-gallery", 1
SUFFIX = ".facelab"
FACE_ARRAYS = ("embeddings", "names", "sources", "boxes", "faces", "thumbs")
CALIBRATION_ARRAYS = ("unknown_top", "known_top", "known_correct")


class GalleryFileError(ValueError):
    """A gallery file that cannot be used as asked; the message names the file and what to do."""


@dataclass
class GalleryFile:
    embeddings: np.ndarray  # float32 (n, d)
    names: np.ndarray  # str (n,): the person of each face
    sources: np.ndarray  # str (n,): the photo each face came from, relative to the people folder
    boxes: np.ndarray  # int32 (n, 4): x, y, width, height of the face in that photo
    faces: np.ndarray  # uint8 (n, h, w, c): the method's inputs (re-embedded to check the method on opening)
    thumbs: np.ndarray  # uint8 (n, 96, 96, 3): colour crops for contact sheets
    calibration: Calibration
    method: dict  # {"name", "kind", "preset", "model", "config"}: how to get the method back
    info: dict = field(default_factory=dict)  # people folder, photo counts: for the record

    @property
    def preprocess(self) -> dict:
        return self.method["config"]["preprocess"]

    @property
    def people(self) -> list[str]:
        return sorted(set(self.names.tolist()))


def save(path, gallery: GalleryFile) -> Path:
    """Write ``gallery`` to ``path`` atomically (the previous file stays until the new one is complete)."""
    cal = gallery.calibration
    meta = {"kind": KIND, "format": FORMAT, "method": gallery.method, "info": gallery.info,
            "calibration": {"far": cal.far, "threshold": cal.threshold, "people": cal.people, "photos": cal.photos,
                            "repeats": cal.repeats, "strangers": cal.strangers}}
    arrays = {name: getattr(gallery, name) for name in FACE_ARRAYS}
    arrays["names"], arrays["sources"] = (np.asarray(arrays[k], dtype=str) for k in ("names", "sources"))
    arrays.update({name: getattr(cal, name) for name in CALIBRATION_ARRAYS})
    return io.save_npz(path, compress=True, meta=np.array(json.dumps(meta, default=io.json_default)), **arrays)


def load(path, method: str | None = None) -> GalleryFile:
    """Read a gallery (no code runs: ``allow_pickle=False``); ``method`` names the method the caller
    expects, and a gallery enrolled with another one is refused, naming both."""
    path = Path(path)
    if not path.is_file():
        raise GalleryFileError(f"{path}: no gallery file there (make one with `facelab enrol PEOPLE_DIR --out {path}`)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            arrays = {name: npz[name] for name in FACE_ARRAYS + CALIBRATION_ARRAYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise GalleryFileError(f"{path} is not a facelab gallery, or it is damaged ({type(exc).__name__}: {exc}); "
                               "make it again with `facelab enrol`") from None
    if not isinstance(meta, dict) or meta.get("kind") != KIND:
        raise GalleryFileError(f"{path} is a NumPy archive but not a facelab gallery")
    if meta.get("format") != FORMAT:
        raise GalleryFileError(f"{path} is a gallery of format {meta.get('format')!r}; this facelab reads format "
                               f"{FORMAT}: enrol the people again")
    n = len(arrays["embeddings"])
    if arrays["embeddings"].ndim != 2 or n == 0 or any(len(arrays[k]) != n for k in FACE_ARRAYS):
        raise GalleryFileError(f"{path}: its arrays disagree in length (a damaged gallery); enrol the people again")
    c = meta["calibration"]
    calibration = Calibration(far=float(c["far"]), people=int(c["people"]), photos=int(c["photos"]),
                              repeats=int(c["repeats"]), strangers=str(c.get("strangers", "LFW")),
                              **{k: arrays.pop(k) for k in CALIBRATION_ARRAYS})
    gallery = GalleryFile(calibration=calibration, method=meta["method"], info=meta.get("info", {}),
                          **{k: arrays[k] for k in FACE_ARRAYS})
    if method is not None and method != gallery.method["name"]:
        raise GalleryFileError(f"{path} was enrolled with {describe(gallery.method['name'], gallery.preprocess)}, "
                               f"not with {method}: its embeddings cannot be compared with {method}'s. Use "
                               f"--method {gallery.method['name']}, or enrol the people again with --method {method}")
    return gallery


def check_method(gallery: GalleryFile, method, path) -> None:
    """Refuse a method whose name or preprocessing differs from the gallery's, naming both."""
    name, pre = method.name, method.preprocess.to_dict()
    if name != gallery.method["name"] or pre != gallery.preprocess:
        raise GalleryFileError(f"{path} was enrolled with {describe(gallery.method['name'], gallery.preprocess)}; "
                               f"the method asked for is {describe(name, pre)}: its embeddings cannot be compared. "
                               "Enrol the people again with this method")


def describe(name: str, preprocess: dict) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in preprocess.items())
    return f"{name} (preprocess {shown})"
