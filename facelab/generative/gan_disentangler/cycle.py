"""The attribute swap and the cycle loss (Eq. 8–9), in ``keras.ops``: the training step uses the swap,
and the unit-6 assignment's reference solution (:mod:`facelab.assignments.reference`) both."""
from __future__ import annotations

import numpy as np
from keras import ops


def swap_attributes(z, attr_idx, perm):
    """``z'[i, S] = z[perm[i], S]``, ``z'[i, ¬S] = z[i, ¬S]`` with ``S = attr_idx`` (Eq. 8's swap).

    Works on NumPy arrays and tensors (``keras.ops``), keeps the dtype; ``attr_idx`` must be concrete.
    """
    z = ops.convert_to_tensor(z)
    mask = np.zeros(int(z.shape[-1]), dtype=bool)
    mask[np.asarray(attr_idx, dtype=int)] = True
    return ops.where(mask[None, :], ops.take(z, ops.convert_to_tensor(perm, "int32"), axis=0), z)


def cycle_codes(z, attr_idx, perm, encode, decode):
    """``(z', ẑ)``: the swapped codes and their re-encoding ``encode(decode(z'))`` (Eq. 8)."""
    swapped = swap_attributes(z, attr_idx, perm)
    return swapped, ops.convert_to_tensor(encode(decode(swapped)))


def attribute_cycle_loss(z, attr_idx, perm, encode, decode, norm: str = "l1"):
    """Eq. (8–9), Browatzki & Wallraven: mean over the batch and over ``S`` of
    ``|encode(decode(z'))_S − z'_S|`` (``"l1"``) or its square (``"l2"``); 0.0 for an empty ``S``."""
    if norm not in ("l1", "l2"):
        raise ValueError(f"norm must be 'l1' or 'l2', got {norm!r}")
    idx = np.asarray(attr_idx, dtype=int)
    if idx.size == 0:
        return 0.0
    swapped, cycled = cycle_codes(z, idx, perm, encode, decode)
    diff = ops.take(cycled, idx, axis=1) - ops.take(ops.cast(swapped, cycled.dtype), idx, axis=1)
    return ops.mean(ops.abs(diff) if norm == "l1" else ops.square(diff))
