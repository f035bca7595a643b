"""``facelab cluster``: who is in a folder of photos, without names.

Average-linkage agglomerative clustering joins two groups of faces while their mean similarity
is above the score that a chosen fraction of LFW stranger pairs reach: the same calibration as a
gallery's, with galleries of one person and one photo (so one comparison). The number of clusters
is the estimated number of people. When the folder holds one subfolder per person, purity, NMI
and ARI (:mod:`facelab.metrics.clustering`) say how well that went.

The linkage is SciPy's (the one scikit-learn's ``AgglomerativeClustering`` runs, cut at the same
distance), called on the condensed distances directly: no second square matrix and no index arrays,
so all 13,233 LFW faces cluster in a fraction of the memory and time (``tests/test_wild.py`` checks
that the clusters are scikit-learn's).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..data.lfw import LFW
from ..evaluation.gallery import Gallery
from ..metrics.clustering import clustering_scores
from . import model as wild_model
from .calibrate import Calibration, calibrate
from .photos import Face, Summary, faces_in_photos, photos_to_cluster, stack

STAGES = ("detect+crop", "fit", "calibrate", "embed", "cluster")  # the wall-clock seconds a run records


@dataclass
class Clusters:
    faces: list[Face]
    labels: np.ndarray  # cluster of each face, numbered by size (0 = the largest)
    calibration: Calibration
    threshold: float  # the similarity two groups must exceed on average to be joined
    truth: list[str] | None  # each face's folder, when the folder is one subfolder per person
    scores: dict | None  # purity, NMI, ARI against ``truth``
    summary: Summary
    photos_found: int = 0  # photo files in the folder, used or not
    method: dict = field(default_factory=dict)  # name, kind, preset, model, config (``wild.model.source``)
    seconds: dict = field(default_factory=dict)  # wall seconds of each of STAGES

    @property
    def people(self) -> int:
        return int(len(np.unique(self.labels)))

    @property
    def photos(self) -> int:
        """Photos that gave at least one clustered face."""
        return len({f.photo for f in self.faces})

    @property
    def sizes(self) -> np.ndarray:
        """Faces per cluster, largest first (cluster k has ``sizes[k]``)."""
        return np.bincount(self.labels)


def cluster(folder, *, method: str, preset: str | None = None, model=None, far: float = 0.01,
            data_dir=None) -> Clusters:
    if not 0.0 < far < 1.0:
        raise ValueError(f"--far is a fraction of stranger pairs, above 0 and below 1; got {far}")
    seconds = {}
    clock = time.perf_counter()

    def lap(stage):
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = round(now - clock, 3)
        clock = now

    summary = Summary()
    photos, truth = photos_to_cluster(folder)
    lfw = LFW(data_dir, progress=False)
    fitted = wild_model.build(method, lfw, preset=preset, model=model)
    lap("fit")
    # with one subfolder per person a photo's folder is its face's identity: it must show one face
    faces = faces_in_photos(photos, fitted.preprocess, summary, one=truth is not None)
    lap("detect+crop")
    if len(faces) < 2:
        raise ValueError(f"{folder}: clustering needs at least two faces, found {len(faces)}"
                         + (f" ({'; '.join(summary.lines)})" if summary.lines else ""))
    calibration = calibrate(fitted, lfw, people=1, photos=1, far=far)
    tau = calibration.threshold
    lap("calibrate")
    embeddings = np.asarray(fitted.embed(stack(faces)), dtype=np.float32)
    lap("embed")
    labels = _average_linkage(Gallery(embeddings, np.arange(len(faces)), fitted.similarity).scores(embeddings), tau)
    folder_of = dict(zip(photos, truth)) if truth is not None else None
    face_truth = [folder_of[f.photo] for f in faces] if folder_of else None
    scores = clustering_scores(face_truth, labels) if face_truth else None
    lap("cluster")
    return Clusters(faces, labels, calibration, tau, face_truth, scores, summary, photos_found=len(photos),
                    method=wild_model.source(fitted, model), seconds={s: seconds[s] for s in STAGES})


def _average_linkage(similarity: np.ndarray, tau: float) -> np.ndarray:
    """Clusters of a similarity matrix: groups are joined while their mean similarity exceeds ``tau``.

    The distances ``c − similarity`` (``c`` the largest similarity) are non-negative whatever the
    score, and average linkage is unchanged by the shift, so the distance threshold is ``c − tau``;
    merges at a distance below it are kept, as scikit-learn's ``distance_threshold`` keeps them.
    Only the condensed upper triangle of the symmetrised matrix is built, in its own precision.
    """
    from scipy.cluster.hierarchy import linkage

    s = np.asarray(similarity)
    if s.dtype not in (np.float32, np.float64):
        s = s.astype(np.float64)
    n = len(s)
    cond = np.empty(n * (n - 1) // 2, dtype=s.dtype)  # (s + sᵀ)/2 above the diagonal, row by row
    k = 0
    for i in range(n - 1):
        np.add(s[i, i + 1:], s[i + 1:, i], out=cond[k:k + n - 1 - i])
        k += n - 1 - i
    cond /= 2.0
    c = float(max(cond.max(initial=-np.inf), np.diagonal(s).max(initial=-np.inf)))
    if n < 2 or tau > c:  # no two faces alike enough: everyone alone
        raw = np.arange(n)
    else:
        np.subtract(s.dtype.type(c), cond, out=cond)
        tree = linkage(cond, method="average")  # rows sorted by merge distance
        del cond
        merged = int(np.count_nonzero(tree[:, 2] < max(c - tau, 1e-12)))
        # every face's top group after the first `merged` merges (merge r makes group n + r)
        top = np.arange(2 * n - 1)
        for r, (a, b) in zip(range(merged - 1, -1, -1), tree[:merged, :2][::-1].astype(np.int64)):
            top[a] = top[b] = top[n + r]
        raw = top[:n]
    # number the clusters by size, largest first, then by first face: stable output
    ids, first, sizes = np.unique(raw, return_index=True, return_counts=True)
    order = ids[np.lexsort((first, -sizes))]
    return np.argsort(order)[np.searchsorted(ids, raw)]
