"""``facelab identify`` and ``facelab search``: faces in photos against a gallery file.

Both score with the evaluation room's :class:`~facelab.evaluation.gallery.Gallery` (each person
by their best-matching enrolled face), the rule the threshold was calibrated with. A face whose
best score is below the threshold is "not recognised": at that score, the calibrated fraction of
photos of people who are not in the gallery would have been given a name.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.lfw import LFW
from ..evaluation.gallery import Gallery
from . import gallery_file, model as wild_model
from .photos import Face, Summary, faces_in_photos, stack


@dataclass
class Answer:
    face: Face
    best: str  # the enrolled person who matches best
    score: float
    threshold: float

    @property
    def name(self) -> str | None:
        """The person, or None: not recognised."""
        return self.best if self.score >= self.threshold else None

    def record(self) -> dict:
        return {"photo": str(self.face.photo), "box": [int(v) for v in self.face.box], "name": self.name,
                "score": float(self.score), "threshold": float(self.threshold)}


@dataclass
class Match:
    name: str
    score: float
    source: str  # the enrolled photo
    box: tuple
    thumb: np.ndarray


@dataclass
class Opened:
    gallery: gallery_file.GalleryFile
    method: object
    search: Gallery


def open_gallery(gallery: gallery_file.GalleryFile, path, data_dir=None) -> Opened:
    """A loaded gallery with its method rebuilt and checked, ready to search."""
    fitted = wild_model.reopen(gallery, LFW(data_dir, progress=False), path)
    return Opened(gallery, fitted, Gallery(gallery.embeddings, gallery.names, fitted.similarity))


def threshold(gallery: gallery_file.GalleryFile, far: float | None = None, given: float | None = None) -> float:
    """``given`` as it is, else the calibrated threshold at ``far`` (default: the FAR enrolled with)."""
    if far is not None and given is not None:
        raise ValueError("give --far or --threshold, not both")
    if given is not None:
        return float(given)
    return gallery.calibration.at(gallery.calibration.far if far is None else far)[0]


def identify(photos, gallery, *, far: float | None = None, given_threshold: float | None = None,
             method: str | None = None, data_dir=None) -> tuple[list[Answer], Summary, Opened]:
    """Every face in ``photos``: its best-matching enrolled person, score and the threshold."""
    loaded = gallery_file.load(gallery, method=method)
    tau = threshold(loaded, far, given_threshold)  # a wrong --far is named before the method is rebuilt
    opened = open_gallery(loaded, gallery, data_dir)
    summary = Summary()
    faces = faces_in_photos(photos, opened.method.preprocess, summary)
    if not faces:
        return [], summary, opened
    names, scores = opened.search.identify(opened.method.embed(stack(faces)), k=1)
    answers = [Answer(f, str(n), float(s), tau) for f, n, s in zip(faces, names[:, 0], scores[:, 0])]
    return answers, summary, opened


def search(photo, gallery, *, k: int = 5, method: str | None = None,
           data_dir=None) -> tuple[list[tuple[Face, list[Match]]], Summary, Opened]:
    """The ``k`` enrolled faces most like each face of ``photo``, best first."""
    if k < 1:
        raise ValueError(f"-k must be at least 1, got {k}")
    opened = open_gallery(gallery_file.load(gallery, method=method), gallery, data_dir)
    summary = Summary()
    faces = faces_in_photos([photo], opened.method.preprocess, summary)
    if not faces:
        return [], summary, opened
    g = opened.gallery
    _, scores, rows = opened.search.search(opened.method.embed(stack(faces)), k=k)
    results = [(face, [Match(str(g.names[r]), float(s), str(g.sources[r]), tuple(int(v) for v in g.boxes[r]),
                             g.thumbs[r]) for s, r in zip(score_row, row)])
               for face, score_row, row in zip(faces, scores, rows)]
    return results, summary, opened
