"""Any folder of faces as a data set: one sub-folder per person, protocol files in LFW's format.

``facelab data split PHOTOS`` reads every photo once, finds its face (OpenCV's cascade, as the
photo tools do), numbers each person's usable photos 1, 2, … in natural order (``2.pgm`` before
``10.pgm``) and writes LFW's seven protocol files plus ``FACES.json`` (which photo has which number
and face box). The folds are drawn by person from a seed, so a test person is never trained on,
and the files can be shared and reused like LFW's own (Huang et al. 2007, §3):

- View 2: ``people.txt`` deals the people into k folds (those with 2+ photos first, so every fold
  has matched pairs); ``pairs.txt`` holds n matched and n mismatched pairs per fold, drawn
  without replacement from that fold's people, n the same for every fold.
- View 1 (for choosing settings): its own seeded split of the people, about a third of them
  tested, with their own pairs.

The folder with ``FACES.json`` is then a data root like LFW's: ``facelab compare --data-dir``
runs every method on it. Each photo enters the methods as a 250×250 LFW-style frame around its
face (:func:`~facelab.data.photos.lfw_frame`), so each method's own preprocessing applies as on
LFW. A photo in which the cascade finds no face is framed by the box faces have on average in the
photos where it did find one (for a set shot alike, such as AT&T, that is where the face is), and
is counted. The AT&T/ORL faces (Samaria & Harter 1994; ``s1 … s40/1.pgm … 10.pgm``) are recognised
by the checksums of their 400 files.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .. import io
from .errors import DataError, DataNotFoundError
from .layout import ImageRecord, LFWLayout, find_lfw, resolve_data_root
from .manifest import read_manifest
from .photos import (
    PhotoProblem, Summary, central_face, files_in, find_faces, lfw_frame, people_folders, read_photo,
)

INDEX_FILE = "FACES.json"
INDEX_FORMAT = 1
ATT_MANIFEST = Path(__file__).with_name("att_faces.sha256")
PAIR_FILES = ("pairs.txt", "people.txt", "pairsDevTrain.txt", "pairsDevTest.txt", "peopleDevTrain.txt",
              "peopleDevTest.txt", "lfw-names.txt")


def natural_key(name: str):
    """``"s2"`` before ``"s10"``, ``"2.pgm"`` before ``"10.pgm"``: digit runs compare as numbers."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name)]


@dataclass(frozen=True)
class FolderImage:
    name: str  # the person (their folder's name)
    number: int  # 1-based, in natural order of the usable photos
    file: str  # path relative to the photos folder, "/"-separated
    box: tuple  # (x, y, w, h) of the face in the photo as it is shown
    found: bool  # False: the cascade found no face and ``box`` is the average box


@dataclass
class Split:
    """What ``split_folder`` wrote: where, how many of what, and the photos it left out."""

    root: Path
    variant: str
    people: int
    images: int
    faces_not_found: int
    folds: int
    pairs_per_fold: int
    view1_pairs: tuple  # (train, test) pairs per class
    summary: Summary


# -- reading the photos ---------------------------------------------------------------------------
def _scan(photos_dir: Path, summary: Summary) -> list[FolderImage]:
    """Every usable photo with its face box; the unusable ones get a line in ``summary``."""
    found_boxes, rows = [], []
    for person, files in sorted(people_folders(photos_dir, summary).items(), key=lambda kv: kv[0].encode()):
        if any(c in person for c in "\t\r\n"):
            summary.add(photos_dir / person, "a person's name cannot hold a tab or line break (the protocol "
                                             "files are tab-separated lines); rename the folder")
            continue
        number = 0
        for path in sorted(files, key=lambda p: natural_key(p.name)):
            try:
                bgr = read_photo(path)
                boxes = find_faces(bgr)
            except PhotoProblem as exc:
                summary.add(path, str(exc))
                continue
            number += 1
            box = central_face(boxes, bgr.shape) if boxes else None
            h, w = bgr.shape[:2]
            if box is not None:
                found_boxes.append(np.array(box, float) / [w, h, w, h])
            rows.append((person, number, path.relative_to(photos_dir).as_posix(), box, (h, w)))
        if number == 0:
            summary.add(photos_dir / person, "no usable photo: this person is left out")
    if not rows:
        raise DataError(f"{photos_dir}: no usable photo in any person folder (PHOTOS/NAME/photo.jpg)")
    if not found_boxes:
        raise DataError(f"{photos_dir}: the face detector found no face in any of its {len(rows)} photos")
    # where faces are, relative to the photo's size, in the photos where the cascade found one
    typical = np.median(np.stack(found_boxes), axis=0)
    images = []
    for person, number, file, box, (h, w) in rows:
        found = box is not None
        if not found:
            box = tuple(int(round(v)) for v in typical * [w, h, w, h])
        images.append(FolderImage(person, number, file, tuple(int(v) for v in box), found))
    return images


