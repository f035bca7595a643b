"""Mining statistics of a batch, a TensorBoard logger, a Keras callback, and a collapse warning.

The three regions of negatives for a positive pair (a, p) and margin m (Schroff et al. 2015, §3.2):

- **hard**: ``d(a,n) <= d(a,p)`` — the negative is closer than the positive;
- **semi-hard**: ``d(a,p) < d(a,n) < d(a,p) + m`` — correct order, inside the margin;
- **easy**: ``d(a,n) >= d(a,p) + m`` — zero hinge loss, no gradient.

Their fractions over every genuine triplet of a batch, the mean positive and negative
distances and the spread of the embeddings explain why one mining strategy learns and another
stalls. The commonest failure of triplet training — every embedding converging to one point,
where the hinge loss sits at exactly ``margin`` — is caught by :func:`is_collapsed` and raised as
a :class:`CollapseWarning`.
"""
from __future__ import annotations

import importlib.util
import warnings

import keras
import numpy as np
from keras import ops

from facelab.losses.distances import DistanceLike, get_distance
from facelab.miners.base import NO_POSITIVE_HELP

STAT_NAMES = ("frac_easy", "frac_semihard", "frac_hard", "frac_active", "mean_pos_dist", "mean_neg_dist",
              "spread", "mean_norm", "num_triplets")


class CollapseWarning(UserWarning):
    """All embeddings have (nearly) converged to one point."""


def embedding_spread(embeddings) -> float:
    """Root-mean-square distance of the embeddings to their centroid."""
    e = np.asarray(embeddings, dtype=np.float64)
    return float(np.sqrt(np.mean(np.sum((e - e.mean(0)) ** 2, axis=1))))


def is_collapsed(embeddings, rtol: float = 1e-2, atol: float = 1e-6) -> bool:
    """True when the spread is tiny next to the embeddings' size: ``spread <= rtol·rms_norm + atol``
    (the atol catches a collapse onto the origin)."""
    e = np.asarray(embeddings, dtype=np.float64)
    rms_norm = float(np.sqrt(np.mean(np.sum(e ** 2, axis=1))))
    return embedding_spread(e) <= rtol * rms_norm + atol


def triplet_statistics(embeddings, labels, margin: float = 0.2, distance: DistanceLike = "L2") -> dict:
    """Region fractions over all genuine triplets of the batch, mean positive/negative pair
    distance, spread and mean norm. O(B² log B): per anchor, the negatives' distances are sorted
    once and each positive is located in them."""
    e = np.asarray(ops.convert_to_numpy(embeddings) if not isinstance(embeddings, np.ndarray) else embeddings)
    labels = np.asarray(ops.convert_to_numpy(labels) if not isinstance(labels, np.ndarray) else labels).reshape(-1)
    if e.ndim != 2 or len(labels) != len(e):
        raise ValueError(f"embeddings must be (batch, dim) with one label each; got {e.shape} and {labels.shape}")
    if not margin > 0:
        raise ValueError(f"margin must be > 0; got {margin}")
    d = np.asarray(ops.convert_to_numpy(get_distance(distance)(e.astype(np.float32))), dtype=np.float64)
    same = labels[:, None] == labels[None, :]
    positive = same & ~np.eye(len(labels), dtype=bool)
    if not positive.any():
        raise ValueError(f"triplet_statistics: {NO_POSITIVE_HELP}")
    hard = semi = total = 0
    for a in range(len(labels)):
        neg = np.sort(d[a, ~same[a]])
        d_ap = d[a, positive[a]]
        n_hard = np.searchsorted(neg, d_ap, side="right")  # d_an <= d_ap
        n_active = np.searchsorted(neg, d_ap + margin, side="left")  # d_an < d_ap + m
        hard += n_hard.sum()
        semi += (n_active - n_hard).sum()
        total += len(d_ap) * len(neg)
    total_f = max(total, 1)
    return {
        "frac_easy": (total - hard - semi) / total_f if total else 0.0,
        "frac_semihard": semi / total_f,
        "frac_hard": hard / total_f,
        "frac_active": (hard + semi) / total_f,
        "mean_pos_dist": float(d[positive].mean()),
        "mean_neg_dist": float(d[~same].mean()) if (~same).any() else float("nan"),
        "spread": embedding_spread(e),
        "mean_norm": float(np.linalg.norm(e, axis=1).mean()),
        "num_triplets": int(total),
    }


def _write_scalar(tag: str, value: float, step: int) -> None:
    """A TensorBoard scalar. ``tf.summary.scalar`` needs the tensorboard package; without it the
    same event (a float32 tensor tagged with the "scalars" plugin) is written with TF's core op."""
    import tensorflow as tf

    try:
        tf.summary.scalar(tag, value, step=step)
        return
    except Exception as err:  # noqa: BLE001 - only TF's TBNotInstalledError is expected
        if type(err).__name__ != "TBNotInstalledError":
            raise
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
        data_class=summary_pb2.DATA_CLASS_SCALAR)
    tf.summary.write(tag, tf.constant(value, tf.float32), step=step, metadata=metadata)


