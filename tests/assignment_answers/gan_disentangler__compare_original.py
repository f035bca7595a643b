"""Typical mistake: the re-encoded attributes are compared with the ORIGINAL attributes."""
from gan_disentangler import *  # noqa: F401,F403


def attribute_cycle_loss(z, attr_idx, perm, encode, decode, norm="l1"):
    attr_idx = np.asarray(attr_idx, dtype=int)
    if len(attr_idx) == 0:
        return 0.0
    z_again = np.asarray(encode(decode(swap_attributes(z, attr_idx, perm))))
    diff = z_again[:, attr_idx] - np.asarray(z)[:, attr_idx]  # WRONG: target is the swapped-in code
    return float(np.mean(np.abs(diff)) if norm == "l1" else np.mean(diff ** 2))
