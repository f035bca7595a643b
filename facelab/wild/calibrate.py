"""The open-set threshold of a gallery, measured on LFW people the method never trained on (or on
the View 1 test people of another data set, e.g. a split folder of faces like the user's own).

"Not recognised" means: the best score is below the threshold at which a chosen fraction (FAR)
of photos of people *not* in the gallery would still be given a name. How often a stranger
reaches some enrolled person grows with the number of people enrolled, so the threshold is
measured on galleries shaped like the user's: as many people with as many photos each, drawn
from View 1's test people, searched by View 1 test people with too few photos to be enrolled
(the evaluator's unknown probes), scored by the evaluation room's :class:`Gallery` and turned
into a threshold by the evaluator's DIR@FAR rule (:func:`facelab.metrics.identification.dir_at_far`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..base import FaceMethod
from ..data.lfw import LFW
from ..evaluation.gallery import Gallery
from ..evaluation.protocols import identification_split
from ..metrics import identification as idm
from .photos import wild_preprocess

MAX_PHOTOS = 10  # photos per person in the calibration galleries: 40 View 1 test people have more
REPEATS = 20  # galleries drawn; every stranger photo searches each of them


@dataclass
class Calibration:
    """Top-1 scores of LFW strangers and of enrolled people's other photos in galleries like the user's."""

    far: float  # the false-alarm rate the threshold was set at
    unknown_top: np.ndarray  # float32: best score of each stranger photo in each drawn gallery
    known_top: np.ndarray  # float32: best score of each enrolled person's other photos
    known_correct: np.ndarray  # bool: whether that best score was their own
    people: int  # people per calibration gallery
    photos: int  # enrolment photos per person
    repeats: int
    strangers: str = "LFW"  # whose faces the strangers were: LFW, or the data set given to calibrate on

    def at(self, far: float) -> tuple[float, float]:
        """``(threshold, DIR)``: the score a face must reach so that at most ``far`` of strangers are
        named, and the fraction of enrolled people's photos named correctly at it."""
        if not 0.0 <= far < 1.0:
            raise ValueError(f"the false-alarm rate must be at least 0 and below 1, got {far}")
        hit = self.known_correct.astype(np.int64)
        dir_, tau = idm.dir_at_far(self.known_top[:, None], hit, np.array([1]), self.unknown_top[:, None], far)
        return tau, dir_

    @property
    def threshold(self) -> float:
        return self.at(self.far)[0]

    def describe(self) -> str:
        tau, dir_ = self.at(self.far)
        return (f"threshold {tau:.4g}: {100 * self.far:g} % of strangers' photos reach it ({self.strangers} people; "
                f"{len(self.unknown_top)} searches of {self.repeats} galleries of {self.people} people × "
                f"{self.photos} photos); {100 * dir_:.0f} % of enrolled people's other photos are named correctly")


def calibrate(method: FaceMethod, lfw: LFW, *, people: int, photos: int, far: float,
              repeats: int = REPEATS, seed: int = 0, everyone: bool = False) -> Calibration:
    """Measure ``method`` (fitted on View 1's training people) on galleries of ``people`` View 1
    test people with ``photos`` photos each (at most :data:`MAX_PHOTOS`; fewer people when fewer
    have enough photos). ``everyone``: draw from all of ``lfw``'s people (a data set the method was
    not fitted on, given only to calibrate)."""
    photos = max(1, min(int(photos), MAX_PHOTOS))
    split = identification_split(lfw, min_images=photos + 1, n_gallery=photos, seed=seed,
                                 test_people=list(lfw.people) if everyone else None)
    labels = lfw.labels
    needed = np.concatenate([split.gallery, split.known_probes, split.unknown_probes])
    images = lfw.load_images(wild_preprocess(method.preprocess))  # LFW faces cut out as photos' faces are
    emb = np.asarray(method.embed(images[needed]), dtype=np.float32)
    row = {int(p): i for i, p in enumerate(needed)}
    E = lambda positions: emb[[row[int(p)] for p in positions]]
    unknown = E(split.unknown_probes)
    candidates = np.unique(labels[split.gallery])
    people = max(1, min(int(people), len(candidates)))
    rng = np.random.default_rng(seed)
    unknown_top, known_top, known_correct = [], [], []
    for _ in range(repeats):
        chosen = rng.choice(candidates, people, replace=False)
        enrolled = split.gallery[np.isin(labels[split.gallery], chosen)]
        probes = split.known_probes[np.isin(labels[split.known_probes], chosen)]
        gallery = Gallery(E(enrolled), labels[enrolled], method.similarity)
        unknown_top.append(gallery.identify(unknown, k=1)[1][:, 0])
        named, scores = gallery.identify(E(probes), k=1)
        known_top.append(scores[:, 0])
        known_correct.append(named[:, 0] == labels[probes])
    return Calibration(far=float(far), unknown_top=np.concatenate(unknown_top).astype(np.float32),
                       known_top=np.concatenate(known_top).astype(np.float32),
                       known_correct=np.concatenate(known_correct), people=people, photos=photos, repeats=repeats,
                       strangers="LFW" if lfw.variant.startswith("lfw") else str(lfw.layout.image_dir))
