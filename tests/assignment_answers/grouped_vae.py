"""Reference solution of the `grouped-vae` assignment."""
import numpy as np


def reparameterize(mu, logvar, eps):
    ### YOUR CODE START ###
    sigma = np.exp(0.5 * np.asarray(logvar, dtype=float))
    return np.asarray(mu, dtype=float) + sigma * np.asarray(eps, dtype=float)
    ### YOUR CODE END ###


def kl_diag_gaussians(mu_q, logvar_q, mu_p, logvar_p):
    ### YOUR CODE START ###
    var_ratio = np.exp(np.asarray(logvar_q, float) - np.asarray(logvar_p, float))
    mean_term = (np.asarray(mu_q, float) - np.asarray(mu_p, float)) ** 2 * np.exp(-np.asarray(logvar_p, float))
    return 0.5 * np.sum(var_ratio + mean_term - 1.0 - np.log(var_ratio), axis=-1)
    ### YOUR CODE END ###
