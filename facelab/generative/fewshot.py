"""Generative few-shot recognition with the grouped VAE (Tan, Pal & Courville, §2.1).

An identity is enrolled by inferring w from its N images (w = the mean of q(w | x_1:N)); a probe
x is scored against every enrolled identity by its marginal likelihood

    log p(x | w) ≈ log (1/K) Σ_k p(x | w, z_k) p(z_k | w) / q(z_k | x, w),   z_k ~ q(z | x, w)   (eqs. 6–7)

computed in log space (log-sum-exp of the log-weights), and classified by the normalised

    p̃(w_c | x) = p(x | w_c) / Σ_c' p(x | w_c')                                                  (eq. 8)

The importance sampler only needs four things of a model — ``features(x)``, ``q_z(h, w)``,
``p_z(w)`` (each a (mean, std) pair of diagonal Gaussians) and ``log_px(x, w, z)`` — so the
tests check it on a linear-Gaussian model whose log p(x | w) is known in closed form.

The accuracy-vs-N experiment on View 1 is the evaluation room's
(``python -m facelab.evaluation.vae_few_shot --help``).
"""
from __future__ import annotations

import numpy as np

LOG_2PI = float(np.log(2 * np.pi))


def log_mean_exp(log_w: np.ndarray, axis: int = -1) -> np.ndarray:
    """log (1/K) Σ_k exp(a_k), stably: max + log mean exp(a − max)."""
    log_w = np.asarray(log_w, dtype=np.float64)
    top = np.max(log_w, axis=axis, keepdims=True)
    out = top + np.log(np.mean(np.exp(log_w - top), axis=axis, keepdims=True))
    return np.squeeze(out, axis=axis)


def _normal_logpdf(z, mu, sd):
    """Σ over the last axis of log N(z; μ, σ²), float64."""
    return np.sum(-0.5 * ((z - mu) / sd) ** 2 - np.log(sd) - 0.5 * LOG_2PI, axis=-1)


def to_numpy(t) -> np.ndarray:
    """A backend tensor (or an array) as a NumPy array; NumPy input passes through, and Keras stays unimported."""
    if isinstance(t, np.ndarray):
        return t
    from keras import ops

    return np.asarray(ops.convert_to_numpy(t))


def importance_log_px(model, x, w, *, k: int = 32, seed: int = 0, features=None, max_batch: int = 2048,
                      return_log_weights: bool = False):
    """Eqs. (6)–(7): importance-sampled log p(x_m | w_m) for M pairs, shape ``(M,)`` (float64).

    x: ``(M, H, W, C)`` floats (model scale); w: ``(M, w_dim)``. ``features``: f(x) if already
    computed (it does not depend on w). The K proposals are z_k = μ_q + σ_q ε_k with ε drawn from
    ``seed``: the same ε for every call with the same seed and shape, so two candidate identities
    are compared on common random numbers. ``max_batch`` bounds images decoded at once.
    With ``return_log_weights`` also returns the ``(M, K)`` log-weights log p(x|w,z) + log p(z|w) − log q(z|x,w).
    """
    if k < 1:
        raise ValueError(f"k (importance samples) must be ≥ 1, got {k}")
    w = np.asarray(w, dtype=np.float32)
    m = len(w)
    if len(x) != m:
        raise ValueError(f"x has {len(x)} images but w has {m} rows; one w per image is needed")
    h = model.features(x) if features is None else features
    mu_q, sd_q = (to_numpy(a).astype(np.float64) for a in model.q_z(h, w))
    mu_p, sd_p = (to_numpy(a).astype(np.float64) for a in model.p_z(w))
    eps = np.random.default_rng(seed).standard_normal((m, k, mu_q.shape[-1]))
    z = mu_q[:, None] + sd_q[:, None] * eps  # (M, K, z_dim)
    log_prior = _normal_logpdf(z, mu_p[:, None], sd_p[:, None])  # (M, K)
    log_q = _normal_logpdf(z, mu_q[:, None], sd_q[:, None])
    log_lik = np.empty((m, k))
    rows = max(1, max_batch // k)
    x = np.asarray(x)
    for s in range(0, m, rows):
        sl = slice(s, min(m, s + rows))
        n = sl.stop - sl.start
        xs = np.repeat(x[sl], k, axis=0)
        ws = np.repeat(w[sl], k, axis=0)
        zs = z[sl].reshape(n * k, -1).astype(np.float32)
        log_lik[sl] = to_numpy(model.log_px(xs, ws, zs)).astype(np.float64).reshape(n, k)
    log_w = log_lik + log_prior - log_q
    est = log_mean_exp(log_w, axis=1)
    return (est, log_w) if return_log_weights else est


def log_px_matrix(model, x, w_candidates, *, k: int = 32, seed: int = 0, max_batch: int = 2048) -> np.ndarray:
    """log p(x_p | w_c) for every probe p and candidate identity c: ``(P, C)``."""
    feats = model.features(x)
    w_candidates = np.asarray(w_candidates, dtype=np.float32)
    cols = [importance_log_px(model, x, np.repeat(wc[None], len(x), 0), k=k, seed=seed, features=feats,
                              max_batch=max_batch) for wc in w_candidates]
    return np.stack(cols, axis=1)


def identity_posterior(log_px: np.ndarray) -> np.ndarray:
    """Eq. (8): p̃(w_c | x) = p(x | w_c) / Σ_c' p(x | w_c') per row, from log p(x | w) ``(P, C)``."""
    log_px = np.asarray(log_px, dtype=np.float64)
    return np.exp(log_px - (log_mean_exp(log_px, axis=1) + np.log(log_px.shape[1]))[:, None])
