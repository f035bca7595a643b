"""Unit 5 assignment — the grouped VAE's Gaussian pieces: reparameterisation and KL(q ‖ p)."""
from __future__ import annotations

import numpy as np

from . import reference as ref
from .grading import Assignment, Checks, call, expect_close

checks = Checks()


def _gauss(seed: int, n: int = 6, d: int = 5):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (n, d)), rng.normal(0, 1, (n, d)), rng.normal(0, 1, (n, d)), rng.normal(0, 0.8, (n, d))


@checks.add("reparameterize", 2, "seeded μ, log σ², ε")
def _(student):
    mu, lv, eps, _ = _gauss(0)
    expect_close(call(student, "reparameterize", mu, lv, eps), ref.reparameterize(mu, lv, eps), "z", mistakes={
        "values match μ + exp(log σ²)·ε, i.e. the VARIANCE used as the scale: σ = exp(½ log σ²)": mu + np.exp(lv) * eps,
        "values match μ + log σ²·ε: the encoder outputs the LOG-variance, σ = exp(½ log σ²)": mu + lv * eps})


@checks.add("reparameterize", 1, "ε = 0 returns μ")
def _(student):
    mu, lv, _, _ = _gauss(1)
    expect_close(call(student, "reparameterize", mu, lv, np.zeros_like(mu)), mu, "z at ε = 0")


def _kl_mistakes(mq, lq, mp, lp):
    kl = ref.kl_diag_gaussians(mq, lq, mp, lp)
    d = mq.shape[-1]
    return {
        "KL has the wrong sign: KL(q ‖ p) ≥ 0": -kl,
        "you computed KL(p ‖ q): the arguments are reversed (q is the encoder's posterior, p the prior)":
            ref.kl_diag_gaussians(mp, lp, mq, lq),
        "the factor ½ is missing": 2 * kl,
        "you averaged over the latent dimensions: SUM over dimensions (one KL per row)": kl / d,
        "values match the KL to a STANDARD normal: this KL is between two diagonal Gaussians, use μ_p and σ²_p":
            ref.kl_diag_gaussians(mq, lq, np.zeros_like(mp), np.zeros_like(lp)),
        "values treat log σ² as log σ (σ² = exp(2·logvar)): the inputs are LOG-VARIANCES":
            ref.kl_diag_gaussians(mq, 2 * lq, mp, 2 * lp),
    }


def _grade_kl(student, mq, lq, mp, lp, what):
    got = call(student, "kl_diag_gaussians", mq, lq, mp, lp)
    expect_close(got, ref.kl_diag_gaussians(mq, lq, mp, lp), what, rtol=1e-6, atol=1e-9,
                 mistakes=_kl_mistakes(mq, lq, mp, lp),
                 hint="½ Σ_j [log σ²_p − log σ²_q + (σ²_q + (μ_q − μ_p)²)/σ²_p − 1], one value per row: shape (n,)")


@checks.add("kl_diag_gaussians", 4, "seeded q and p (both non-standard)")
def _(student):
    mq, lq, mp, lp = _gauss(2)
    _grade_kl(student, mq, lq, mp, lp, "KL(q ‖ p)")


@checks.add("kl_diag_gaussians", 2, "p = N(0, I): the VAE's KL term")
def _(student):
    mq, lq, _, _ = _gauss(3)
    _grade_kl(student, mq, lq, np.zeros_like(mq), np.zeros_like(lq), "KL(q ‖ N(0, I))")


@checks.add("kl_diag_gaussians", 1, "q = p gives exactly 0")
def _(student):
    mq, lq, _, _ = _gauss(4)
    _grade_kl(student, mq, lq, mq.copy(), lq.copy(), "KL(q ‖ q)")


@checks.add("kl_diag_gaussians", 1, "very confident and very broad posteriors (log σ² = ±15)")
def _(student):
    rng = np.random.default_rng(5)
    mq, mp = rng.normal(0, 1, (2, 3)), rng.normal(0, 1, (2, 3))
    lq = np.array([[-15.0, 0.0, 15.0], [15.0, -15.0, 2.0]])
    _grade_kl(student, mq, lq, mp, np.zeros_like(lq) + 1.0, "KL with extreme variances")