def att_checksums() -> dict[str, str]:
    """Relative path → sha256 of the 400 AT&T/ORL images (``att_faces.sha256``, a ``sha256sum`` file)."""
    return dict(read_manifest(ATT_MANIFEST))


def _is_att(photos_dir: Path, images: list[FolderImage]) -> bool:
    """True when the photos are the 400 files of the AT&T/ORL database, byte for byte."""
    expected = att_checksums()
    if {img.file for img in images} != set(expected):
        return False
    return all(hashlib.sha256((photos_dir / f).read_bytes()).hexdigest() == digest for f, digest in expected.items())


# -- drawing the protocol ---------------------------------------------------------------------------
def _deal(rng, counts: dict[str, int], groups: int, what: str, unit: str = "folds") -> list[list[str]]:
    """People into ``groups`` groups: those with 2+ photos dealt first, so each group has matched pairs."""
    several = [p for p in counts if counts[p] >= 2]
    single = [p for p in counts if counts[p] < 2]
    if len(several) < groups or len(counts) < 2 * groups:
        raise DataError(f"{what}: {len(counts)} people, {len(several)} with 2+ usable photos; {groups} {unit} need "
                        f"at least {groups} people with 2+ photos and {2 * groups} people in all "
                        f"({'give fewer folds, or ' if unit == 'folds' else ''}add people)")
    out = [[] for _ in range(groups)]
    for p in rng.permutation(several).tolist() + rng.permutation(single).tolist():
        smallest = min(range(groups), key=lambda g: (len(out[g]), g))
        out[smallest].append(p)
    return [sorted(g, key=str.encode) for g in out]


def _draw_pairs(rng, people: list[str], counts: dict[str, int], cap: int) -> tuple[list, list]:
    """Up to ``cap`` matched ``(name, i, j)`` and ``cap`` mismatched ``(a, i, b, j)`` pairs, without
    replacement, uniformly over all such pairs of ``people``'s photos."""
    matched = [(p, i, j) for p in people for i, j in itertools.combinations(range(1, counts[p] + 1), 2)]
    matched = [matched[k] for k in rng.permutation(len(matched))[:cap]]
    owners = np.array([p for p in people for _ in range(counts[p])])
    numbers = np.array([k for p in people for k in range(1, counts[p] + 1)])
    mismatched, seen = [], set()
    n_pairs = (len(owners) ** 2 - sum(counts[p] ** 2 for p in people)) // 2
    while len(mismatched) < min(cap, n_pairs):
        a, b = sorted(rng.integers(0, len(owners), 2).tolist())
        if owners[a] != owners[b] and (a, b) not in seen:
            seen.add((a, b))
            mismatched.append((str(owners[a]), int(numbers[a]), str(owners[b]), int(numbers[b])))
    return matched, mismatched


def _pair_lines(matched, mismatched, n) -> list[str]:
    return ([f"{p}\t{i}\t{j}" for p, i, j in matched[:n]]
            + [f"{a}\t{i}\t{b}\t{j}" for a, i, b, j in mismatched[:n]])


def _people_lines(people, counts) -> list[str]:
    return [f"{p}\t{counts[p]}" for p in people]


