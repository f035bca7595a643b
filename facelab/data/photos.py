"""Photos as a person takes them: read upright, every face found, framed as LFW frames its faces.

The data room's photo reader serves both a folder of one's own photos used as a data set
(:mod:`facelab.data.folder`) and the photo tools (``facelab enrol``, ``identify``, …). A photo that
cannot be used raises :class:`PhotoProblem`, whose message is its one line in a run's summary.

LFW's images are 250×250 frames around a face that OpenCV's cascade finds about 116 px wide at
the centre (Huang et al. 2007 framed Viola–Jones detections the same way). :func:`lfw_frame`
puts any photo's face into that frame, so every method's LFW preprocessing applies unchanged.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .preprocess import MIN_FACE_SIZE, detect_faces, truncated_jpegs

LFW_FRAME = 250  # side of an LFW image, in pixels
LFW_FACE = 116  # median width of the cascade's box in it (300 images; tests/test_wild.py measures it again)
DETECT_MAX_SIDE = 1600  # bigger photos are searched at this size: the cascade's time grows with the pixels
_PNG, _JPEG = b"\x89PNG\r\n\x1a\n", b"\xff\xd8"
#: file name endings of the photos OpenCV reads (what a folder of faces may hold beside notes)
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".pgm", ".ppm", ".pbm", ".bmp", ".tif", ".tiff", ".webp"})


class PhotoProblem(ValueError):
    """A photo (or folder) that cannot be used; the message says why in one line."""


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


def central_face(boxes, shape) -> tuple[int, int, int, int]:
    """The face a portrait is of: the biggest box, less its distance from the centre (as
    :func:`~facelab.data.preprocess.detect_face` picks)."""
    cy, cx = shape[0] / 2, shape[1] / 2
    return max(boxes, key=lambda b: b[2] * b[3] - ((b[0] + b[2] / 2 - cx) ** 2 + (b[1] + b[3] / 2 - cy) ** 2))


def lfw_frame(bgr: np.ndarray, box) -> np.ndarray:
    """The ``LFW_FRAME``-pixel square around the face at ``box`` (x, y, w, h), scaled so the face is
    ``LFW_FACE`` pixels wide and centred as LFW's faces are; outside the photo is black."""
    x, y, w, h = box
    scale = LFW_FACE / w
    shift_x = LFW_FRAME / 2 - scale * (x + w / 2)
    shift_y = LFW_FRAME / 2 - scale * (y + h / 2)
    matrix = np.float32([[scale, 0, shift_x], [0, scale, shift_y]])
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(bgr, matrix, (LFW_FRAME, LFW_FRAME), flags=interp, borderMode=cv2.BORDER_CONSTANT)


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