def history_table(history: list[dict]) -> dict[str, np.ndarray]:
    """``[{step, frac_hard, ...}, ...]`` → ``{"step": array, "frac_hard": array, ...}``, ready to plot."""
    keys = list(history[0]) if history else []
    return {k: np.asarray([row[k] for row in history]) for k in keys}


class TripletStatsLogger:
    """Computes :func:`triplet_statistics` for a batch, keeps them in :attr:`history` (a list of
    dicts, plottable), writes them as TensorBoard scalars ``<prefix>/<name>`` under ``log_dir``
    (if given and TensorFlow is there: ``tf.summary`` needs it), and warns (:class:`CollapseWarning`)
    when the embeddings have collapsed. Through :class:`TripletStatsCallback` the epoch-end numbers
    also reach the Keras logs, hence a run's ``history.json``, on every backend.

    Usable from any training loop: ``logger.update(step, embeddings, labels)``.
    """

    def __init__(self, margin: float = 0.2, distance: DistanceLike = "L2", log_dir: str | None = None,
                 prefix: str = "triplet", collapse_rtol: float = 1e-2, warn_collapse: bool = True):
        self.margin, self.distance, self.log_dir, self.prefix = margin, get_distance(distance), log_dir, prefix
        self.collapse_rtol, self.warn_collapse = collapse_rtol, warn_collapse
        if log_dir is not None and importlib.util.find_spec("tensorflow") is None:  # e.g. a JAX-only GPU machine
            warnings.warn(f"no TensorFlow, so no TensorBoard scalars under {log_dir}: the statistics stay in "
                          ".history (and, from TripletStatsCallback, in the run's history.json as triplet_<name>)",
                          stacklevel=2)
            self.log_dir = None
        self.history: list[dict] = []
        self._writer = None

    def update(self, step: int, embeddings, labels) -> dict:
        e = np.asarray(ops.convert_to_numpy(embeddings), dtype=np.float64)
        stats = triplet_statistics(e, labels, self.margin, self.distance)
        stats["collapsed"] = bool(is_collapsed(e, rtol=self.collapse_rtol))
        self.history.append({"step": int(step), **stats})
        if self.log_dir is not None:
            self._write(step, stats)
        if stats["collapsed"] and self.warn_collapse:
            warnings.warn(
                f"step {step}: the embeddings have collapsed to one point (spread {stats['spread']:.3g}, mean norm "
                f"{stats['mean_norm']:.3g}); the triplet loss is stuck at its value for identical embeddings and gives "
                "no useful gradient. Centre the features before normalising them (backbone_kwargs feature_bn=True), "
                "or use semi-hard instead of hardest negatives.", CollapseWarning, stacklevel=2)
        return stats

    def _write(self, step: int, stats: dict) -> None:
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.log_dir))
        with self._writer.as_default():
            for name in STAT_NAMES + ("collapsed",):
                _write_scalar(f"{self.prefix}/{name}", float(stats[name]), int(step))
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class TripletStatsCallback(keras.callbacks.Callback):
    """Keras callback: after every epoch (and every ``every_n_batches`` if set) embeds a fixed
    probe batch ``(x, y)`` — a P×K batch of real faces — and logs :func:`triplet_statistics`.

    The numbers go to TensorBoard (``log_dir``), into ``logs`` (so ``History`` and a Keras
    ``TensorBoard`` callback placed after this one record them as ``triplet_<name>``), and to
    :attr:`history`. ``embed`` maps the model and x to embeddings (default: ``model(x)``).
    """

    def __init__(self, x, y, margin: float = 0.2, distance: DistanceLike = "L2", log_dir: str | None = None,
                 every_n_batches: int | None = None, embed=None, collapse_rtol: float = 1e-2,
                 warn_collapse: bool = True, batch_size: int = 256):
        super().__init__()
        self.x, self.y, self.every_n_batches, self.embed, self.batch_size = x, np.asarray(y), every_n_batches, embed, batch_size
        self.logger = TripletStatsLogger(margin, distance, log_dir, "triplet", collapse_rtol, warn_collapse)
        self._step = 0

    @property
    def history(self) -> list[dict]:
        return self.logger.history

    def _embeddings(self) -> np.ndarray:
        if self.embed is not None:
            return np.asarray(self.embed(self.model, self.x))
        parts = [ops.convert_to_numpy(self.model(self.x[i:i + self.batch_size], training=False))
                 for i in range(0, len(self.x), self.batch_size)]
        return np.concatenate(parts)

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self.every_n_batches and self._step % self.every_n_batches == 0:
            self.logger.update(self._step, self._embeddings(), self.y)

    def on_epoch_end(self, epoch, logs=None):
        stats = self.logger.update(self._step, self._embeddings(), self.y)
        if logs is not None:
            logs.update({f"triplet_{k}": float(stats[k]) for k in STAT_NAMES + ("collapsed",)})

    def on_train_end(self, logs=None):
        self.logger.close()
