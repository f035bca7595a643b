"""Reference solution of the `gan-disentangler` assignment."""
import numpy as np


def swap_attributes(z, attr_idx, perm):
    ### YOUR CODE START ###
    z_new = np.array(z, dtype=float, copy=True)
    z_new[:, attr_idx] = np.asarray(z)[np.asarray(perm)][:, attr_idx]
    return z_new
    ### YOUR CODE END ###


def attribute_cycle_loss(z, attr_idx, perm, encode, decode, norm="l1"):
    ### YOUR CODE START ###
    attr_idx = np.asarray(attr_idx, dtype=int)
    if len(attr_idx) == 0:
        return 0.0
    z_swapped = swap_attributes(z, attr_idx, perm)
    z_again = np.asarray(encode(decode(z_swapped)))
    diff = z_again[:, attr_idx] - z_swapped[:, attr_idx]
    return float(np.mean(np.abs(diff)) if norm == "l1" else np.mean(diff ** 2))
    ### YOUR CODE END ###
