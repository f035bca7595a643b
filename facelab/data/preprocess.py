"""Deterministic OpenCV preprocessing and an on-disk cache of the result.

A :class:`PreprocessConfig` says how one 250×250 LFW JPEG becomes a small array: optional Haar
face detection, a centre crop, a resize, greyscale or colour, optional histogram
equalisation. The whole data set under one config is cached as one ``.npz`` keyed by a hash of
the config and of the image list; the cache is written atomically, and a cache that is
corrupted (cannot be read, wrong shape) or stale (other images, other config) is rebuilt. The cache
only saves time: when it cannot be written (a full disk, ``FACELAB_CACHE`` naming a file) the run
warns and goes on without it. A truncated JPEG is named in a warning whenever its pixels are used.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from tqdm.auto import tqdm

from .. import io
from .detection import (  # noqa: F401  (detection's names, as the data room has always offered them)
    DETECT_FORMAT, MIN_FACE_SIZE, NO_FACE, detect_face, detect_faces, face_boxes,
)
from .errors import CacheWriteWarning, DataError, TruncatedImageWarning

CACHE_ENV_VAR = "FACELAB_CACHE"
CACHE_FORMAT = 1


def _pair(value, what) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        value = (int(value), int(value))
    value = tuple(int(v) for v in value)
    if len(value) != 2 or min(value) < 1:
        raise ValueError(f"{what} must be a positive int or (height, width), got {value}")
    return value


@dataclass(frozen=True)
class PreprocessConfig:
    """How an LFW image becomes an array.

    size: output (height, width). crop: (height, width) of the centre crop in source pixels,
    taken at ``center`` (row, col; default the image centre), applied before resizing; None
    keeps the whole image (or the detected face box). grayscale: one channel (ITU-R BT.601
    luma, OpenCV's ``COLOR_BGR2GRAY``) or three RGB channels. equalize: histogram
    equalisation (per channel on luma for colour, via YCrCb). detect: run OpenCV's frontal
    Haar cascade first and crop the detected face enlarged by ``detect_margin``; when no face
    is found the image falls back to the centre crop (``on_no_face="center"``, the count is
    kept in the cache metadata) or raises (``on_no_face="error"``).
    """

    size: tuple = (64, 64)
    crop: tuple | None = (112, 112)
    center: tuple | None = None
    grayscale: bool = True
    equalize: bool = False
    detect: bool = False
    detect_margin: float = 0.2
    on_no_face: str = "center"

    def __post_init__(self):
        object.__setattr__(self, "size", _pair(self.size, "size"))
        if self.crop is not None:
            object.__setattr__(self, "crop", _pair(self.crop, "crop"))
        if self.center is not None:
            object.__setattr__(self, "center", _pair(self.center, "center"))
        if self.on_no_face not in ("center", "error"):
            raise ValueError(f"on_no_face must be 'center' or 'error', got {self.on_no_face!r}")

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.size, self.channels)

    @classmethod
    def coerce(cls, value, default: "PreprocessConfig | None" = None) -> "PreprocessConfig":
        """A method's ``preprocess`` argument as a config: None → ``default``; a mapping (a preset's
        ``preprocess = {size = 48}``, ``--param 'preprocess={"size": 48}'``) → ``default`` with those
        fields replaced, so only what differs is written."""
        default = default or cls()
        if value is None:
            return default
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            unknown = sorted(set(value) - {f.name for f in fields(cls)})
            if unknown:
                raise ValueError(f"preprocess: unknown field(s) {', '.join(unknown)}; "
                                 f"it takes: {', '.join(f.name for f in fields(cls))}")
            return replace(default, **value)
        raise ValueError(f"preprocess must be a PreprocessConfig or a mapping of its fields, got {value!r}")

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def _crop(img: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """Crop with zero padding where the box leaves the image (deterministic at the borders)."""
    h, w = img.shape[:2]
    pad = max(0, -top, -left, top + height - h, left + width - w)
    if pad:
        img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        top, left = top + pad, left + pad
    return img[top: top + height, left: left + width]


def preprocess_image(bgr: np.ndarray, config: PreprocessConfig, source: str = "image",
                     face: tuple[int, int, int, int] | None = None) -> tuple[np.ndarray, bool]:
    """One decoded BGR (or grey) image → uint8 array of ``config.shape``.

    Returns ``(array, face_found)``; ``face_found`` is True when detection is off. ``face``: a box
    (x, y, w, h) already found (one of several faces in a photo), cropped as a detected face is
    instead of running the cascade again; it needs ``config.detect``.
    """
    if face is not None and not config.detect:
        raise ValueError(f"{source}: a face box is cropped only under a config with detect=True")
    if bgr.ndim == 2:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    found = True
    box = None
    if config.detect:
        face = detect_face(gray) if face is None else face
        if face is None:
            found = False
            if config.on_no_face == "error":
                raise DataError(f"{source}: no face found by the Haar cascade")
        else:
            x, y, w, h = face
            m = config.detect_margin
            side_h, side_w = int(round(h * (1 + 2 * m))), int(round(w * (1 + 2 * m)))
            box = (y + h // 2 - side_h // 2, x + w // 2 - side_w // 2, side_h, side_w)
    img = gray if config.grayscale else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if box is None and config.crop is not None:
        ch, cw = config.crop
        cy, cx = config.center or (img.shape[0] // 2, img.shape[1] // 2)
        box = (cy - ch // 2, cx - cw // 2, ch, cw)
    if box is not None:
        img = _crop(img, *box)
    interp = cv2.INTER_AREA if img.shape[0] >= config.size[0] else cv2.INTER_LINEAR
    img = cv2.resize(img, (config.size[1], config.size[0]), interpolation=interp)
    if config.equalize:
        if config.grayscale:
            img = cv2.equalizeHist(img)
        else:
            ycc = cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)
            ycc[..., 0] = cv2.equalizeHist(ycc[..., 0])
            img = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
    if img.ndim == 2:
        img = img[..., None]
    return img, found


_JPEG_START, _JPEG_END = b"\xff\xd8", b"\xff\xd9"
_TAIL = 64  # bytes read from a file's end: room for padding some writers put after the end marker


def _is_truncated_jpeg(head: bytes, tail: bytes) -> bool:
    """A JPEG (it starts with the start-of-image marker) whose data stops before the end-of-image marker."""
    return head.startswith(_JPEG_START) and not tail.rstrip(b"\x00\r\n ").endswith(_JPEG_END)


def truncated_jpegs(paths: Sequence[os.PathLike]) -> list[Path]:
    """The files among ``paths`` that are truncated JPEGs (reads two bytes at each end, not the image);
    a file that cannot be opened is left to :func:`read_image` to name."""
    out = []
    for p in paths:
        try:
            with open(p, "rb") as fh:
                head = fh.read(2)
                fh.seek(max(0, os.fstat(fh.fileno()).st_size - _TAIL))
                tail = fh.read()
        except OSError:
            continue
        if _is_truncated_jpeg(head, tail):
            out.append(Path(p))
    return out


def warn_truncated(paths) -> None:
    """One warning per truncated JPEG, naming it: libjpeg's own message names no file."""
    for p in paths:
        warnings.warn(f"{p}: truncated JPEG (the file ends before its end-of-image marker); its missing part "
                      "is decoded as grey. Replace the file (`facelab data verify` checks every file of LFW)",
                      TruncatedImageWarning, stacklevel=3)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file with OpenCV (BGR uint8); an unreadable file is named in the error and a
    truncated JPEG, which libjpeg decodes without naming it, in a warning."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)  # from a file, libjpeg keeps a truncated JPEG's top part
    if img is None:
        raise DataError(f"cannot decode image {path} (missing, empty or not an image)")
    warn_truncated(truncated_jpegs([path]))
    return img


