"""Typical mistake: z = μ + exp(log σ²)·ε (the variance used as the standard deviation)."""
from grouped_vae import *  # noqa: F401,F403


def reparameterize(mu, logvar, eps):
    return mu + np.exp(logvar) * eps  # WRONG: σ = exp(½ log σ²)
