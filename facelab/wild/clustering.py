"""``facelab cluster``: who is in a folder of photos, without names.

Average-linkage agglomerative clustering (scikit-learn) joins two groups of faces while their
mean similarity is above the score that a chosen fraction of LFW stranger pairs reach: the same
calibration as a gallery's, with galleries of one person and one photo (so one comparison). The
number of clusters is the estimated number of people. When the folder holds one subfolder per
person, purity, NMI and ARI (:mod:`facelab.metrics.clustering`) say how well that went.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.lfw import LFW
from ..evaluation.gallery import Gallery
from ..metrics.clustering import clustering_scores
from . import model as wild_model
from .calibrate import Calibration, calibrate
from .photos import Face, Summary, faces_in_photos, photos_to_cluster, stack


@dataclass
class Clusters:
    faces: list[Face]
    labels: np.ndarray  # cluster of each face, numbered by size (0 = the largest)
    calibration: Calibration
    threshold: float  # the similarity two groups must exceed on average to be joined
    truth: list[str] | None  # each face's folder, when the folder is one subfolder per person
    scores: dict | None  # purity, NMI, ARI against ``truth``
    summary: Summary

    @property
    def people(self) -> int:
        return int(len(np.unique(self.labels)))


def cluster(folder, *, method: str, preset: str | None = None, model=None, far: float = 0.01,
            data_dir=None) -> Clusters:
    if not 0.0 < far < 1.0:
        raise ValueError(f"--far is a fraction of stranger pairs, above 0 and below 1; got {far}")
    summary = Summary()
    photos, truth = photos_to_cluster(folder)
    lfw = LFW(data_dir, progress=False)
    fitted = wild_model.build(method, lfw, preset=preset, model=model)
    # with one subfolder per person a photo's folder is its face's identity: it must show one face
    faces = faces_in_photos(photos, fitted.preprocess, summary, one=truth is not None)
    if len(faces) < 2:
        raise ValueError(f"{folder}: clustering needs at least two faces, found {len(faces)}"
                         + (f" ({'; '.join(summary.lines)})" if summary.lines else ""))
    calibration = calibrate(fitted, lfw, people=1, photos=1, far=far)
    tau = calibration.threshold
    embeddings = np.asarray(fitted.embed(stack(faces)), dtype=np.float32)
    labels = _average_linkage(Gallery(embeddings, np.arange(len(faces)), fitted.similarity).scores(embeddings), tau)
    folder_of = dict(zip(photos, truth)) if truth is not None else None
    face_truth = [folder_of[f.photo] for f in faces] if folder_of else None
    scores = clustering_scores(face_truth, labels) if face_truth else None
    return Clusters(faces, labels, calibration, tau, face_truth, scores, summary)


def _average_linkage(similarity: np.ndarray, tau: float) -> np.ndarray:
    """Clusters of a similarity matrix: groups are joined while their mean similarity exceeds ``tau``.

    The distances ``c − similarity`` (``c`` the largest similarity) are non-negative whatever the
    score, and average linkage is unchanged by the shift, so the distance threshold is ``c − tau``.
    """
    from sklearn.cluster import AgglomerativeClustering

    s = (similarity + similarity.T) / 2.0
    c = float(s.max())
    if tau > c:  # no two faces alike enough: everyone alone
        raw = np.arange(len(s))
    else:
        d = c - s
        np.fill_diagonal(d, 0.0)
        raw = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                      distance_threshold=max(c - tau, 1e-12)).fit_predict(d)
    # number the clusters by size, largest first, then by first face: stable output
    ids, first, sizes = np.unique(raw, return_index=True, return_counts=True)
    order = ids[np.lexsort((first, -sizes))]
    return np.argsort(order)[np.searchsorted(ids, raw)]
