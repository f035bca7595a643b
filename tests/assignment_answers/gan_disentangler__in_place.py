"""Typical mistake: swaps in place (the caller's codes change) and in the wrong direction."""
from gan_disentangler import *  # noqa: F401,F403


def swap_attributes(z, attr_idx, perm):
    attrs = z[:, attr_idx].copy()
    z[np.asarray(perm)[:, None], attr_idx] = attrs  # WRONG: z'[perm[i]] = z[i], and z is modified
    return z
