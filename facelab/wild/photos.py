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

import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from ..data.errors import DataError
from ..data.preprocess import MIN_FACE_SIZE, PreprocessConfig, detect_faces, preprocess_image, truncated_jpegs

LFW_FRAME = 250  # side of an LFW image, in pixels
LFW_FACE = 116  # median width of the cascade's box in it (300 images; tests/test_wild.py measures it again)
DETECT_MAX_SIDE = 1600  # bigger photos are searched at this size: the cascade's time grows with the pixels
THUMB = 96  # side of the colour face crops kept for contact sheets
_THUMB = PreprocessConfig(size=THUMB, crop=None, grayscale=False, detect=True, detect_margin=0.2)
_PNG, _JPEG = b"\x89PNG\r\n\x1a\n", b"\xff\xd8"


class PhotoProblem(ValueError):
    """A photo (or folder) that cannot be used; the message says why in one line."""


@dataclass
class Face:
    photo: Path
    box: tuple[int, int, int, int]  # x, y, width, height in the photo as it is shown
    image: np.ndarray  # uint8 (h, w, c): the method's input
    thumb: np.ndarray  # uint8 (THUMB, THUMB, 3) RGB crop of the face, for sheets


@dataclass
class Summary:
    """The photos and folders left out of a run, one line each."""

    lines: list[str] = field(default_factory=list)

    def add(self, path, reason: str) -> None:
        self.lines.append(f"{path}: {reason}")

    def __len__(self) -> int:
        return len(self.lines)

    def report(self) -> list[str]:
        if not self.lines:
            return []
        return [f"left out {len(self.lines)} file(s) or folder(s):", *(f"  {line}" for line in self.lines)]


def read_photo(path) -> np.ndarray:
    """A photo as BGR uint8, upright as a viewer shows it: OpenCV applies a JPEG's EXIF orientation,
    makes greyscale three channels and 16-bit 8-bit; a transparent PNG is laid on white."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PhotoProblem(f"cannot be read ({exc.strerror or exc})") from None
    if not data:
        raise PhotoProblem("empty file (0 bytes), not an image")
    kind = "PNG" if data.startswith(_PNG) else "JPEG" if data.startswith(_JPEG) else None
    if kind == "JPEG" and truncated_jpegs([path]):
        raise PhotoProblem("truncated JPEG: the file ends before its end-of-image marker (an interrupted copy?)")
    buf = np.frombuffer(data, np.uint8)  # decoded from bytes: any file name works on every system
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None:
        raise PhotoProblem(f"damaged {kind}: OpenCV cannot decode it" if kind else
                           "not an image (OpenCV cannot decode it; use JPEG or PNG)")
    if kind == "PNG":
        raw = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        if raw is not None and raw.ndim == 3 and raw.shape[2] == 4:
            bgr = _on_white(raw)
    return bgr


def _on_white(bgra: np.ndarray) -> np.ndarray:
    """An RGBA image (8 or 16 bits) composited on white: transparent pixels hold no face."""
    top = float(np.iinfo(bgra.dtype).max) if bgra.dtype.kind == "u" else 1.0
    x = bgra.astype(np.float32) / top
    alpha = x[..., 3:]
    return np.clip(np.rint((x[..., :3] * alpha + (1.0 - alpha)) * 255), 0, 255).astype(np.uint8)


def find_faces(bgr: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Every face box ``(x, y, w, h)`` the data room's cascade finds, left to right."""
    h, w = bgr.shape[:2]
    if w < MIN_FACE_SIZE[0] or h < MIN_FACE_SIZE[1]:
        raise PhotoProblem(f"too small ({w}×{h} pixels): the face detector needs at least "
                           f"{MIN_FACE_SIZE[0]}×{MIN_FACE_SIZE[1]}")
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return sorted(tuple(int(round(v / scale)) for v in box) for box in detect_faces(gray))


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


def person_name(folder: Path) -> str:
    """A folder's name as a person's name, in one Unicode form (macOS writes names decomposed)."""
    return unicodedata.normalize("NFC", folder.name)


def files_in(folder: Path) -> list[Path]:
    """The files of a folder (not its subfolders), hidden ones (``.DS_Store``) left out, sorted."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def people_folders(root, summary: Summary) -> dict[str, list[Path]]:
    """``{person: photos}`` from one folder per person; empty folders and loose files are summarised."""
    root = Path(root)
    if not root.is_dir():
        raise PhotoProblem(f"{root} is not a folder (expected one folder per person, holding their photos)")
    people: dict[str, list[Path]] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            summary.add(entry, "not a person folder: photos go in one folder per person, PEOPLE_DIR/NAME/photo.jpg")
        elif not files_in(entry):
            summary.add(entry, "empty person folder: no photos in it")
        else:
            people[person_name(entry)] = files_in(entry)
    return people


def photos_to_cluster(root) -> tuple[list[Path], list[str] | None]:
    """The photos under ``root`` and, when every photo sits in a subfolder (one per person), the
    subfolder names as the true identities (else None)."""
    root = Path(root)
    if not root.is_dir():
        raise PhotoProblem(f"{root} is not a folder of photos")
    loose = files_in(root)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    nested = [(f, person_name(d)) for d in folders for f in files_in(d)]
    if nested and not loose:
        return [f for f, _ in nested], [n for _, n in nested]
    return loose + [f for f, _ in nested], None
