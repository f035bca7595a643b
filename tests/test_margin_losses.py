"""Margin-based softmax (ArcFace, CosFace, SphereFace) against a brute-force NumPy reference
(``tests/margin_numpy.py``): values and gradients, at the edges (θ near 0 and π, one identity in
the batch, the ArcFace switch at θ + m = π), under mixed precision and under JAX."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from deep_helpers import jax_process_env
from margin_numpy import margin_loss, numeric_gradient

SETTINGS = [("arcface", 30.0, 0.5), ("arcface", 16.0, 0.3), ("cosface", 30.0, 0.35), ("sphereface", 8.0, 2.0),
            ("sphereface", 4.0, 4.0)]


def _cosines(rng, n=12, c=7):
    """Cosines of random unit features with random unit identity directions, so every θ occurs."""
    f = rng.normal(size=(n, 16))
    w = rng.normal(size=(c, 16))
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    return (f @ w.T).astype(np.float32), rng.integers(0, c, n)


def _ours(cos, labels, kind, s, m):
    import tensorflow as tf

    from facelab.losses.margin import MarginSoftmaxLoss

    x = tf.Variable(np.asarray(cos, np.float32))
    with tf.GradientTape() as tape:
        loss = MarginSoftmaxLoss(kind, s, m)(labels, x)
    return float(loss), tape.gradient(loss, x).numpy()


@pytest.mark.parametrize("kind, s, m", SETTINGS)
def test_margin_loss_and_gradient_match_the_numpy_reference(kind, s, m):
    cos, labels = _cosines(np.random.default_rng(0))
    loss, grad = _ours(cos, labels, kind, s, m)
    assert loss == pytest.approx(margin_loss(cos, labels, kind, s, m), rel=1e-4)
    assert np.allclose(grad, numeric_gradient(cos, labels, kind, s, m), rtol=2e-3, atol=2e-4)


@pytest.mark.parametrize("kind, s, m", SETTINGS)
def test_margin_loss_is_finite_where_the_angle_is_0_or_pi(kind, s, m):
    """cos θ = ±1 (a face on its identity's direction, or opposite): sin θ and arccos have infinite
    slopes there; the loss and its gradient stay finite and equal the reference's."""
    cos = np.array([[1.0, 0.2, -0.3], [-1.0, 0.5, 0.1], [1 - 1e-7, -1 + 1e-7, 0.0]], np.float32)
    labels = np.array([0, 0, 1])
    loss, grad = _ours(cos, labels, kind, s, m)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert loss == pytest.approx(margin_loss(cos, labels, kind, s, m), rel=1e-3)


def test_arcface_continues_as_a_line_past_pi_minus_m():
    """Past θ + m > π, cos(θ + m) would rise again and reward a worse angle: the target logit keeps
    falling as θ grows (as the cosine falls), on both sides of the switch at θ = π − m, where it
    steps down from cos π = −1 to −cos m − m sin m."""
    from facelab.losses.margin import target_logit

    m = 0.5
    theta = np.linspace(0.0, np.pi, 2001)
    psi = np.asarray(target_logit(np.cos(theta).astype(np.float32), "arcface", m))
    assert np.all(np.diff(psi) <= 1e-6)
    before, after = psi[theta < np.pi - m - 1e-3][-1], psi[theta > np.pi - m + 1e-3][0]
    assert before == pytest.approx(-1.0, abs=1e-2) and after == pytest.approx(-np.cos(m) - m * np.sin(m), abs=1e-2)
    plain = np.cos(theta + m)  # what the formula alone would give: it rises again past π − m
    assert np.any(np.diff(plain[theta > np.pi - m]) > 0)


def test_one_identity_in_the_batch_and_a_single_class():
    cos = np.array([[0.9, 0.1], [0.2, -0.4], [0.5, 0.5]], np.float32)
    labels = np.array([0, 0, 0])
    for kind, s, m in SETTINGS:
        loss, grad = _ours(cos, labels, kind, s, m)
        assert loss == pytest.approx(margin_loss(cos, labels, kind, s, m), rel=1e-4)
    one = np.array([[0.7], [0.3]], np.float32)  # one class: the softmax is certain, the loss 0
    loss, grad = _ours(one, np.array([0, 0]), "arcface", 30.0, 0.5)
    assert loss == pytest.approx(0.0, abs=1e-6) and np.allclose(grad, 0.0, atol=1e-6)


def test_margin_loss_under_mixed_precision_is_computed_in_float32():
    """float16 cosines (a mixed-precision head) give the float32 loss of the same values."""
    import tensorflow as tf

    from facelab.losses.margin import MarginSoftmaxLoss

    cos, labels = _cosines(np.random.default_rng(1))
    half = tf.constant(cos.astype(np.float16))
    loss = MarginSoftmaxLoss("arcface", 30.0, 0.5)(labels, half)
    assert loss.dtype == tf.float32
    assert float(loss) == pytest.approx(margin_loss(cos.astype(np.float16), labels, "arcface", 30.0, 0.5), rel=1e-4)


def test_the_margin_makes_the_loss_larger_than_the_plain_normalised_softmax():
    """m = 0 is the normalised softmax (NormFace); any margin asks more of the true identity."""
    cos, labels = _cosines(np.random.default_rng(2))
    plain = _ours(cos, labels, "arcface", 30.0, 0.0)[0]
    assert _ours(cos, labels, "cosface", 30.0, 0.0)[0] == pytest.approx(plain, rel=1e-5)
    assert _ours(cos, labels, "arcface", 30.0, 0.5)[0] > plain and _ours(cos, labels, "cosface", 30.0, 0.35)[0] > plain


@pytest.mark.parametrize("kind, s, m, message", [
    ("arcface", 30.0, 28.6, "radians, not degrees"), ("cosface", 30.0, 1.5, r"\[0, 1\)"),
    ("sphereface", 30.0, 1.5, "integer"), ("arcface", 0.0, 0.5, "scale"), ("normface", 30.0, 0.5, "one of")])
def test_wrong_margin_settings_are_errors_that_say_why(kind, s, m, message):
    from facelab.losses.margin import MarginSoftmaxLoss

    with pytest.raises(ValueError, match=message):
        MarginSoftmaxLoss(kind, s, m)


def test_cosine_classifier_gives_cosines_to_unit_identity_directions():
    import keras

    from facelab.nets.heads import CosineClassifier

    rng = np.random.default_rng(3)
    f = rng.normal(size=(5, 8)).astype(np.float32) * 7
    layer = CosineClassifier(4)
    cos = np.asarray(layer(f))
    w = layer.identity_centres
    assert np.allclose(np.linalg.norm(w, axis=1), 1.0, atol=1e-6)
    expected = (f / np.linalg.norm(f, axis=1, keepdims=True)) @ w.T
    assert np.allclose(cos, expected, atol=1e-5) and np.all(np.abs(cos) <= 1 + 1e-6)
    again = CosineClassifier.from_config(layer.get_config())
    assert again.n_classes == 4 and isinstance(again, keras.layers.Layer)


def test_margin_loss_under_jax_matches_the_reference():
    """The same loss and gradient under Keras on JAX (the GPU machine's backend), in a fresh process."""
    cos, labels = _cosines(np.random.default_rng(4), n=6, c=5)
    script = f"""
import json, numpy as np, jax
from facelab.losses.margin import MarginSoftmaxLoss
cos = np.array({cos.tolist()}, np.float32); labels = np.array({labels.tolist()})
out = {{}}
for kind, s, m in {[list(x) for x in SETTINGS]}:
    f = lambda c: MarginSoftmaxLoss(kind, s, m)(labels, c)
    out[f"{{kind}}-{{s}}-{{m}}"] = [float(f(cos)), np.asarray(jax.grad(f)(cos)).tolist()]
print(json.dumps(out))
"""
    run = subprocess.run([sys.executable, "-c", script], env=jax_process_env(), capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    for kind, s, m in SETTINGS:
        loss, grad = got[f"{kind}-{s}-{m}"]
        assert loss == pytest.approx(margin_loss(cos, labels, kind, s, m), rel=1e-4)
        assert np.allclose(grad, numeric_gradient(cos, labels, kind, s, m), rtol=2e-3, atol=2e-4)
