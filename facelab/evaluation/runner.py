"""Run any method through the protocols. The evaluator gets a *factory* (a fresh method per
fold) and never knows whether it holds PCA or a GAN: it calls ``fit``, ``embed`` and the
method's named similarity, nothing else."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
from tqdm.auto import tqdm

from ..base import FaceMethod
from ..data.lfw import LFW
from ..metrics import get_similarity
from ..metrics import identification as idm
from ..metrics import verification as vm
from ..shared_fits import SharedFits
from .protocols import FewShotSplit, few_shot_split, identification_split, verification_splits

FAR_POINTS = (0.01, 0.001)


@dataclass
class Fitted:
    method: FaceMethod
    fit_seconds: float


def fit_method(factory: Callable[[], FaceMethod], images: np.ndarray, labels: np.ndarray,
               fits: SharedFits | None = None) -> Fitted:
    """Fit a fresh method (through ``fits``, a comparison's shared fits, when given); labels are
    renumbered 0..c−1 (softmax heads need contiguous ids)."""
    _, contiguous = np.unique(labels, return_inverse=True)
    contiguous = contiguous.astype(np.int64)
    t0 = time.perf_counter()
    method = factory()
    method = method.fit(images, contiguous) if fits is None else fits.fit(method, images, contiguous)
    return Fitted(method, time.perf_counter() - t0)


class _Embedder:
    """Embeds each needed image once per fitted method and times it."""

    def __init__(self, method: FaceMethod, images: np.ndarray):
        self.method, self.images, self.seconds = method, images, 0.0

    def __call__(self, positions: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """Embed the images at ``positions``; return a lookup: positions → their embeddings."""
        unique = np.unique(positions)
        t0 = time.perf_counter()
        emb = np.asarray(self.method.embed(self.images[unique]))
        self.seconds += time.perf_counter() - t0
        if emb.ndim != 2 or len(emb) != len(unique):
            raise ValueError(f"{self.method.name}.embed returned shape {emb.shape} for {len(unique)} images; "
                             "expected (n, d)")
        if not np.all(np.isfinite(emb)):
            raise ValueError(f"{self.method.name}.embed returned NaN or infinite values")
        return lambda pos: emb[np.searchsorted(unique, np.asarray(pos))]


@dataclass
class VerificationResult:
    protocol: str
    fold_accuracy: list
    thresholds: list
    test_scores: np.ndarray  # pooled over folds (each fold scored by its own model)
    test_same: np.ndarray
    fit_seconds: float
    embed_seconds: float
    config: dict = field(default_factory=dict)
    #: the method fitted on the last split, for a look inside it (its training history, its embeddings
    #: of people it never saw); not part of :meth:`summary`
    last_fitted: FaceMethod | None = field(default=None, repr=False, compare=False)

    @property
    def accuracy_mean(self) -> float:
        return float(np.mean(self.fold_accuracy))

    @property
    def accuracy_se(self) -> float:
        """σ/√k over the k folds (LFW's reporting rule); View 1's single test set uses the
        binomial standard error √(p(1−p)/n) instead."""
        acc = np.asarray(self.fold_accuracy)
        if len(acc) > 1:
            return float(acc.std(ddof=1) / np.sqrt(len(acc)))
        p = acc[0]
        return float(np.sqrt(p * (1 - p) / len(self.test_same)))

    def summary(self) -> dict:
        return {
            "accuracy_mean": self.accuracy_mean,
            "accuracy_se": self.accuracy_se,
            "fold_accuracy": [float(a) for a in self.fold_accuracy],
            "thresholds": [float(t) for t in self.thresholds],
            "auc": vm.auc(self.test_scores, self.test_same),
            "eer": vm.eer(self.test_scores, self.test_same),
            "tar_at_far": {str(f): vm.tar_at_far(self.test_scores, self.test_same, f) for f in FAR_POINTS},
            "fit_seconds": self.fit_seconds,
            "embed_seconds": self.embed_seconds,
            "config": self.config,
        }


def fit_elsewhere(factory: Callable[[], FaceMethod], fit_on: LFW, fits: SharedFits | None = None) -> Fitted:
    """A fresh method fitted on the View 1 training people of another data set (``fit_on``), for
    cross-data-set evaluation: fit on LFW, test on AT&T or a folder of one's own faces."""
    (people,) = fit_on.people_folds("view1-train")
    positions = fit_on.people_indices(people)
    return fit_method(factory, fit_on.load_images(factory().preprocess)[positions], fit_on.labels[positions], fits)


def evaluate_verification(factory: Callable[[], FaceMethod], lfw: LFW, protocol: str = "view2",
                          *, progress: bool = True, folds: list[int] | None = None,
                          threshold: str = "train", fit_on: LFW | None = None,
                          fits: SharedFits | None = None) -> VerificationResult:
    """LFW verification: fit per split on its training people, threshold on its training pairs
    (accuracy-maximising), accuracy on its test pairs. ``folds`` limits View 2 to some folds
    (0-based) for quick looks; reported numbers use all ten. ``fit_on``: fit once on that data
    set's View 1 training people instead (:func:`fit_elsewhere`); thresholds and tests stay ``lfw``'s.
    ``fits``: the comparison's :class:`~facelab.shared_fits.SharedFits` (None: every split fits anew)."""
    splits = verification_splits(lfw, protocol, threshold)
    if folds is not None:
        if max(folds) >= len(splits) or min(folds) < 0:
            raise ValueError(f"folds: {lfw.layout.describe()} has folds 1 to {len(splits)}; "
                             f"got {', '.join(str(k + 1) for k in folds)}")
        splits = [splits[k] for k in folds]
    images = lfw.load_images(factory().preprocess)
    labels = lfw.labels
    accs, thresholds, scores, same = [], [], [], []
    outside = None if fit_on is None else fit_elsewhere(factory, fit_on, fits)
    fit_s = 0.0 if outside is None else outside.fit_seconds
    embed_s = 0.0
    config, reused = {}, False
    for split in tqdm(splits, desc=f"{protocol} folds", disable=not progress or len(splits) == 1, leave=False):
        fitted = outside
        if fitted is None:
            fitted = fit_method(factory, images[split.train_images], labels[split.train_images], fits)
            fit_s += fitted.fit_seconds
        config = fitted.method.config
        reused = reused or fitted.method.fit_reused_
        sim = get_similarity(fitted.method.similarity)
        embedder = _Embedder(fitted.method, images)
        tp, xp = split.threshold_pairs, split.test_pairs
        E = embedder(np.concatenate([tp.index_a, tp.index_b, xp.index_a, xp.index_b]))
        pair_scores = lambda ps: sim.paired(E(ps.index_a), E(ps.index_b))
        t, _ = vm.best_threshold(pair_scores(tp), tp.same)
        s = pair_scores(xp)
        accs.append(vm.accuracy_at(s, xp.same, t))
        thresholds.append(t)
        scores.append(s)
        same.append(xp.same)
        embed_s += embedder.seconds
    if reused:  # fit_seconds then excludes a network trained for an earlier method of the comparison
        config = {**config, "fit_reused": True}
    return VerificationResult(protocol, accs, thresholds, np.concatenate(scores), np.concatenate(same),
                              fit_s, embed_s, config, last_fitted=fitted.method)


def verify_each(factories: dict[str, Callable[[], FaceMethod]], lfw: LFW, protocol: str = "view2", *,
                fits: SharedFits | None = None, **settings) -> Iterator[tuple[str, VerificationResult, float]]:
    """:func:`evaluate_verification` of each ``name → factory`` on the same splits, in order, yielding
    ``(name, result, wall seconds)`` as each finishes (so a caller can save it before the next starts).
    The one loop over methods: ``facelab compare``, the notebooks' side-by-side runs and the GAN
    disentangler's sub-vectors all go through it. A network that several methods name trains once per
    split: all are fitted through ``fits`` (a new :class:`~facelab.shared_fits.SharedFits` when None).
    ``settings`` go to :func:`evaluate_verification`."""
    fits = SharedFits() if fits is None else fits
    for name, factory in factories.items():
        t0 = time.perf_counter()
        result = evaluate_verification(factory, lfw, protocol, fits=fits, **settings)
        yield name, result, time.perf_counter() - t0


def _class_means(emb: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = np.unique(labels)
    return np.stack([emb[labels == i].mean(0) for i in ids]), ids


def nearest_class_mean(enrol_emb: np.ndarray, enrol_labels: np.ndarray, probe_emb: np.ndarray, similarity) -> np.ndarray:
    """The identity whose mean enrolment embedding is most similar to each probe (``similarity``: a
    :class:`~facelab.metrics.Similarity`): the gallery rule of every few-shot score."""
    means, ids = _class_means(enrol_emb, enrol_labels)
    return ids[np.argmax(similarity.pairwise(probe_emb, means), 1)]


#: a few-shot rule: ``rule(episode_number, episode, n)`` → the predicted identity of each probe of the
#: episode (its ``(label, enrolment, probes)`` triples' probes, in order), enrolled from ``enrolment[:n]``
EpisodeRule = Callable[[int, list, int], np.ndarray]


def score_episodes(few: FewShotSplit, labels: np.ndarray, rules: dict[str, EpisodeRule], *,
                   progress: bool = False) -> dict:
    """The one few-shot loop: every rule on the same episodes and enrolment sizes N. Returns
    ``{rule: {str(N): [accuracy of each episode]}}``."""
    out = {name: {str(n): [] for n in few.shots} for name in rules}
    bar = tqdm(total=len(few.episodes) * len(few.shots), desc="few-shot episodes", disable=not progress, leave=False)
    for r, episode in enumerate(few.episodes):
        truth = labels[np.concatenate([p for _, _, p in episode])]
        for n in few.shots:
            for name, rule in rules.items():
                out[name][str(n)].append(float(np.mean(rule(r, episode, n) == truth)))
            bar.update(1)
    bar.close()
    return out


def evaluate_identification(factory: Callable[[], FaceMethod], lfw: LFW, *, seed: int = 0, min_images: int = 4,
                            n_gallery: int = 2, shots=(1, 2, 5, 10), repeats: int = 5, max_rank: int = 20,
                            far_points=(0.01, 0.1), fit_on: LFW | None = None, fits: SharedFits | None = None) -> dict:
    """Closed-set CMC (rank-1/5), open-set DIR@FAR and few-shot accuracy vs N, all on View 1's
    test people with one model fitted on View 1's training people.

    Gallery identities are scored by the similarity between the probe and each identity's mean
    enrolment embedding (nearest class mean), the same rule for every method. ``fit_on``: the model
    is fitted on that data set's View 1 training people instead (:func:`fit_elsewhere`). ``fits``: as
    for :func:`evaluate_verification`.
    """
    split = identification_split(lfw, min_images=min_images, n_gallery=n_gallery, seed=seed)
    few = few_shot_split(lfw, shots=shots, repeats=repeats, seed=seed)
    images, labels = lfw.load_images(factory().preprocess), lfw.labels
    fitted = (fit_method(factory, images[split.train_images], labels[split.train_images], fits) if fit_on is None
              else fit_elsewhere(factory, fit_on, fits))
    sim = get_similarity(fitted.method.similarity)
    few_positions = np.concatenate([np.concatenate([e, p]) for ep in few.episodes for _, e, p in ep])
    E = _Embedder(fitted.method, images)(
        np.concatenate([split.gallery, split.known_probes, split.unknown_probes, few_positions]))

    means, ids = _class_means(E(split.gallery), labels[split.gallery])
    known_scores = sim.pairwise(E(split.known_probes), means)
    curve = idm.cmc(known_scores, labels[split.known_probes], ids, max_rank=min(max_rank, len(ids)))
    unknown_scores = sim.pairwise(E(split.unknown_probes), means)
    dir_far = {str(f): idm.dir_at_far(known_scores, labels[split.known_probes], ids, unknown_scores, f)[0]
               for f in far_points}

    def ncm(_, episode, n):
        enrol = np.concatenate([e[:n] for _, e, _ in episode])
        return nearest_class_mean(E(enrol), labels[enrol], E(np.concatenate([p for _, _, p in episode])), sim)

    few_acc = {n: float(np.mean(a)) for n, a in score_episodes(few, labels, {"ncm": ncm})["ncm"].items()}
    return {
        "closed_set": {"identities": int(len(ids)), "probes": int(len(split.known_probes)),
                       "n_gallery": n_gallery, "rank1": float(curve[0]), "rank5": float(curve[min(4, len(curve) - 1)]),
                       "cmc": [float(c) for c in curve]},
        "open_set": {"unknown_probes": int(len(split.unknown_probes)), "dir_at_far": dir_far},
        "few_shot": {"identities": len(few.episodes[0]), "repeats": len(few.episodes), "accuracy": few_acc},
        "fit_seconds": fitted.fit_seconds,
    }