def split_folder(photos_dir, out=None, *, folds: int = 10, pairs: int = 300, seed: int = 0) -> Split:
    """Write LFW-format protocol files and ``FACES.json`` for the people folders under ``photos_dir``
    into ``out`` (default: ``photos_dir`` itself), so ``out`` becomes a data root."""
    photos_dir = Path(photos_dir)
    out = Path(out) if out is not None else photos_dir
    if folds < 2:
        raise ValueError(f"--folds must be at least 2 (one fold tests, the others train); got {folds}")
    if pairs < 1:
        raise ValueError(f"--pairs must be at least 1; got {pairs}")
    summary = Summary()
    images = _scan(photos_dir, summary)
    counts: dict[str, int] = {}
    for img in images:
        counts[img.name] = img.number
    rng = np.random.default_rng(seed)
    fold_people = _deal(rng, counts, folds, str(photos_dir))
    drawn = [_draw_pairs(rng, group, counts, pairs) for group in fold_people]
    n = min(min(len(m), len(x)) for m, x in drawn)
    view1_rng = np.random.default_rng([seed, 1])  # View 1's own stream: changing --folds leaves it as it is
    dev_test, *dev_train = _deal(view1_rng, counts, 3, f"{photos_dir} (View 1)",
                                   "groups (View 1 trains on two, tests on one)")
    dev_train = sorted((p for g in dev_train for p in g), key=str.encode)
    dev = {name: _draw_pairs(view1_rng, group, counts, pairs) for name, group in (("train", dev_train), ("test", dev_test))}
    dev_n = {name: min(len(m), len(x)) for name, (m, x) in dev.items()}

    files = {
        "pairs.txt": [f"{folds}\t{n}", *(line for m, x in drawn for line in _pair_lines(m, x, n))],
        "people.txt": [str(folds), *(line for g in fold_people for line in (str(len(g)), *_people_lines(g, counts)))],
        "pairsDevTrain.txt": [str(dev_n["train"]), *_pair_lines(*dev["train"], dev_n["train"])],
        "pairsDevTest.txt": [str(dev_n["test"]), *_pair_lines(*dev["test"], dev_n["test"])],
        "peopleDevTrain.txt": [str(len(dev_train)), *_people_lines(dev_train, counts)],
        "peopleDevTest.txt": [str(len(dev_test)), *_people_lines(dev_test, counts)],
        "lfw-names.txt": _people_lines(sorted(counts, key=str.encode), counts),
    }
    variant = "att" if _is_att(photos_dir, images) else "folder"
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, lines in files.items():
            io.write_text(out / name, "\n".join(lines) + "\n")
        photos_ref = os.path.relpath(photos_dir.resolve(), out.resolve())
        io.write_json(out / INDEX_FILE, {  # written last: a data root only once every file is there
            "format": INDEX_FORMAT, "variant": variant, "photos": Path(photos_ref).as_posix(), "seed": seed,
            "folds": folds, "pairs_per_fold": n, "left_out": summary.lines,
            "images": [[i.name, i.number, i.file, list(i.box), i.found] for i in images]})
    except OSError as exc:
        raise DataError(f"cannot write the protocol files into {out} ({exc.strerror or exc}); "
                        "give --out a writable folder") from None
    return Split(out, variant, len(counts), len(images), sum(not i.found for i in images), folds, n,
                 (dev_n["train"], dev_n["test"]), summary)


# -- reading it back ------------------------------------------------------------------------------
class FolderLayout(LFWLayout):
    """A split folder of faces seen as LFW: ``root`` holds the protocol files and ``FACES.json``,
    ``image_dir`` the people's photos; images are read as LFW-style frames around their faces."""

    def __init__(self, root: Path):
        path = root / INDEX_FILE
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            if meta.get("format") != INDEX_FORMAT:
                raise ValueError(f"format {meta.get('format')!r}, expected {INDEX_FORMAT}")
            image_dir = (root / meta["photos"]).resolve()
            self.entries = [FolderImage(str(n), int(k), str(f), tuple(int(v) for v in box), bool(found))
                            for n, k, f, box, found in meta["images"]]
            variant = str(meta["variant"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}: not a facelab face-folder index ({type(exc).__name__}: {exc}); "
                            "write it again with `facelab data split`") from None
        super().__init__(root, image_dir, variant)
        self.fingerprint = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        self._boxes = {str(image_dir / e.file): e.box for e in self.entries}
        self._by_number = {(e.name, e.number): e for e in self.entries}

    @cached_property
    def images(self) -> list[ImageRecord]:
        records = [ImageRecord(e.name, e.number, self.image_dir / e.file) for e in self.entries]
        missing = [r.path for r in records if not r.path.is_file()]
        if missing:
            raise DataNotFoundError(
                f"{missing[0]} is listed in {self.root / INDEX_FILE} but is not there"
                + (f" (nor {len(missing) - 1} more)" if len(missing) > 1 else "")
                + f"; run `facelab data split {self.image_dir} --out {self.root}` again")
        return sorted(records, key=lambda r: (r.name.encode(), r.number))

    @property
    def cache_tag(self) -> str:
        return f"{self.variant}-{self.fingerprint}"

    def image_path(self, name: str, number: int) -> Path:
        entry = self._by_number.get((name, number))
        return self.image_dir / entry.file if entry else self.image_dir / name / f"(photo number {number})"

    def read(self, path) -> np.ndarray:
        """The photo at ``path`` as a 250×250 LFW-style frame around its face."""
        return lfw_frame(read_photo(path), self._boxes[str(path)])

    def describe(self) -> str:
        what = "AT&T/ORL faces" if self.variant == "att" else "face folder"
        return f"{what} at {self.image_dir} ({len(self.people)} people, protocol in {self.root})"


def find_dataset(data_dir=None) -> LFWLayout:
    """The data root's layout: a split face folder (it holds ``FACES.json``), else LFW. A folder of
    people's photos that was never split is an error that says how to split it."""
    root = resolve_data_root(data_dir)
    if (root / INDEX_FILE).is_file():
        return FolderLayout(root)
    try:
        return find_lfw(data_dir)
    except DataNotFoundError:
        if root.is_dir() and any(p.is_dir() and files_in(p) for p in root.iterdir() if not p.name.startswith(".")):
            raise DataNotFoundError(
                f"{root} looks like a folder of people's photos (one folder per person) without a protocol; "
                f"run `facelab data split {root}` (or `--out DIR` to keep the folder as it is) and use "
                "that folder as the data root") from None
        raise
