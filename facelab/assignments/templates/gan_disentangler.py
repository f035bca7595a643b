"""facelab assignment, unit 6 — disentangling identity from attributes with a cycle loss.

The GAN disentangler splits a face code z into an identity part and an attribute sub-vector S.
To make S mean "attributes" (pose, light, expression) and nothing else, attributes are swapped
between faces of a batch, the swapped codes are decoded to images and encoded again: the
re-encoded attributes must be the ones that were swapped in (cycle consistency).

Implement the functions below between the ``### YOUR CODE START ###`` and
``### YOUR CODE END ###`` markers (NumPy only). Then:

    facelab assignment check gan-disentangler --file gan_disentangler.py
    facelab assignment run gan-disentangler --file gan_disentangler.py --quick
"""
import numpy as np


def swap_attributes(z, attr_idx, perm):
    """Give face i the attributes of face perm[i], keeping its own identity part.

    z: float (n, d) codes; attr_idx: int array of the attribute dimensions S; perm: int (n,), a
    permutation of the batch. Returns z' (n, d) with z'[i, S] = z[perm[i], S] and
    z'[i, j] = z[i, j] for j not in S. Do not modify z in place.
    """
    ### YOUR CODE START ###
    raise NotImplementedError
    ### YOUR CODE END ###


def attribute_cycle_loss(z, attr_idx, perm, encode, decode, norm="l1"):
    """Attribute cycle-consistency loss.

        z' = swap_attributes(z, S, perm);   ẑ = encode(decode(z'))
        L  = mean over the batch and over S of |ẑ[:, S] − z'[:, S]|      (norm = "l1")
        L  = mean over the batch and over S of (ẑ[:, S] − z'[:, S])²     (norm = "l2")

    encode: (n, D) images → (n, d) codes and decode: (n, d) → (n, D) are given callables.
    Returns a float; 0.0 when S is empty.
    """
    ### YOUR CODE START ###
    raise NotImplementedError
    ### YOUR CODE END ###
