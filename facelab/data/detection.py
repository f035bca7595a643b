"""Face detection for the data room: OpenCV's frontal Haar cascade (Viola & Jones 2001), one per
thread, and the boxes of a whole image list found once and cached.

Every detection preprocessing of a data set crops from the same boxes (:func:`face_boxes`), so a
second configuration costs decoding and cropping, not the cascade; a lock beside the cache makes two
processes that need the boxes at once (two test workers, two notebooks) find them once. The boxes of
the official LFW release ship with facelab (:data:`SHIPPED_BOXES`): the cascade's few minutes on all
13,233 images are spent once, by us, and each machine checks a sample of them against its own cascade.
Every machine that accepts them crops LFW alike, whatever its CPU.
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
from tqdm.auto import tqdm

from .. import io
from .errors import CacheWriteWarning, DataError

_CASCADES = threading.local()
#: caches of detection configs written while threads shared one cascade hold wrong boxes: not read
DETECT_FORMAT = 2


def _face_cascade():
    """This thread's Haar cascade: one ``CascadeClassifier`` used by several threads at once
    (:func:`preprocess_files` runs several) returns boxes that belong to other threads' images."""
    cascade = getattr(_CASCADES, "cascade", None)
    if cascade is None:
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        cascade = cv2.CascadeClassifier(str(path))
        if cascade.empty():
            raise DataError(f"OpenCV Haar cascade {path} could not be loaded")
        _CASCADES.cascade = cascade
    return cascade


#: the smallest face (width, height) the cascade looks for, in pixels
MIN_FACE_SIZE = (30, 30)


def detect_faces(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Every frontal face (x, y, w, h) OpenCV's Haar cascade finds (Viola & Jones 2001)."""
    faces = _face_cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=MIN_FACE_SIZE)
    return [tuple(int(v) for v in f) for f in faces]


def detect_face(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """Largest frontal face (x, y, w, h) nearest the image centre, or None (Viola & Jones 2001)."""
    faces = detect_faces(gray)
    if len(faces) == 0:
        return None
    cy, cx = gray.shape[0] / 2, gray.shape[1] / 2
    # prefer big faces near the centre: LFW images are centred on the labelled person
    def score(f):
        x, y, w, h = f
        return w * h - ((x + w / 2 - cx) ** 2 + (y + h / 2 - cy) ** 2)
    return tuple(int(v) for v in max(faces, key=score))


NO_FACE = (-1, -1, -1, -1)  # a row of :func:`face_boxes` where the cascade found no face

#: :func:`face_boxes` of image lists we ship (the official LFW release): ``boxes_<fingerprint>`` arrays,
#: written by ``scripts/ship_face_boxes.py``
SHIPPED_BOXES = Path(__file__).with_name("lfw_face_boxes.npz")
#: images of a shipped list on which this machine's cascade is compared with the shipped boxes
SHIPPED_CHECK = 24
#: sampled images allowed to disagree: OpenCV's vectorised code differs between CPUs, and on a few
#: borderline images another CPU's cascade finds a slightly different box, or none
SHIPPED_TOLERATED = 2
#: boxes overlapping at least this much (intersection over union) frame the same face
SAME_FACE_IOU = 0.5


def image_box(image: np.ndarray) -> np.ndarray:
    """:func:`detect_face` of a decoded image (colour or grey) as a row of :func:`face_boxes`."""
    box = detect_face(image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    return np.array(NO_FACE if box is None else box, dtype=np.int32)


def same_face(a, b) -> bool:
    """Whether two rows of :func:`face_boxes` frame the same face: both :data:`NO_FACE`, or boxes whose
    intersection over union is at least :data:`SAME_FACE_IOU`."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if a[0] < 0 or b[0] < 0:
        return bool(a[0] < 0 and b[0] < 0)
    overlap_w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    overlap_h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(overlap_w, 0) * max(overlap_h, 0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter) >= SAME_FACE_IOU


def shipped_boxes(paths: Sequence[os.PathLike], read: Callable, fingerprint: str) -> np.ndarray | None:
    """The shipped boxes of this image list, if it is one we ship and this machine's cascade finds the
    same faces (:func:`same_face`) on all but :data:`SHIPPED_TOLERATED` of a seeded sample of
    :data:`SHIPPED_CHECK` images; else None (another cascade: every image is searched)."""
    try:
        with np.load(SHIPPED_BOXES, allow_pickle=False) as npz:
            boxes = npz[f"boxes_{fingerprint}"] if f"boxes_{fingerprint}" in npz.files else None
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
    if boxes is None or boxes.shape != (len(paths), 4):
        return None
    cv2.setNumThreads(1)
    sample = np.random.default_rng(0).choice(len(paths), min(SHIPPED_CHECK, len(paths)), replace=False)
    differ = 0
    for i in sample:
        differ += not same_face(image_box(read(paths[i])), boxes[i])
        if differ > SHIPPED_TOLERATED:
            return None
    return boxes.astype(np.int32)


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (created) while the block runs; none where ``fcntl`` is missing."""
    try:
        import fcntl
    except ImportError:  # Windows: two processes may each find the boxes; each result is whole
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def find_boxes(paths: Sequence[os.PathLike], read: Callable, *, progress: bool = True,
               workers: int | None = None) -> np.ndarray:
    """``(n, 4)`` int32: :func:`image_box` of every image, the cascade run by a pool of threads (one
    cascade each), uncached."""
    boxes = np.empty((len(paths), 4), dtype=np.int32)

    def work(i):
        boxes[i] = image_box(read(paths[i]))

    cv2.setNumThreads(1)
    with ThreadPoolExecutor(workers or min(8, os.cpu_count() or 1)) as pool:
        for _ in tqdm(pool.map(work, range(len(paths)), chunksize=1 if len(paths) < 64 else 32),
                      total=len(paths), desc="finding faces", disable=not progress, unit="img", leave=False):
            pass
    return boxes


def face_boxes(paths: Sequence[os.PathLike], read: Callable, *, cache_dir: Path, tag: str, fingerprint: str,
               progress: bool = True, workers: int | None = None) -> np.ndarray:
    """``(n, 4)`` int32: the box :func:`detect_face` picks in each image (:data:`NO_FACE` where none),
    from ``<cache_dir>/<tag>-faces-<fingerprint>.npz`` when it is there, else found and saved."""
    path = Path(cache_dir) / f"{tag}-faces-{fingerprint}-{DETECT_FORMAT}.npz"
    with _locked(path.with_name(path.name + ".lock")):
        try:
            with np.load(path, allow_pickle=False) as npz:
                boxes = npz["boxes"]
            if boxes.shape == (len(paths), 4):
                return boxes
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # none yet, or damaged: found again
        boxes = shipped_boxes(paths, read, fingerprint)
        if boxes is None:
            boxes = find_boxes(paths, read, progress=progress, workers=workers)
        try:
            io.save_npz(path, boxes=boxes, meta=np.array(json.dumps({"count": len(paths), "tag": tag})))
        except OSError as exc:
            warnings.warn(f"could not write the face-box cache {path} ({exc.strerror or exc}); the next run finds "
                          "the faces again", CacheWriteWarning, stacklevel=3)
        return boxes
