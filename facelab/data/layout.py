"""Finding LFW on disk: the data root, the image-folder variant, and the image index.

The data root is, in order: an explicit argument, the ``FACELAB_DATA`` environment variable,
``./data``. Inside it (or inside ``<root>/lfw`` when the root is a parent folder) we accept the
layouts of the official archives — ``lfw/``, ``lfw-deepfunneled/``, ``lfw_funneled/`` — and
``images/``, each holding ``<Name>/<Name>_NNNN.jpg``, with the protocol files beside them.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from .errors import DataError, DataNotFoundError

ENV_VAR = "FACELAB_DATA"
#: the index of a packed copy (``facelab data pack``, :mod:`facelab.data.pack` writes it)
PACK_FILE = "PACK.json"
PACK_FORMAT = 1

#: image folder name → variant it holds (official archive names).
IMAGE_FOLDERS = {
    "lfw-deepfunneled": "lfw-deepfunneled",
    "lfw_funneled": "lfw_funneled",
    "lfw": "lfw",
    "images": None,  # variant read from SOURCE.md / README next to it, else "unknown"
}

_IMAGE_NAME = re.compile(r"^(?P<name>.+)_(?P<num>\d{4})\.jpg$")


def resolve_data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder that holds LFW: the argument, else ``$FACELAB_DATA``, else ``./data``."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path("data")


@dataclass(frozen=True)
class ImageRecord:
    name: str  # person, e.g. "Aaron_Peirsol"
    number: int  # 1-based image number within the person, as in the protocol files
    path: Path
    size: int | None = None  # file size in bytes, known without the file in a packed copy (data/pack.py)


@dataclass
class LFWLayout:
    """Where LFW's protocol files and image folder are, and which variant the images are.

    ``images`` lists every image in canonical order (person name in byte order, then image
    number); ``labels[i]`` is the index of ``images[i]``'s person in ``people``.
    """

    root: Path  # folder with the protocol files
    image_dir: Path  # folder with <Name>/<Name>_NNNN.jpg
    variant: str
    _index: dict = field(default_factory=dict, repr=False)
    #: a packed copy (``facelab data pack``) holds preprocessed arrays instead of the JPEGs
    packed: bool = False

    # -- lookup -------------------------------------------------------------------------
    def protocol_file(self, name: str) -> Path:
        path = self.root / name
        if not path.is_file():
            raise DataNotFoundError(
                f"protocol file {name} not found in {self.root} "
                f"(run `facelab data download --data-dir {self.root}`)"
            )
        return path

    def image_path(self, name: str, number: int) -> Path:
        return self.image_dir / name / f"{name}_{number:04d}.jpg"

    def person_dir(self, name: str) -> Path:
        return self.image_dir / name

    @property
    def cache_tag(self) -> str:
        """The name the preprocessing cache files of this data start with."""
        return f"lfw-{self.variant}"

    def read(self, path) -> np.ndarray:
        """An image of this data set as the methods' preprocessing expects it (a 250×250 LFW frame)."""
        from .preprocess import read_image

        return read_image(path)

    @cached_property
    def images(self) -> list[ImageRecord]:
        records = []
        for person_dir in sorted(os.scandir(self.image_dir), key=lambda e: e.name.encode()):
            if not person_dir.is_dir():
                continue
            for entry in os.scandir(person_dir.path):
                m = _IMAGE_NAME.match(entry.name)
                if m and m.group("name") == person_dir.name:
                    records.append(ImageRecord(person_dir.name, int(m.group("num")), Path(entry.path)))
        records.sort(key=lambda r: (r.name.encode(), r.number))
        if not records:
            raise DataNotFoundError(f"no <Name>/<Name>_NNNN.jpg images under {self.image_dir}")
        return records

    @cached_property
    def people(self) -> list[str]:
        return sorted({r.name for r in self.images}, key=str.encode)

    @cached_property
    def person_index(self) -> dict[str, int]:
        """Person → their position in ``people`` (and label)."""
        return {p: i for i, p in enumerate(self.people)}

    @cached_property
    def labels(self) -> np.ndarray:
        return np.array([self.person_index[r.name] for r in self.images], dtype=np.int32)

    @cached_property
    def image_counts(self) -> dict[str, int]:
        """Person → number of images, as the protocol files' count column should say."""
        return dict(zip(self.people, np.bincount(self.labels, minlength=len(self.people)).tolist()))

    @cached_property
    def truncated_images(self) -> list[Path]:
        """JPEGs that end before their end-of-image marker (empty for a packed copy, which has no JPEGs).

        libjpeg decodes such a file with only an unnamed "Premature end of JPEG file" on stderr, and
        not even that once the image is cached, so the summary counts them."""
        from .preprocess import truncated_jpegs

        return [] if self.packed else truncated_jpegs([r.path for r in self.images])

    @cached_property
    def image_index(self) -> dict[tuple[str, int], int]:
        """(name, number) → position in ``images``."""
        return {(r.name, r.number): i for i, r in enumerate(self.images)}

    def index_of(self, name: str, number: int, source: str = "") -> int:
        """Position of an image; a missing image raises an error that names it (and ``source``)."""
        try:
            return self.image_index[(name, number)]
        except KeyError:
            where = f" (referenced by {source})" if source else ""
            raise DataNotFoundError(
                f"image {self.image_path(name, number)} does not exist{where}"
            ) from None

    def counts(self) -> dict[str, int]:
        """The data summary; a truncated JPEG is counted here and named in a warning."""
        from .preprocess import warn_truncated

        per_person = np.bincount(self.labels)
        warn_truncated(self.truncated_images)
        return {
            "images": len(self.images),
            "people": len(self.people),
            "people_with_2_or_more": int((per_person >= 2).sum()),
            "truncated_images": len(self.truncated_images),
        }

    def describe(self) -> str:
        return f"LFW ({self.variant}) at {self.image_dir}"


