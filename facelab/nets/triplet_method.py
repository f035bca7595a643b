"""Triplet networks as facelab methods: one backbone, one loss, the mining strategy as the argument.

| method | batches | triplets |
| --- | --- | --- |
| ``triplet-random`` | 3T images of random triplets | all of them (offline) |
| ``triplet-offline-hard`` | 3T images of hard triplets re-mined each epoch | hardest p and n per anchor in a pool (offline) |
| ``triplet-batch-all`` | P×K | every valid triplet, mean over those with loss > 0 (Hermans et al. 2017) |
| ``triplet-batch-hard`` | P×K | hardest positive and negative per anchor (Hermans et al. 2017, Eq. 5) |
| ``triplet-semi-hard`` | P×K | FaceNet semi-hard negative per positive pair (Schroff et al. 2015) |
| ``triplet-distance-weighted`` | P×K | negatives drawn ∝ 1/q(d) (Wu et al. 2017) |
| ``triplet-easy-positive`` | P×K | nearest positive, nearest negative (Xuan et al. 2020) |

Loss: FaceNet's hinge ``max(d(a,p) - d(a,n) + margin, 0)`` on the L2-normalised embedding
(margin 0.2, FaceNet §3), or the soft margin (``soft=True``). Mining statistics of a fixed P×K
probe batch are logged to TensorBoard under ``<run_dir>/<name>/data-<fingerprint>/logs`` each epoch, with a collapse warning.
"""
from __future__ import annotations

import warnings

import keras
import numpy as np
from keras import ops

from ..data import pipeline
from ..data.samplers import PKSampler
from ..losses.reducers import AvgNonZeroReducer, MeanReducer, per_replica
from ..losses.triplet import MinedTripletLoss, TripletMarginLoss
from ..miners.base import IndexTriplets, as_embeddings
from ..miners.offline import OfflineHardMiner, RandomTripletMiner, TripletEpochSampler, check_pool_k
from ..miners.online import BatchAllMiner, BatchHardMiner, DistanceWeightedMiner, EasyPositiveMiner, SemiHardMiner
from ..miners.stats import TripletStatsCallback
from .base import DeepMethod, with_joint_bayesian
from .training.devices import check_batch, mines_per_replica


class MinesPerReplicaWarning(UserWarning):
    """In-batch mining sees one device's slice of the batch (several TensorFlow replicas)."""


ONLINE = {"batch-all": BatchAllMiner, "batch-hard": BatchHardMiner, "semi-hard": SemiHardMiner,
          "distance-weighted": DistanceWeightedMiner, "easy-positive": EasyPositiveMiner}
OFFLINE = ("random", "offline-hard")