def preprocess_files(paths: Sequence[os.PathLike], config: PreprocessConfig, *, workers: int | None = None,
                     progress: bool = True, desc: str = "preprocessing", read=None,
                     boxes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode and preprocess many files in parallel threads (OpenCV releases the GIL).

    Returns ``(images uint8 (n, h, w, c), face_found bool (n,))`` in the order of ``paths``. ``read``
    decodes one file (default :func:`read_image`; a face folder frames its photos' faces). ``boxes``:
    the faces already found (:func:`~facelab.data.detection.face_boxes`) for a detection config, which
    then crops them instead of running the cascade again.
    """
    read = read or read_image
    out = np.empty((len(paths), *config.shape), dtype=np.uint8)
    found = np.ones(len(paths), dtype=bool)
    centred = replace(config, detect=False)  # what a detection config does where no face was found

    def work(i):
        if boxes is None:
            out[i], found[i] = preprocess_image(read(paths[i]), config, source=str(paths[i]))
        elif tuple(boxes[i]) != NO_FACE:
            out[i], found[i] = preprocess_image(read(paths[i]), config, source=str(paths[i]), face=tuple(boxes[i]))
        elif config.on_no_face == "error":
            raise DataError(f"{paths[i]}: no face found by the Haar cascade")
        else:
            out[i], found[i] = preprocess_image(read(paths[i]), centred, source=str(paths[i]))[0], False

    workers = workers or min(8, os.cpu_count() or 1)
    cv2.setNumThreads(1)  # parallelism comes from the threads; avoid oversubscription
    with ThreadPoolExecutor(workers) as pool:
        for _ in tqdm(pool.map(work, range(len(paths)), chunksize=1 if len(paths) < 64 else 32),
                      total=len(paths), desc=desc, disable=not progress, unit="img", leave=False):
            pass
    return out, found


def default_cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "facelab"


def images_fingerprint(paths: Sequence[os.PathLike], sizes: Sequence[int] | None = None) -> str:
    """Hash of the relative image list and file sizes: detects added/removed/replaced images.

    ``sizes`` gives the file sizes when the files are not at hand (a packed copy, data/pack.py).
    """
    h = hashlib.sha256()
    for i, p in enumerate(paths):
        p = Path(p)
        size = p.stat().st_size if sizes is None else int(sizes[i])
        h.update(f"{p.parent.name}/{p.name}:{size}\n".encode())
    return h.hexdigest()[:16]


@dataclass
class CachedImages:
    images: np.ndarray  # uint8 (n, h, w, c)
    face_found: np.ndarray  # bool (n,)
    path: Path
    rebuilt: bool
    reason: str = ""
    meta: dict = field(default_factory=dict)


def cache_path(cache_dir: os.PathLike, tag: str, config: PreprocessConfig) -> Path:
    return Path(cache_dir) / f"{tag}-{config.key()}.npz"


def _relative(path: os.PathLike) -> str:
    """``<person>/<file>``: how the cache metadata names an image, wherever the data root is."""
    path = Path(path)
    return f"{path.parent.name}/{path.name}"


def _why_not_written(exc: OSError, path: Path) -> str:
    """The reason a cache write failed, in words: a file standing where a folder should be is named."""
    for folder in path.parents:
        if folder.exists():
            if not folder.is_dir():
                return f"{folder} is a file, not a folder"
            break
    return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename and str(exc.filename) != str(path) else "")


def _save_cache(path: Path, images: np.ndarray, found: np.ndarray, meta: dict) -> str:
    """Write the cache; a failure is a warning naming the path and the reason (returned, else "")."""
    try:
        io.save_npz(path, images=images, face_found=found, meta=np.array(json.dumps(meta, sort_keys=True)))
    except OSError as exc:
        why = _why_not_written(exc, path)
        warnings.warn(f"could not write the preprocessing cache {path} ({why}); going on without it, so the next "
                      f"run preprocesses again (free some space, or set ${CACHE_ENV_VAR} to a writable folder)",
                      CacheWriteWarning, stacklevel=3)
        return why
    return ""


def _read_cache(path: Path, expected_meta: dict, shape: tuple) -> tuple[CachedImages | None, str]:
    """The cache at ``path`` if it holds ``expected_meta``'s arrays, else None and why not."""
    try:
        if not path.exists():
            return None, "no cache yet"
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            if {k: meta.get(k) for k in expected_meta} != expected_meta:
                return None, "stale cache (config or image list changed)"
            images, found = npz["images"], npz["face_found"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        return None, f"corrupted cache ({type(exc).__name__}: {exc})"
    if images.shape != shape or images.dtype != np.uint8 or found.shape != shape[:1]:
        return None, "corrupted cache (unexpected array shape)"
    return CachedImages(images, found, path, False, "", meta), ""


def load_or_build(paths: Sequence[os.PathLike], config: PreprocessConfig, *, cache_dir: os.PathLike | None = None,
                  tag: str = "lfw", progress: bool = True, workers: int | None = None,
                  sizes: Sequence[int] | None = None, build: bool = True, read=None) -> CachedImages:
    """Preprocessed images for ``paths`` under ``config``, from the cache when it is valid.

    The cache file is ``<cache_dir>/<tag>-<config key>.npz`` and stores the config, the image
    fingerprint and the arrays. A file that cannot be read, has the wrong shape, another config
    or another image list is rebuilt (the reason is returned in ``CachedImages.reason``).
    ``build=False`` (a packed copy without the JPEGs) raises :class:`DataError` instead.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache_path(cache_dir, tag, config)
    fingerprint = images_fingerprint(paths, sizes)
    expected_meta = {"format": CACHE_FORMAT, "config": config.to_dict(), "fingerprint": fingerprint,
                     "count": len(paths), **({"detect_format": DETECT_FORMAT} if config.detect else {})}
    cached, reason = _read_cache(path, expected_meta, (len(paths), *config.shape))
    if cached is not None:
        if "truncated_images" not in cached.meta:  # a cache written before they were recorded
            cached.meta["truncated_images"] = [_relative(p) for p in truncated_jpegs(paths)] if build else []
        by_name = {_relative(p): p for p in paths}
        warn_truncated(by_name.get(name, name) for name in cached.meta["truncated_images"])
        return cached
    if not build:
        raise DataError(f"{path}: {reason}, and the original images are not here to preprocess "
                        f"({config.to_dict()}); pack this preprocessing too (`facelab data pack`) or use the full LFW")
    boxes = None if not config.detect else face_boxes(
        paths, read or read_image, cache_dir=cache_dir, tag=tag, fingerprint=fingerprint, progress=progress, workers=workers)
    images, found = preprocess_files(paths, config, progress=progress, workers=workers, read=read,
                                     boxes=boxes)  # warns per truncated JPEG
    meta = dict(expected_meta, faces_not_found=int((~found).sum()),
                truncated_images=[_relative(p) for p in truncated_jpegs(paths)])
    not_written = _save_cache(path, images, found, meta)
    if not_written:
        reason += f"; not cached ({not_written})"
    return CachedImages(images, found, path, True, reason, meta)
