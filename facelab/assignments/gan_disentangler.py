"""Unit 6 assignment — the GAN disentangler's attribute cycle-consistency loss."""
from __future__ import annotations

import numpy as np

from . import reference as ref
from .grading import Assignment, Checks, Fail, call, expect_close

checks = Checks()


def _codes(seed: int, n: int = 6, d: int = 7):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1, (n, d))
    perm = rng.permutation(n)
    while n > 2 and (perm == np.arange(n)).any() or np.array_equal(np.argsort(perm), perm):
        perm = rng.permutation(n)  # no fixed point, not its own inverse: every mistake shows
    return z, perm


def _nets(seed: int, d: int = 7, D: int = 10):
    """A toy generator G(z) = tanh(zA) and encoder E(x) = x·pinv(A): E∘G is close to, not equal
    to, the identity, so the cycle loss is small but not zero."""
    A = np.random.default_rng(seed).normal(0, 0.5, (d, D))
    B = np.linalg.pinv(A)
    return (lambda x: np.asarray(x) @ B), (lambda z: np.tanh(np.asarray(z) @ A))


def _swap_mistakes(z, S, perm):
    inverse = np.argsort(perm)
    rest = np.setdiff1d(np.arange(z.shape[1]), S)
    return {
        "you moved row i's attributes TO row perm[i]: z'[i, S] must come FROM z[perm[i], S] (z[perm])":
            ref.swap_attributes(z, S, inverse),
        "you permuted the whole code: only the attribute sub-vector S moves, the identity part stays":
            z[perm],
        "you swapped the identity part: the attribute columns S move, the other columns stay":
            ref.swap_attributes(z, rest, perm),
    }


def _grade_swap(student, z, S, perm, what):
    got = call(student, "swap_attributes", z, S, perm)
    expect_close(got, ref.swap_attributes(z, S, perm), what, mistakes=_swap_mistakes(z, S, perm),
                 hint="z'[i, S] = z[perm[i], S]; z'[i, other] = z[i, other]")


@checks.add("swap_attributes", 2, "seeded codes, attributes = the last 3 dimensions")
def _(student):
    z, perm = _codes(0)
    _grade_swap(student, z, np.array([4, 5, 6]), perm, "swapped codes")


@checks.add("swap_attributes", 1, "non-contiguous attribute indices [0, 3]")
def _(student):
    z, perm = _codes(1)
    _grade_swap(student, z, np.array([0, 3]), perm, "swapped codes")


@checks.add("swap_attributes", 1, "leaves the input z unchanged")
def _(student):
    z, perm = _codes(2)
    fn = getattr(student, "swap_attributes", None)
    if fn is None:
        raise Fail("your file has no function `swap_attributes`")
    original = z.copy()
    try:
        fn(z, np.array([1, 2]), perm)
    except NotImplementedError:
        raise Fail("`swap_attributes` is not implemented yet (it still raises NotImplementedError)") from None
    except Exception as exc:
        raise Fail(f"`swap_attributes` raised {type(exc).__name__}: {exc}") from None
    if not np.array_equal(z, original):
        raise Fail("`swap_attributes` modified its input z in place: work on a copy (z.copy()) — the "
                   "original codes are still needed for the identity part and the other losses")


def _cycle(z, S, perm, encode, decode, norm, target="swapped", compare="attributes", reduce="mean", swap="ok"):
    """Variants of the cycle loss, for recognising mistakes."""
    zs = {"ok": ref.swap_attributes(z, S, perm), "none": z, "inverse": ref.swap_attributes(z, S, np.argsort(perm))}[swap]
    zc = encode(decode(zs))
    goal = zs if target == "swapped" else z
    cols = S if compare == "attributes" else np.arange(z.shape[1])
    if len(cols) == 0:
        return 0.0
    diff = zc[:, cols] - goal[:, cols]
    err = np.abs(diff) if norm == "l1" else diff ** 2
    return float(err.mean() if reduce == "mean" else err.sum())


