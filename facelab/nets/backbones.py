"""Embedding networks: image → L2-normalised vector.

Two families, both built with ``build_backbone(name, input_shape, embedding_dim)``:

- ``"small"``: four conv–BN–ReLU blocks with max pooling and a dense layer, sized to train in
  seconds on a laptop CPU at 64×64×1 (a DeepID-sized network, Sun et al. 2014, Fig. 2).
- ``"resnet"``: a pre-activation-free ResNet-18-style stack of basic residual blocks (He et al.
  2016, Fig. 2 left, Table 1) for GPU work at 112×112 and more; depth and width configurable.

Every backbone ends in ``Dense(embedding_dim, name="features")`` → ``L2Normalize(name="embedding")``;
heads that need the un-normalised features (the DeepID softmax) take
``model.get_layer("features").output``. ``norm="fused"`` (the default) uses
:class:`~facelab.nets.layers.FusedBatchNormalization`: Keras' BatchNormalization variables and
results (max |Δ| 1.2e-7) with TensorFlow's fused kernels, which brought Keras 3 from 0.86× to
0.99× of tf_keras' training speed here (``benchmarks/bench_training.py``); ``"batch"`` is the
plain Keras layer. Built under several TensorFlow replicas (:mod:`facelab.nets.training.devices`),
either becomes a synchronised batch norm: statistics of the whole batch, as on one device.

``feature_bn=True`` puts a batch norm between ``features`` and the L2 normalisation (ArcFace's
BN after the embedding layer, Deng et al. 2019, §4.1). Without it a new network maps every face to
nearly one direction: the global average of ReLU maps is a positive vector that all faces share, so
random LFW faces start with a mean cosine far above zero (notebook 4, section 2, shows the batch's
distances both ways). Losses that average over many pairs pull the faces apart from there; the hardest-triplet
loss, which follows each anchor's single worst pair, tends to collapse instead. Centring each
feature over the batch starts the faces spread over the sphere (mean cosine near zero; tested).
"""
from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from .layers import FusedBatchNormalization, L2Normalize
from .training.devices import synchronized_batch_norm

NORMS = ("batch", "fused", "none")


def _norm(kind: str, name: str):
    if kind in ("batch", "fused") and synchronized_batch_norm():  # several TensorFlow replicas: one batch's statistics
        return FusedBatchNormalization(name=name, synchronized=True)
    if kind == "batch":
        return layers.BatchNormalization(name=name)
    if kind == "fused":
        return FusedBatchNormalization(name=name)
    if kind == "none":
        return layers.Identity(name=name)
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


def _check_shape(input_shape) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    return shape


def _head(x, embedding_dim: int, nonnegative: bool, feature_bn: bool, inputs, name: str) -> keras.Model:
    x = layers.Dense(embedding_dim, name="features")(x)
    if feature_bn:  # centre each feature over the batch (see above)
        x = _norm("batch", "features_bn")(x)
    if nonnegative:  # for chi-square comparisons (DeepFace, Taigman et al. 2014, Sec. 4.2)
        x = layers.ReLU(name="features_relu")(x)
    out = L2Normalize(name="embedding")(x)
    return keras.Model(inputs, out, name=name)


def small_cnn(input_shape=(64, 64, 1), embedding_dim: int = 128, *, width: int = 16, norm: str = "fused",
              dropout: float = 0.0, nonnegative: bool = False, feature_bn: bool = False) -> keras.Model:
    """conv(w)→pool→conv(2w)→pool→conv(4w)→pool→conv(4w)→global average → dense → L2.

    3×3 convolutions, each followed by BatchNorm and ReLU; ~0.1 M parameters at the default width 16.
    """
    shape = _check_shape(input_shape)
    inputs = keras.Input(shape, name="image")
    x = inputs
    for i, filters in enumerate((width, 2 * width, 4 * width, 4 * width)):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=norm == "none", name=f"conv{i + 1}")(x)
        x = _norm(norm, f"bn{i + 1}")(x)
        x = layers.ReLU(name=f"relu{i + 1}")(x)
        if i < 3:
            x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    return _head(x, embedding_dim, nonnegative, feature_bn, inputs, "small_cnn")


def basic_block(x, filters: int, stride: int, norm: str, name: str):
    """A ResNet basic block (He et al. 2016): two 3×3 convolutions (the first with ``stride``), each
    followed by the normalisation ``norm`` (one of ``NORMS``), added to the input (through a 1×1
    projection when the stride or the width changes), then ReLU. :func:`resnet` and the GAN
    disentangler's encoder are built from it."""
    shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    y = _norm(norm, f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = _norm(norm, f"{name}_bn2")(y)
    if stride != 1 or x.shape[-1] != filters:  # projection shortcut, He et al. option (B)
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_proj")(x)
        shortcut = _norm(norm, f"{name}_proj_bn")(shortcut)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([shortcut, y]))


def resnet(input_shape=(112, 112, 3), embedding_dim: int = 128, *, widths: Sequence[int] = (64, 128, 256, 512),
           blocks: Sequence[int] = (2, 2, 2, 2), norm: str = "fused", dropout: float = 0.0,
           nonnegative: bool = False, feature_bn: bool = False) -> keras.Model:
    """ResNet-18 layout by default (basic blocks 2-2-2-2, widths 64–512); a 3×3 stem without max
    pooling keeps resolution for small face crops."""
    shape = _check_shape(input_shape)
    if len(widths) != len(blocks):
        raise ValueError(f"widths {tuple(widths)} and blocks {tuple(blocks)} must have the same length")
    inputs = keras.Input(shape, name="image")
    x = layers.Conv2D(widths[0], 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = _norm(norm, "stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for s, (filters, n) in enumerate(zip(widths, blocks)):
        for b in range(n):
            x = basic_block(x, filters, 2 if (b == 0 and s > 0) else 1, norm, f"stage{s + 1}_block{b + 1}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    return _head(x, embedding_dim, nonnegative, feature_bn, inputs, "resnet")


BACKBONES = {"small": small_cnn, "resnet": resnet}


def build_backbone(name: str = "small", input_shape=(64, 64, 1), embedding_dim: int = 128, **kwargs) -> keras.Model:
    """A backbone by name (``"small"`` or ``"resnet"``); extra keyword arguments go to its builder."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    if not isinstance(embedding_dim, int) or embedding_dim < 1:
        raise ValueError(f"embedding_dim must be a positive integer, got {embedding_dim!r}")
    return BACKBONES[name](input_shape, embedding_dim, **kwargs)