def _variant_from_notes(folder: Path) -> str:
    for note in ("SOURCE.md", "README.md", "README", "VARIANT"):
        p = folder / note
        if p.is_file():
            text = p.read_text(errors="replace").lower()
            if "deepfunneled" in text or "deep-funneled" in text:
                return "lfw-deepfunneled"
            if "funneled" in text:
                return "lfw_funneled"
    return "unknown"


def _holds_person_folders(folder: Path, probe: int = 5) -> bool:
    """True if ``folder`` has ``<Name>/<Name>_NNNN.jpg`` entries (checks a few people)."""
    if not folder.is_dir():
        return False
    checked = 0
    for entry in os.scandir(folder):
        if entry.is_dir():
            checked += 1
            if any(_IMAGE_NAME.match(f.name) for f in os.scandir(entry.path)):
                return True
            if checked >= probe:
                return False
    return False


def read_packed_layout(root: str | os.PathLike) -> LFWLayout:
    """The :class:`LFWLayout` of a packed copy (:func:`facelab.data.pack.pack_lfw` writes it); a malformed
    ``PACK.json`` is an error naming it."""
    root = Path(root)
    path = root / PACK_FILE
    try:
        meta = json.loads(path.read_text())
        if meta.get("format") != PACK_FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {PACK_FORMAT}")
        records = [ImageRecord(str(n), int(k), root / "images" / str(n) / f"{n}_{int(k):04d}.jpg", int(size))
                   for n, k, size in meta["images"]]
        variant = str(meta["variant"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a facelab LFW pack ({type(exc).__name__}: {exc})") from None
    if not records:
        raise DataError(f"{path}: the pack lists no images")
    records.sort(key=lambda r: (r.name.encode(), r.number))
    layout = LFWLayout(root, root / "images", variant, packed=True)
    layout.__dict__["images"] = records  # fills the cached property: there is no image folder to scan
    return layout


def find_lfw(data_dir: str | os.PathLike | None = None) -> LFWLayout:
    """Locate LFW under the data root and say which variant was found.

    Looks in the root and in ``<root>/lfw`` (so ``./data`` with ``data/lfw/...`` works), for the
    first image folder among ``lfw-deepfunneled/``, ``lfw_funneled/``, ``lfw/``, ``images/``.
    A folder written by ``facelab data pack`` (it holds ``PACK.json``) is accepted as it is.
    """
    root = resolve_data_root(data_dir)
    if not root.is_dir():
        raise DataNotFoundError(
            f"LFW data root {root} does not exist; pass --data-dir, set ${ENV_VAR}, "
            f"or run `facelab data download --data-dir {root}`"
        )
    if (root / PACK_FILE).is_file():
        return read_packed_layout(root)
    candidates = [root, root / "lfw"]
    for base in candidates:
        for folder, variant in IMAGE_FOLDERS.items():
            image_dir = base / folder
            nested = image_dir / folder  # some unpackers nest lfw/lfw/<Name>
            for candidate in (image_dir, nested):
                if _holds_person_folders(candidate):
                    return LFWLayout(base, candidate, variant or _variant_from_notes(base))
    if _holds_person_folders(root):  # downloading into the image folder would nest a second LFW inside it
        if (root / "pairs.txt").is_file():
            raise DataNotFoundError(f"{root} holds pairs.txt and the <Name>/<Name>_NNNN.jpg folders side by side; "
                                    f"move the person folders into {root / 'images'}")
        parent = Path(os.path.abspath(root)).parent
        given = f"${ENV_VAR}" if data_dir is None and os.environ.get(ENV_VAR) else "--data-dir"
        raise DataNotFoundError(
            f"{root} holds <Name>/<Name>_NNNN.jpg folders: this looks like the image folder; point {given} at "
            f"its parent, the folder with pairs.txt" + (f" ({parent})" if (parent / "pairs.txt").is_file() else "")
        )
    raise DataNotFoundError(
        f"no LFW image folder ({', '.join(IMAGE_FOLDERS)}) found in {root} or {root / 'lfw'}; "
        f"run `facelab data download --data-dir {root}`"
    )
