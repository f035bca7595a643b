"""Photos → faces: read a photo as it is shown, find every face with the data room's Haar cascade,
and turn each into the input a method expects.

A face in a photo is cut out as ``PreprocessConfig(detect=True)`` cuts the face out of an LFW
image: the data room's :func:`~facelab.data.preprocess.preprocess_image` is given the box, so
crop, size, colour and equalisation are the config's. :func:`wild_preprocess` turns a method's
centre-crop config into that detection config, with the margin that keeps the same part of the
face (LFW frames the cascade's box about 116 px wide in 250 px), so methods are fitted and
calibrated on LFW faces cut out exactly as photos' faces are. A photo that cannot be used raises
:class:`PhotoProblem`, whose message is its one line in the run's summary; the run goes on.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..data.errors import DataError
from ..data.photos import (  # noqa: F401  (the photo tools' names for the data room's photo reading)
    LFW_FACE, LFW_FRAME, PHOTO_SUFFIXES, PhotoProblem, Summary, files_in, find_faces, people_folders, person_name,
    read_photo,
)
from ..data.preprocess import PreprocessConfig, preprocess_image

THUMB = 96  # side of the colour face crops kept for contact sheets
_THUMB = PreprocessConfig(size=THUMB, crop=None, grayscale=False, detect=True, detect_margin=0.2)


@dataclass
class Face:
    photo: Path
    box: tuple[int, int, int, int]  # x, y, width, height in the photo as it is shown
    image: np.ndarray  # uint8 (h, w, c): the method's input
    thumb: np.ndarray  # uint8 (THUMB, THUMB, 3) RGB crop of the face, for sheets


def wild_preprocess(config: PreprocessConfig) -> PreprocessConfig:
    """``config`` with detection on: the detected face is cropped with the margin that keeps what
    ``config``'s centre crop keeps of an LFW face (the whole LFW frame when it has no crop)."""
    if config.detect:
        return config
    side = config.crop[0] if config.crop is not None else LFW_FRAME
    return replace(config, detect=True, detect_margin=round((side / LFW_FACE - 1) / 2, 4))


def face_input(bgr: np.ndarray, box, config: PreprocessConfig, source: str = "photo") -> tuple[np.ndarray, np.ndarray]:
    """``(method input, colour thumbnail)`` of the face at ``box``, cut out under ``config`` (a
    detection config, :func:`wild_preprocess`)."""
    try:
        image, _ = preprocess_image(bgr, config, source=source, face=box)
    except DataError as exc:
        raise PhotoProblem(str(exc)) from None
    thumb, _ = preprocess_image(bgr, _THUMB, source=source, face=box)
    return image, thumb


def faces_in_photo(path, config: PreprocessConfig, *, one: bool = False) -> list[Face]:
    """The faces of one photo, cut out under ``wild_preprocess(config)``; ``one``: an enrolment photo,
    which must show exactly one face."""
    config = wild_preprocess(config)
    bgr = read_photo(path)
    boxes = find_faces(bgr)
    if not boxes:
        raise PhotoProblem("no face found (the frontal-face detector misses faces turned away, tilted or in the dark)")
    if one and len(boxes) > 1:
        raise PhotoProblem(f"{len(boxes)} faces found; a photo of one person must show one face (crop it)")
    return [Face(Path(path), box, *face_input(bgr, box, config, str(path))) for box in boxes]


def faces_in_photos(paths, config: PreprocessConfig, summary: Summary, *, one: bool = False) -> list[Face]:
    """The faces of every photo; each photo that cannot be used gets its line in ``summary``."""
    faces = []
    for path in paths:
        try:
            faces.extend(faces_in_photo(path, config, one=one))
        except PhotoProblem as exc:
            summary.add(path, str(exc))
    return faces


def stack(faces: list[Face]) -> np.ndarray:
    return np.stack([f.image for f in faces])


def photos_to_cluster(root) -> tuple[list[Path], list[str] | None]:
    """The photos under ``root`` and, when every photo sits in a subfolder (one per person), the
    subfolder names as the true identities (else None). Beside the person folders, a file that is no
    photo by its name (a README, a checksum list, as AT&T's folder holds) is not a loose photo."""
    root = Path(root)
    if not root.is_dir():
        raise PhotoProblem(f"{root} is not a folder of photos")
    loose = [f for f in files_in(root) if f.suffix.lower() in PHOTO_SUFFIXES]
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    nested = [(f, person_name(d)) for d in folders for f in files_in(d)]
    if nested and not loose:
        return [f for f, _ in nested], [n for _, n in nested]
    return loose + [f for f, _ in nested], None
