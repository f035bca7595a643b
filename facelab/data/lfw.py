"""One object for everything LFW: layout, protocol files, and cached preprocessed arrays."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from . import protocol
from .errors import DataNotFoundError
from .folder import find_dataset
from .layout import LFWLayout
from .preprocess import CachedImages, PreprocessConfig, load_or_build


@dataclass
class PairSet:
    """Pairs resolved to image positions: ``index_a[i]``, ``index_b[i]``, ``same[i]``, ``fold[i]``."""

    index_a: np.ndarray
    index_b: np.ndarray
    same: np.ndarray
    fold: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.same)

    def subset(self, mask: np.ndarray) -> "PairSet":
        return PairSet(self.index_a[mask], self.index_b[mask], self.same[mask], self.fold[mask], self.source)


class LFW:
    """Labeled Faces in the Wild under a data root (argument, ``$FACELAB_DATA`` or ``./data``), or any
    folder of faces given LFW's protocol files by ``facelab data split`` (:mod:`facelab.data.folder`).

    >>> lfw = LFW()                                  # doctest: +SKIP
    >>> x = lfw.load_images(PreprocessConfig(size=64))  # uint8 (13233, 64, 64, 1)
    >>> pairs = lfw.pairs("view2")                   # 6000 pairs in 10 folds
    """

    def __init__(self, data_dir: str | os.PathLike | None = None, *, cache_dir=None, progress: bool = True):
        self.layout: LFWLayout = find_dataset(data_dir)
        self.cache_dir = cache_dir
        self.progress = progress
        self._arrays: dict[str, CachedImages] = {}

    # -- index --------------------------------------------------------------------------
    @property
    def variant(self) -> str:
        return self.layout.variant

    @property
    def cache_tag(self) -> str:
        return self.layout.cache_tag

    @property
    def labels(self) -> np.ndarray:
        return self.layout.labels

    @property
    def people(self) -> list[str]:
        return self.layout.people

    def __len__(self) -> int:
        return len(self.layout.images)

    def people_indices(self, names) -> np.ndarray:
        """Positions of every image of the given people; a person without images is an error naming them."""
        wanted = np.zeros(len(self.people), dtype=bool)
        lookup = self.layout.person_index
        for n in names:
            if n not in lookup:
                raise DataNotFoundError(f"no images of {n} in {self.layout.describe()} "
                                        f"(no folder {self.layout.person_dir(n)})")
            wanted[lookup[n]] = True
        return np.flatnonzero(wanted[self.labels])

    # -- images -------------------------------------------------------------------------
    def load_images(self, config: PreprocessConfig | None = None) -> np.ndarray:
        """All images, preprocessed under ``config`` (cached on disk and in memory)."""
        return self.load_cached(config).images

    def load_cached(self, config: PreprocessConfig | None = None) -> CachedImages:
        config = config or PreprocessConfig()
        key = config.key()
        if key not in self._arrays:
            records = self.layout.images
            packed = self.layout.packed  # a packed copy: its own arrays, no JPEGs to rebuild from
            self._arrays[key] = load_or_build(
                [r.path for r in records], config, cache_dir=self.layout.root if packed else self.cache_dir,
                tag=self.cache_tag, progress=self.progress, build=not packed, read=self.layout.read,
                sizes=[r.size for r in records] if packed else None)
            if packed:
                from .pack import preload_memo_tables

                preload_memo_tables(self.layout.root, config, self._arrays[key].images)
        return self._arrays[key]

    # -- protocol files -----------------------------------------------------------------
    PAIR_FILES = {"view2": "pairs.txt", "view1-train": "pairsDevTrain.txt", "view1-test": "pairsDevTest.txt"}
    PEOPLE_FILES = {"view2": "people.txt", "view1-train": "peopleDevTrain.txt", "view1-test": "peopleDevTest.txt"}

    def pairs(self, which: str = "view2") -> PairSet:
        """Pairs of ``view2`` (10 folds), ``view1-train`` or ``view1-test``, resolved to images."""
        name = self._pick(self.PAIR_FILES, which, "pairs")
        path = self.layout.protocol_file(name)
        parsed = protocol.parse_pairs(path)
        a, b, same = protocol.resolve_pairs(parsed, self.layout, source=name)
        return PairSet(a, b, same, np.array([p.fold for p in parsed]), name)

    def people_folds(self, which: str = "view2") -> list[list[str]]:
        """People of each fold (10 for ``view2``, one for the View 1 files), each with the number of
        images the file says it has: a file that disagrees with the image folder is an error naming
        its line, before any person is looked up."""
        name = self._pick(self.PEOPLE_FILES, which, "people")
        path = self.layout.protocol_file(name)
        folds = protocol.parse_people(path)
        protocol.check_people_on_disk(folds, self.layout, path)
        return [list(f.people) for f in folds]

    def names(self) -> dict[str, int]:
        return protocol.parse_names(self.layout.protocol_file("lfw-names.txt"))

    @staticmethod
    def _pick(table, which, what):
        if which not in table:
            raise ValueError(f"unknown {what} set {which!r}; choose one of {', '.join(table)}")
        return table[which]