def _grade_cycle(student, z, S, perm, norm, what, seed=0):
    encode, decode = _nets(seed, d=z.shape[1])
    got = call(student, "attribute_cycle_loss", z, S, perm, encode, decode, norm)
    if np.size(got) != 1:
        raise Fail(f"{what}: return one number, got shape {np.shape(got)}")
    other = "l2" if norm == "l1" else "l1"
    mistakes = {
        "you compared the re-encoded attributes with the ORIGINAL ones z[:, S]: compare with the swapped-in "
        "ones z'[:, S] = z[perm, S]": _cycle(z, S, perm, encode, decode, norm, target="original"),
        "you compared the whole code: the loss is on the attribute sub-vector S only":
            _cycle(z, S, perm, encode, decode, norm, compare="all"),
        "you summed the differences: take the MEAN over the batch and the attribute dimensions":
            _cycle(z, S, perm, encode, decode, norm, reduce="sum"),
        "your loss matches the cycle WITHOUT the swap: permute the attribute sub-vector before decoding":
            _cycle(z, S, perm, encode, decode, norm, swap="none"),
        "you permuted in the wrong direction: z'[i, S] = z[perm[i], S]":
            _cycle(z, S, perm, encode, decode, norm, swap="inverse"),
        f"you used the {other.upper()} difference: norm={norm!r} was asked for":
            _cycle(z, S, perm, encode, decode, other),
    }
    if norm == "l2":
        mistakes["you took the square root (RMSE): 'l2' is the mean of SQUARED differences"] = \
            np.sqrt(_cycle(z, S, perm, encode, decode, "l2"))
    expect_close(got, ref.attribute_cycle_loss(z, S, perm, encode, decode, norm), what, mistakes=mistakes,
                 hint="z' = swap_attributes(z, S, perm); mean over (batch, S) of |E(G(z'))[:, S] − z'[:, S]| (l1) or its square (l2)")


@checks.add("attribute_cycle_loss", 4, "seeded codes, L1")
def _(student):
    z, perm = _codes(3)
    _grade_cycle(student, z, np.array([4, 5, 6]), perm, "l1", "cycle loss (L1)")


@checks.add("attribute_cycle_loss", 2, "seeded codes, L2")
def _(student):
    z, perm = _codes(4)
    _grade_cycle(student, z, np.array([1, 5]), perm, "l2", "cycle loss (L2)", seed=1)


@checks.add("attribute_cycle_loss", 1, "identity permutation and a batch of one")
def _(student):
    z, _ = _codes(5)
    _grade_cycle(student, z, np.array([2, 3]), np.arange(len(z)), "l1", "cycle loss with perm = identity")
    _grade_cycle(student, z[:1], np.array([2, 3]), np.array([0]), "l2", "cycle loss for a batch of one")


@checks.add("attribute_cycle_loss", 1, "no attribute dimensions: the loss is 0.0")
def _(student):
    z, perm = _codes(6)
    _grade_cycle(student, z, np.array([], dtype=int), perm, "l1", "cycle loss with an empty attribute set")


# -- run on real data ---------------------------------------------------------------------------
def run(student, *, lfw, quick: bool = False, seed: int = 0, progress: bool = False) -> dict:
    """The student's cycle loss with a real (linear) face encoder/decoder: probabilistic PCA of
    pairsDevTrain faces; G(z) decodes to pixels clipped to [0, 1], E(x) is the posterior mean.
    The 'attribute' sub-vector is a block of leading components; attributes are swapped across a
    seeded permutation of real test faces. A linear E∘G would shrink codes by λ−σ²/λ only; the
    clipping makes it non-linear, so the loss measures how well E recovers swapped attributes."""
    from ..data.preprocess import PreprocessConfig
    from .grouped_vae import _ppca
    from .realdata import flat, view1

    config = PreprocessConfig(size=32)
    train, test = view1(lfw, config, per_class=150 if quick else None, seed=seed)
    k = 16 if quick else 32
    posterior, decode_lin, _ = _ppca(flat(train.images) / 255.0, k)
    encode = lambda x: posterior(np.asarray(x))[0]
    decode = lambda z: np.clip(decode_lin(np.asarray(z)), 0.0, 1.0)
    z = encode(flat(test.images) / 255.0)
    perm = np.random.default_rng(seed).permutation(len(z))
    out = {}
    for name, S in {"components_1-3": np.arange(0, 3), "components_4-8": np.arange(3, 8)}.items():
        swapped = np.asarray(student.swap_attributes(z, S, perm), dtype=float)
        out[name] = {
            norm: {"student": float(student.attribute_cycle_loss(z, S, perm, encode, decode, norm)),
                   "reference": ref.attribute_cycle_loss(z, S, perm, encode, decode, norm)}
            for norm in ("l1", "l2")}
        out[name]["swap_matches_reference"] = bool(np.allclose(swapped, ref.swap_attributes(z, S, perm)))
    return {"model": f"probabilistic PCA (k={k}) of pairsDevTrain faces; decoder output clipped to [0, 1]",
            "preprocess": config.to_dict(), "faces": int(len(z)), "cycle_loss": out}


ASSIGNMENT = Assignment("gan-disentangler", 6, "Attribute cycle-consistency: swap, decode, re-encode, compare",
                        ("swap_attributes", "attribute_cycle_loss"), checks, run)