class OrderedTripletLoss(keras.losses.Loss):
    """Keras loss for batches of a :class:`~facelab.miners.offline.TripletEpochSampler`: rows
    ``t, T+t, 2T+t`` are one triplet; ``y_true`` is not needed (the sampler chose the triplets)."""

    def __init__(self, loss: TripletMarginLoss, name: str = "ordered_triplet_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.triplet_loss = loss

    def call(self, y_true, y_pred):
        emb = as_embeddings(y_pred)
        n = ops.shape(emb)[0] // 3
        t = ops.arange(n, dtype="int32")
        triplets = IndexTriplets(t, t + n, t + 2 * n, ops.ones((n,), "float32"))
        losses, weight = self.triplet_loss.losses(self.triplet_loss.distance(emb), triplets)
        return per_replica(self.triplet_loss.reducer(losses, weight))


class TripletMethod(DeepMethod):
    """A backbone trained with the triplet loss under one mining ``strategy``.

    Args (besides :class:`~facelab.nets.base.DeepMethod`'s): ``strategy`` (see the table above),
    ``margin`` (0.2), ``soft`` (soft margin), ``p``/``k`` (P×K batch: identities × images; the
    offline strategies use ``p·k // 3`` triplets per batch), ``mining_pool`` (images embedded per
    epoch by offline-hard mining), ``pool_k`` (draw that pool as people × ``pool_k`` images, not
    images at random: :class:`~facelab.miners.offline.TripletEpochSampler`), ``log_stats`` (mining statistics of a probe batch each epoch).
    """

    name = "triplet"
    strategy = "semi-hard"
    quick_steps = 6

    def __init__(self, *args, strategy: str | None = None, margin: float = 0.2, soft: bool = False, p: int = 16,
                 k: int = 4, mining_pool: int = 2048, pool_k: int | None = None, log_stats: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.strategy = strategy or type(self).strategy
        if self.strategy not in ONLINE and self.strategy not in OFFLINE:
            raise ValueError(f"strategy must be one of {sorted(ONLINE) + list(OFFLINE)}; got {self.strategy!r}")
        self.margin, self.soft, self.p, self.k = margin, soft, p, k
        if pool_k is not None:
            check_pool_k(pool_k, mining_pool)  # now, not after the data loads
        self.mining_pool, self.pool_k, self.log_stats = mining_pool, pool_k, log_stats
        reducer = AvgNonZeroReducer() if self.strategy == "batch-all" else MeanReducer()
        triplet_loss = TripletMarginLoss(margin, "L2", soft, reducer)
        if self.strategy in ONLINE:
            miner_cls = ONLINE[self.strategy]
            miner = miner_cls(seed=self.seed) if miner_cls is DistanceWeightedMiner else miner_cls()
            self.loss = MinedTripletLoss(miner, triplet_loss)
        else:
            self.loss = OrderedTripletLoss(triplet_loss)

    def method_params(self) -> dict:
        return {"strategy": self.strategy, "margin": self.margin, "soft": self.soft, "p": self.p, "k": self.k,
                **({"mining_pool": self.mining_pool} if self.strategy == "offline-hard" else {}),
                **({"pool_k": self.pool_k} if self.strategy == "offline-hard" and self.pool_k is not None else {})}

    def build_training_model(self, backbone, n_classes):
        return backbone  # the embedding itself is trained; the loss sees (labels, embeddings)

    def batch_shown(self) -> str:
        if self.strategy in ONLINE:
            return f"P×K = {self.p}×{self.k} images"
        return f"{self._triplets_per_batch()} triplets"

    def check_replicas(self, replicas: int) -> None:
        """Several devices: each gets whole people of a P×K batch; offline triplets (anchors, then
        positives, then negatives) are split only where the step sees the whole batch (JAX)."""
        if replicas == 1:
            return
        if self.strategy in ONLINE:
            check_batch(self.p, replicas, "p (people per P×K batch)")
            if mines_per_replica():
                warnings.warn(f"{self.name} on {replicas} TensorFlow devices mines each device's "
                              f"{self.p // replicas}×{self.k} slice of the {self.p}×{self.k} batch, not the whole "
                              "batch (under JAX the whole batch is mined)", MinesPerReplicaWarning, stacklevel=3)
        elif mines_per_replica():
            raise ValueError(f"{self.name}: a batch of offline triplets (anchors, then positives, then negatives) "
                             f"cannot be split over {replicas} TensorFlow replicas; train it on one device or "
                             "under JAX (KERAS_BACKEND=jax), whose step sees the whole batch")
        else:
            check_batch(3 * self._triplets_per_batch(), replicas, "3 × triplets per batch")

    def _triplets_per_batch(self) -> int:
        """Offline strategies: as many images per batch as a P×K batch has (three per triplet)."""
        return max(1, (self.p * self.k) // 3)

    def _pk(self, labels):
        """P×K batches; identities with 2..K-1 images are filled up by repeats (``short="replace"``)."""
        people = int((np.bincount(labels) >= 2).sum())
        p = min(self.p, people)
        if p < self.p and self.strategy in ONLINE:  # fewer people than p: the lower P must still split
            check_batch(p, getattr(self, "replicas_", 1), f"p (lowered to the {people} people with two or more faces)")
        return PKSampler(labels, p, self.k, short="replace", seed=self.seed)

    def make_sampler(self, images, labels, backbone):
        self._probe = None
        pk = self._pk(labels)
        if self.log_stats:
            idx = pk.epoch(10 ** 6)[0]  # a fixed P×K batch the training never draws first
            self._probe = (self._float(images[idx]), labels[idx])
        if self.strategy in ONLINE:
            return pk
        t = self._triplets_per_batch()
        steps = min(len(pk), self.quick_steps) if self.quick else len(pk)  # epochs stay aligned with fit's
        if self.strategy == "random":
            return TripletEpochSampler(labels, RandomTripletMiner(seed=self.seed), t, steps, seed=self.seed)

        def embed_fn(idx):
            return np.concatenate([np.asarray(ops.convert_to_numpy(backbone(self._float(images[idx[i:i + 256]]),
                                                                            training=False)))
                                   for i in range(0, len(idx), 256)])

        return TripletEpochSampler(labels, OfflineHardMiner("L2", "hard", seed=self.seed), t, steps,
                                   embed_fn=embed_fn, pool=self.mining_pool, pool_k=self.pool_k, seed=self.seed)

    def steps_per_epoch(self, sampler):
        return min(len(sampler), self.quick_steps) if self.quick else len(sampler)

    def make_dataset(self, images, labels, sampler, start_epoch, skip):
        return pipeline.pk_dataset(images, labels, sampler, epochs=self.train_epochs, start_epoch=start_epoch,
                                   skip=skip, augment=self.augment, shift=self.shift, seed=self.seed,
                                   max_steps=self.steps_per_epoch(sampler))

    def training_callbacks(self, sampler):
        out = []
        if isinstance(sampler, TripletEpochSampler) and sampler.needs_embeddings:
            class _Mine(keras.callbacks.Callback):
                def on_epoch_begin(self, epoch, logs=None):
                    sampler.prepare(epoch)

            out.append(_Mine())
        if self._probe is not None:
            log_dir = None if self.fit_dir_ is None else f"{self.fit_dir_}/logs/triplet"
            self.stats_callback_ = TripletStatsCallback(*self._probe, margin=self.margin, log_dir=log_dir)
            out.append(self.stats_callback_)
        return out


def _variant(strategy: str, cls_name: str):
    return type(cls_name, (TripletMethod,), {"name": f"triplet-{strategy}", "strategy": strategy,
                                             "__doc__": f"Triplet network, ``{strategy}`` mining (see module table)."})


TripletRandom = _variant("random", "TripletRandom")
TripletOfflineHard = _variant("offline-hard", "TripletOfflineHard")
TripletBatchAll = _variant("batch-all", "TripletBatchAll")
TripletBatchHard = _variant("batch-hard", "TripletBatchHard")
TripletSemiHard = _variant("semi-hard", "TripletSemiHard")
TripletDistanceWeighted = _variant("distance-weighted", "TripletDistanceWeighted")
TripletEasyPositive = _variant("easy-positive", "TripletEasyPositive")

# The semi-hard embedding scored by Joint Bayesian on the training people instead of cosine. 64 whitened
# dimensions of the 128: chosen on View 1 by AUC among 32 / 64 / 96 / 128
# (reports/cpu/triplet-semi-hard-v1-40ep-shift4/README.md).
triplet_semi_hard_jb = with_joint_bayesian(TripletSemiHard, "triplet-semi-hard+jb", pca_dim=64)
