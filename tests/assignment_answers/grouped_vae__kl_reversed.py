"""Typical mistake: KL(p ‖ q) instead of KL(q ‖ p)."""
from grouped_vae import *  # noqa: F401,F403
import grouped_vae as _correct


def kl_diag_gaussians(mu_q, logvar_q, mu_p, logvar_p):
    return _correct.kl_diag_gaussians(mu_p, logvar_p, mu_q, logvar_q)  # WRONG: arguments swapped
