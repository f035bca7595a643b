"""Brute-force NumPy margin softmax (float64): each row's angle θ = arccos(cos θ_y) is moved by the
paper's formula as written, no shared code with ``facelab.losses.margin``."""
from __future__ import annotations

import math

import numpy as np


def target(cos_y: float, kind: str, m: float) -> float:
    theta = math.acos(min(1.0, max(-1.0, cos_y)))
    if kind == "cosface":  # Wang et al. 2018, eq. 4
        return cos_y - m
    if kind == "arcface":  # Deng et al. 2019, eq. 3; past π the line insightface continues with
        return math.cos(theta + m) if theta + m <= math.pi else cos_y - m * math.sin(m)
    if kind == "sphereface":  # Liu et al. 2017, eq. 7
        k = math.floor(m * theta / math.pi)
        return (-1) ** k * math.cos(m * theta) - 2 * k
    raise ValueError(kind)


def margin_loss(cos: np.ndarray, labels: np.ndarray, kind: str, s: float, m: float) -> float:
    """Mean over rows of −log softmax(s · [ψ(θ_y), cos θ_j≠y])_y."""
    losses = []
    for row, y in zip(np.asarray(cos, np.float64), labels):
        logits = s * row.copy()
        logits[y] = s * target(row[y], kind, m)
        top = logits.max()
        losses.append(top + math.log(np.exp(logits - top).sum()) - logits[y])
    return float(np.mean(losses))


def numeric_gradient(cos: np.ndarray, labels, kind, s, m, h: float = 1e-6) -> np.ndarray:
    """Central differences of :func:`margin_loss` with respect to every cosine."""
    cos = np.asarray(cos, np.float64)
    grad = np.zeros_like(cos)
    for idx in np.ndindex(cos.shape):
        up, down = cos.copy(), cos.copy()
        up[idx] += h
        down[idx] -= h
        grad[idx] = (margin_loss(up, labels, kind, s, m) - margin_loss(down, labels, kind, s, m)) / (2 * h)
    return grad
