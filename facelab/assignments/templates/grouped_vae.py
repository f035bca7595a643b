"""facelab assignment, unit 5 — the Gaussian pieces of the grouped (identity) VAE.

Implement the functions below between the ``### YOUR CODE START ###`` and
``### YOUR CODE END ###`` markers (NumPy only). Then:

    facelab assignment check grouped-vae --file grouped_vae.py
    facelab assignment run grouped-vae --file grouped_vae.py --quick

The encoder outputs, per latent dimension, a mean μ and a LOG-VARIANCE log σ².
"""
import numpy as np


def reparameterize(mu, logvar, eps):
    """The reparameterisation trick (Kingma & Welling 2014, §2.4): z = μ + σ ⊙ ε, σ = exp(½ log σ²).

    mu, logvar, eps: float (n, d); eps ~ N(0, I) is given (so the result is deterministic).
    Returns float (n, d).
    """
    ### YOUR CODE START ###
    raise NotImplementedError
    ### YOUR CODE END ###


def kl_diag_gaussians(mu_q, logvar_q, mu_p, logvar_p):
    """KL(q ‖ p) between diagonal Gaussians q = N(μ_q, diag σ²_q) and p = N(μ_p, diag σ²_p):

        KL = ½ Σ_j [ log σ²_p,j − log σ²_q,j + (σ²_q,j + (μ_q,j − μ_p,j)²) / σ²_p,j − 1 ]

    All inputs float (n, d) (log-variances, not variances). Returns float (n,): one KL per row,
    summed over the d dimensions. KL ≥ 0, and KL(q ‖ q) = 0. With p = N(0, I) this is the
    familiar VAE term −½ Σ (1 + log σ² − μ² − σ²).
    """
    ### YOUR CODE START ###
    raise NotImplementedError
    ### YOUR CODE END ###