# -- run on real data ---------------------------------------------------------------------------
def _ppca(X: np.ndarray, k: int):
    """Maximum-likelihood probabilistic PCA (Tipping & Bishop 1999) with R = I, whose posterior
    q(z|x) = N(M⁻¹Wᵀ(x − μ), σ²M⁻¹) is a DIAGONAL Gaussian since M = WᵀW + σ²I = diag(λ)."""
    mean = X.mean(0)
    _, s, vt = np.linalg.svd(X - mean, full_matrices=False)
    lam = s ** 2 / (len(X) - 1)
    sigma2 = lam[k:].sum() / (X.shape[1] - k)
    W = vt[:k].T * np.sqrt(np.maximum(lam[:k] - sigma2, 1e-12))  # (d, k)

    def posterior(x):
        mu_z = (x - mean) @ W / lam[:k]
        return mu_z, np.broadcast_to(np.log(sigma2 / lam[:k]), mu_z.shape).copy()

    return posterior, (lambda z: z @ W.T + mean), sigma2


def run(student, *, lfw, quick: bool = False, seed: int = 0, progress: bool = False) -> dict:
    """The student's Gaussian pieces inside a linear-Gaussian VAE of real faces: probabilistic
    PCA fitted on pairsDevTrain faces gives every face a diagonal posterior q(z|x). Reports the
    KL(q ‖ N(0, I)) term and the reconstruction error from reparameterised samples (the two
    halves of the ELBO), and verifies pairsDevTest with score = −symmetric KL between the two
    faces' posteriors (threshold on pairsDevTrain)."""
    from ..data.preprocess import PreprocessConfig
    from .realdata import flat, verify, view1

    config = PreprocessConfig(size=32)
    train, test = view1(lfw, config, per_class=150 if quick else None, seed=seed)
    k = 16 if quick else 32
    posterior, decode, sigma2 = _ppca(flat(train.images) / 255.0, k)
    def elbo_terms(kl_fn, rep_fn, data):
        x = flat(data.images) / 255.0
        mu, lv = posterior(x)
        kl = np.asarray(kl_fn(mu, lv, np.zeros_like(mu), np.zeros_like(lv)), dtype=float)
        z = np.asarray(rep_fn(mu, lv, np.random.default_rng(seed).standard_normal(mu.shape)), dtype=float)
        return {"kl_to_prior_mean": float(kl.mean()), "reconstruction_mse": float(np.mean((decode(z) - x) ** 2))}

    def accuracy(kl_fn):
        def scores(data):
            mu, lv = posterior(flat(data.images) / 255.0)
            a, b = (mu[data.a], lv[data.a]), (mu[data.b], lv[data.b])
            return -(np.asarray(kl_fn(*a, *b), float) + np.asarray(kl_fn(*b, *a), float))
        return verify(scores, train, test)["test_accuracy"]

    return {"model": f"probabilistic PCA, k={k}, fitted on the pairsDevTrain faces (pixels / 255)",
            "noise_variance": float(sigma2), "preprocess": config.to_dict(),
            "train_pairs": len(train), "test_pairs": len(test),
            "test_images": {"student": elbo_terms(student.kl_diag_gaussians, student.reparameterize, test),
                            "reference": elbo_terms(ref.kl_diag_gaussians, ref.reparameterize, test)},
            "verification_neg_symmetric_kl": {"student_test_accuracy": accuracy(student.kl_diag_gaussians),
                                              "reference_test_accuracy": accuracy(ref.kl_diag_gaussians)}}


ASSIGNMENT = Assignment("grouped-vae", 5, "Reparameterisation and the KL(q ‖ p) between diagonal Gaussians",
                        ("reparameterize", "kl_diag_gaussians"), checks, run)
