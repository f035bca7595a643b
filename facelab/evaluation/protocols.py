"""Which images train and which pairs test: LFW's View 1 and View 2, unrestricted, no outside data.

View 2 (Huang et al. 2007, §3.2): for fold k, the training identities are the people of the
other nine folds of ``people.txt``; the threshold is chosen on the pairs of those nine folds;
accuracy is measured on the 600 pairs of fold k. View 1: train on ``peopleDevTrain``, choose the
threshold on ``pairsDevTrain``, test on ``pairsDevTest``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.lfw import LFW, PairSet


@dataclass
class VerificationSplit:
    name: str  # "fold 3" or "view1"
    train_images: np.ndarray  # positions in lfw.images of the training identities' images
    threshold_pairs: PairSet  # where the threshold is chosen
    test_pairs: PairSet  # where accuracy is measured


PROTOCOLS = ("view2", "view1")
#: where the accuracy threshold of a View 2 fold is chosen: "train" — the pairs of the nine training
#: folds (LFW's rule; the method was fitted on those very people); "held-out" — the pairs of one
#: training fold whose people the method is NOT fitted on (the next fold, k+1 mod 10), so a network
#: that pulls its own training people together does not set a threshold too tight for new people.
THRESHOLDS = ("train", "held-out")


def verification_splits(lfw: LFW, protocol: str = "view2", threshold: str = "train") -> list[VerificationSplit]:
    if threshold not in THRESHOLDS:
        raise ValueError(f"threshold must be one of {', '.join(THRESHOLDS)}; got {threshold!r}")
    if protocol == "view2":
        folds = lfw.people_folds("view2")
        pairs = lfw.pairs("view2")
        if len(folds) != len(np.unique(pairs.fold)):
            raise ValueError(f"people.txt has {len(folds)} folds but pairs.txt has {len(np.unique(pairs.fold))}")
        splits = []
        for k in range(len(folds)):
            held = (k + 1) % len(folds) if threshold == "held-out" else None
            train_people = [p for j, f in enumerate(folds) if j not in (k, held) for p in f]
            threshold_pairs = pairs.subset(pairs.fold == held) if held is not None else pairs.subset(pairs.fold != k)
            splits.append(VerificationSplit(
                f"fold {k + 1}", lfw.people_indices(train_people), threshold_pairs, pairs.subset(pairs.fold == k)))
        return splits
    if threshold != "train":
        raise ValueError("threshold='held-out' needs View 2's folds; View 1 has one training set")
    if protocol == "view1":
        (train_people,) = lfw.people_folds("view1-train")
        return [VerificationSplit("view1", lfw.people_indices(train_people),
                                  lfw.pairs("view1-train"), lfw.pairs("view1-test"))]
    raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")


@dataclass
class IdentificationSplit:
    """Closed-set and open-set identification on View 1's test people (never trained on).

    ``train_images``: peopleDevTrain. Enrolled people: test people with ≥ ``min_images``
    images; ``n_gallery`` of each (seeded) form the gallery, the rest are known probes. Unknown
    probes: every image of the test people with fewer images — they must come back "not
    recognised" in the open-set protocol. Where every test person has enough images (AT&T), a
    seeded third of them are the unknown people instead.
    """

    train_images: np.ndarray
    gallery: np.ndarray
    known_probes: np.ndarray
    unknown_probes: np.ndarray


def identification_split(lfw: LFW, *, min_images: int = 4, n_gallery: int = 2, seed: int = 0,
                         test_people: list[str] | None = None) -> IdentificationSplit:
    """``test_people``: the people to enrol and probe instead of View 1's test people (every person of a
    data set no method was fitted on, when it only calibrates a threshold)."""
    if not 1 <= n_gallery < min_images:
        raise ValueError(f"need 1 ≤ n_gallery < min_images, got n_gallery={n_gallery}, min_images={min_images}")
    rng = np.random.default_rng(seed)
    (train_people,) = lfw.people_folds("view1-train")
    if test_people is None:
        (test_people,) = lfw.people_folds("view1-test")
    strangers = {p for p in test_people if len(lfw.people_indices([p])) < min_images}
    if not strangers:  # everyone has enough photos (AT&T): a seeded third of the test people are strangers
        strangers = set(rng.permutation(sorted(test_people))[: max(1, len(test_people) // 3)].tolist())
    gallery, known, unknown = [], [], []
    for person in test_people:
        idx = lfw.people_indices([person])
        if person not in strangers:
            idx = rng.permutation(idx)
            gallery.extend(idx[:n_gallery])
            known.extend(idx[n_gallery:])
        else:
            unknown.extend(idx)
    as_positions = lambda xs: np.array(xs, dtype=np.int64)
    return IdentificationSplit(lfw.people_indices(train_people), as_positions(gallery), as_positions(known),
                               as_positions(unknown))


@dataclass
class FewShotSplit:
    """N-shot enrolment on View 1's test people with ≥ max(shots) + 1 images; an N that fewer than two
    test people have more than N images for is left out (AT&T's ten photos a person allow N ≤ 9).

    Per repeat and person, a seeded permutation puts ``max(shots)`` candidate enrolment images
    first and keeps the rest as probes; N-shot enrols the first N, so every N is scored on the
    same probes and accuracy differences come from N alone.
    """

    train_images: np.ndarray
    episodes: list  # per repeat: list of (person_label, enrol_positions (max_shot,), probe_positions)
    shots: tuple


def few_shot_split(lfw: LFW, *, shots=(1, 2, 5, 10), repeats: int = 5, seed: int = 0) -> FewShotSplit:
    shots = shots_asked = tuple(sorted(int(s) for s in shots))
    if shots[0] < 1:
        raise ValueError(f"shots must be ≥ 1, got {shots}")
    (train_people,) = lfw.people_folds("view1-train")
    (test_people,) = lfw.people_folds("view1-test")
    rng = np.random.default_rng(seed)
    per_person = [(lfw.people.index(p), lfw.people_indices([p])) for p in test_people]
    # a data set with few photos a person (AT&T has 10) is measured at the N it can probe
    sizes = sorted((len(idx) for _, idx in per_person), reverse=True)
    shots = tuple(n for n in shots if len(sizes) >= 2 and sizes[1] > n)
    if not shots:
        raise ValueError(f"fewer than 2 test people have more than {shots_asked[0]} images")
    eligible = [(lab, idx) for lab, idx in per_person if len(idx) > shots[-1]]
    episodes = []
    for _ in range(repeats):
        ep = []
        for lab, idx in eligible:
            perm = rng.permutation(idx)
            ep.append((lab, perm[: shots[-1]], perm[shots[-1]:]))
        episodes.append(ep)
    return FewShotSplit(lfw.people_indices(train_people), episodes, shots)
