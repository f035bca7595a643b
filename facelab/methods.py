"""Registry: method name → factory. Implementations live in their rooms and are imported lazily,
so ``facelab compare --methods pixels`` never imports TensorFlow.

Register with :func:`register` (a ``"module:attribute"`` string keeps the import lazy).
"""
from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import json
import numbers
import types
import typing
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import presets
from .base import FaceMethod


@dataclass(frozen=True)
class MethodSpec:
    name: str
    target: str  # "package.module:factory"
    kind: str  # "classical" | "deep" | "generative"
    summary: str
    default: bool = False  # part of `facelab compare` with no --methods (minutes on a 2-core CPU)

    def factory(self) -> Callable[..., FaceMethod]:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


_REGISTRY: dict[str, MethodSpec] = {}


def register(name: str, target: str, kind: str, summary: str, default: bool = False) -> None:
    _REGISTRY[name] = MethodSpec(name, target, kind, summary, default)


def available(kind: str | None = None) -> list[str]:
    return [n for n, s in _REGISTRY.items() if kind is None or s.kind == kind]


def spec(name: str) -> MethodSpec:
    if name not in _REGISTRY:
        raise KeyError(f"unknown method {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


#: what facelab passes to every method itself (``--seed``, ``--quick``): never the user's mistake
FACELAB_ARGUMENTS = ("seed", "quick")


class UnknownParameterError(ValueError, TypeError):
    """A method was given a parameter it does not take. A ValueError like every other bad ``--param``
    (the command line prints it as an error, not a traceback), and a TypeError, which is what Python
    raises for an unexpected keyword argument."""


def unknown_parameters(method: str, unknown, accepted) -> UnknownParameterError:
    """The error for ``unknown`` keys: it names each one (with the closest accepted key when one is
    close, so ``epoch`` suggests ``epochs``) and lists what the method takes, so a typo is fixed
    without reading the source."""
    accepted = sorted(set(accepted) - set(FACELAB_ARGUMENTS))
    named = []
    for key in sorted(unknown):
        close = difflib.get_close_matches(key, accepted, n=1)
        named.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    what = "an unknown argument" if len(named) == 1 else "unknown arguments"
    return UnknownParameterError(f"method {method!r} got {what} {', '.join(named)}; it takes: {', '.join(accepted)}")


def declared_parameter_names(*sources) -> list[str]:
    """The keyword arguments that ``sources`` (functions, or classes along their ``__init__`` chain) declare."""
    return list(_declared_parameters(sources))


def _accepted_parameters(factory) -> set[str]:
    """The keyword arguments ``factory`` takes: those it declares and, when it passes ``**kwargs`` on
    (``eigenfaces(**kw)``, a class whose ``__init__`` takes ``*args, **kwargs``, ``deepid+jb``), those of
    the method it builds, or of the method that one wraps (read from a method built with defaults)."""
    accepted = set(_declared_parameters([factory]))
    try:
        passes_keywords_on = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        passes_keywords_on = False
    if passes_keywords_on:
        try:
            built = factory()
        except Exception:  # noqa: BLE001 — a factory that needs arguments: what it declares is all we know
            return accepted
        accepted |= set(_declared_parameters(_wrapped_method_types(built) or [type(built)]))
    return accepted


def parameter_defaults(name: str) -> dict:
    """The constructor defaults of method ``name`` (and of the method it wraps), by argument name."""
    factory = spec(name).factory()
    built = factory()
    declared = _declared_parameters([factory, type(built), *_wrapped_method_types(built)])
    return {k: default for k, (_, default) in declared.items() if default is not inspect.Parameter.empty}


def accepted_parameters(name: str) -> set[str]:
    """The keyword arguments method ``name`` takes (its ``--param`` keys, ``seed`` and ``quick``)."""
    return _accepted_parameters(spec(name).factory())


def _wrapped_method_types(method) -> list[type]:
    """The classes of the methods ``method`` holds (a ``+jb`` head wraps the network it scores)."""
    return [type(v) for v in getattr(method, "__dict__", {}).values() if isinstance(v, FaceMethod)]


def create(name: str, *, preset: str | None = None, **kwargs) -> FaceMethod:
    """A fresh, unfitted method (the evaluator calls this once per fold), built from its ``preset``
    (:mod:`facelab.presets`; default ``quick`` when ``quick=True``, else ``class``) with ``kwargs``
    overriding single values. The method remembers the preset as ``preset``.

    A parameter the method does not take (``--param epoch=80``) is an :class:`UnknownParameterError`
    naming it, suggesting the closest one and listing what the method takes. An argument of the wrong
    type for what the method declares (``--param epochs=abc`` arrives as the text ``"abc"``) is a
    ValueError naming it here, not a failure deep inside training. The method's own checks run first,
    so their messages win."""
    chosen = presets.resolve(name, preset, kwargs.get("quick", False))
    if chosen.params:
        _check_preset(name, chosen.name)
    if chosen.quick:
        kwargs["quick"] = True
    method = _create(name, **{**chosen.params, **kwargs})
    method.preset = chosen.name
    return method


@functools.lru_cache(maxsize=None)
def _check_preset(name: str, preset: str) -> None:
    """Build ``name`` from preset ``preset`` alone once, so that a wrong value in a preset file is
    reported as the preset's (file, table, key), not as the user's ``--param``."""
    chosen = presets.resolve(name, preset)
    try:
        _create(name, quick=chosen.quick, **chosen.params)
    except (ValueError, TypeError) as exc:
        raise presets.PresetError(f"{chosen.source}: {exc}") from None


def _create(name: str, **kwargs) -> FaceMethod:
    factory = spec(name).factory()
    try:
        method = factory(**kwargs)
    except UnknownParameterError:
        raise
    except TypeError as err:
        if "unexpected keyword argument" not in str(err):
            _check_argument_types(name, kwargs, _declared_parameters([factory]))  # a wrong type explains it
            raise
        accepted = _accepted_parameters(factory)
        unknown = [k for k in kwargs if k not in accepted and k not in FACELAB_ARGUMENTS]
        if not unknown:  # the error came from deeper inside: it is not about the user's parameters
            raise
        raise unknown_parameters(name, unknown, accepted) from None
    # a factory function passes **kwargs on (deepid+jb → DeepID): read what it built, and what that wraps
    _check_argument_types(name, kwargs, _declared_parameters([factory, type(method), *_wrapped_method_types(method)]))
    return method


_SIMPLE_TYPES = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
                 dict: "a JSON object", list: "a JSON list", tuple: "a JSON list", type(None): "null"}


def _declared_parameters(sources) -> dict[str, tuple[object, object]]:
    """Parameter name → (annotation or None, default) over the signatures of ``sources`` (functions, or classes
    whose ``__init__`` chain is read along the MRO, with the ``**kwargs`` a class lists in ``declared_settings()``)."""
    functions = []
    for source in sources:
        if isinstance(source, type):
            functions += [vars(c)["__init__"] for c in source.__mro__ if "__init__" in vars(c) and c is not object]
        else:
            functions.append(source)
    declared = {}
    for fn in functions:
        try:
            parameters = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            continue
        try:
            hints = typing.get_type_hints(fn)
        except (NameError, TypeError, AttributeError):  # an annotation that does not resolve: use defaults
            hints = {}
        for p in parameters:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == "self" or p.name in declared:
                continue
            declared[p.name] = (hints.get(p.name), p.default)
    settings = [s.declared_settings() for s in sources if isinstance(s, type) and hasattr(s, "declared_settings")]
    return declared | {k: v for more in settings for k, v in more.items() if k not in declared}  # the first wins


def _accepts(annotation, value) -> bool | None:
    """Whether ``value`` (from JSON) fits ``annotation``; None when the annotation is not a simple type."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        answers = [_accepts(a, value) for a in typing.get_args(annotation)]
        return True if True in answers else None if None in answers else False
    annotation = typing.get_origin(annotation) or annotation  # dict[str, int] → dict
    if annotation not in _SIMPLE_TYPES:
        return None
    flag = isinstance(value, (bool, np.bool_))
    if annotation is bool:
        return flag
    if annotation is float:  # JSON writes 1.0 as 1
        return isinstance(value, numbers.Real) and not flag
    if annotation is int:  # NumPy integers too: a seed is often one
        return isinstance(value, numbers.Integral) and not flag
    if annotation is tuple:
        return isinstance(value, (list, tuple))
    return isinstance(value, annotation)


def _expected(annotation) -> str:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " or ".join(_expected(a) for a in typing.get_args(annotation))
    annotation = typing.get_origin(annotation) or annotation
    return _SIMPLE_TYPES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _check_argument_types(name: str, kwargs: dict, declared: dict) -> None:
    """Raise a ValueError naming the first argument whose value does not fit its declared type."""
    for key, value in kwargs.items():
        if key not in declared:
            continue
        annotation, default = declared[key]
        if annotation is None:  # no annotation: a number, a flag or a text default says what fits
            kind = type(default)
            if kind not in (bool, int, float, str):
                continue
            annotation = float if kind is int else kind
        if _accepts(annotation, value) is False:
            shown = default if isinstance(default, (bool, int, float, str)) else None
            example = f", e.g. --param {key}={json.dumps(shown)}" if shown is not None else ""
            got = f"the text {value!r}" if isinstance(value, str) else f"{value!r}"
            raise ValueError(f"method {name}: parameter {key} should be {_expected(annotation)}"
                             f"{f' (default {shown!r})' if shown is not None else ''}, got {got}; "
                             f"--param values are read as JSON{example}")


KINDS = ("classical", "deep", "generative")


def resolve_names(text: str | None) -> list[str]:
    """``None`` → the default set (the fast classical methods); else a comma list whose items are
    method names, a kind (``"classical"``, ``"deep"``, ``"generative"``: every method of that kind)
    or ``"all"``, expanded in order with repeats dropped (``"deep,pixels"``, ``"classical,grouped-vae"``).
    A list that names nothing (``--methods ""``, a variable that was not set) is an error: running the
    default set instead would answer a question nobody asked."""
    if text is None:
        return [n for n, s in _REGISTRY.items() if s.default]
    if not text.replace(",", "").strip():
        raise ValueError(f"--methods is empty ({text!r}): give method names, a kind ({', '.join(KINDS)}) or 'all' "
                         "(see `facelab methods`), or leave --methods out for the default set")
    names: list[str] = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if item == "all":
            expanded = available()
        elif item in KINDS:
            expanded = available(item)
        else:
            spec(item)
            expanded = [item]
        names.extend(n for n in expanded if n not in names)
    return names


# -- the built-in methods -------------------------------------------------------------------
register("pixels", "facelab.classical.pixels:PixelMethod", "classical",
         "raw pixel vectors, mean-centred on the training set, cosine similarity (the floor)", default=True)

# -- classical (facelab.classical) -------------------------------------------------
register("eigenfaces", "facelab.classical.face_methods:eigenfaces", "classical",
         "PCA of the training faces (Turk & Pentland 1991), whitened, cosine", default=True)
register("fisherfaces", "facelab.classical.face_methods:fisherfaces", "classical",
         "PCA then LDA (Belhumeur et al. 1997), cosine", default=True)
register("lbp", "facelab.classical.face_methods:lbp", "classical",
         "sqrt uniform-LBP grid histograms, whitened PCA of the training faces (no labels), cosine", default=True)
register("lbp-chi2", "facelab.classical.face_methods:LBPChi2Method", "classical",
         "grid of uniform LBP histograms compared by chi-square (Ahonen et al. 2006)", default=True)
register("lbp-weighted", "facelab.classical.face_methods:lbp_weighted", "classical",
         "LBP histograms, chi-square weighted per cell with weights learned on the training people")
register("eigenfaces+jb", "facelab.classical.face_methods:eigenfaces_jb", "classical",
         "eigenface coordinates scored by Joint Bayesian (Chen et al. 2012)")
register("lbp+jb", "facelab.classical.face_methods:lbp_jb", "classical",
         "sqrt LBP histograms, PCA whitening, Joint Bayesian (Chen et al. 2012)", default=True)
register("lbp+lda", "facelab.classical.face_methods:lbp_lda", "classical",
         "sqrt LBP histograms, PCA whitening, LDA, cosine")
register("lbp-pyramid+jb", "facelab.classical.face_methods:lbp_pyramid_jb", "classical",
         "sqrt LBP histograms of the face at five sizes (Chen et al. 2013), PCA whitening, Joint Bayesian")

# -- siamese / deepid (facelab.nets, facelab.losses) -------------------------------
register("siamese-contrastive", "facelab.nets.siamese:SiameseContrastive", "deep",
         "twin CNN, contrastive loss on balanced pairs (DeepID2 verification form), cosine")
register("siamese-binary", "facelab.nets.siamese:SiameseBinary", "deep",
         "twin CNN, sigmoid(w·|f1−f2|+b) same-person head with cross-entropy (Koch et al.), scored by the head")
register("deepid", "facelab.nets.siamese:DeepID", "deep",
         "CNN trained by softmax identification over the training people (DeepID), cosine on features")
register("deepid2", "facelab.nets.siamese:DeepID2", "deep",
         "joint identification + λ·verification (DeepID2), cosine on the embedding")
register("deepid+jb", "facelab.nets.siamese:deepid_jb", "deep",
         "DeepID features → PCA whitening → Joint Bayesian on the training people (DeepID's own verifier)")
register("deepid2+jb", "facelab.nets.siamese:deepid2_jb", "deep",
         "DeepID2 features → PCA whitening → Joint Bayesian on the training people")

# -- end siamese --

# -- margin-based softmax (facelab.nets.margin_softmax, facelab.losses.margin) -----------------
register("arcface", "facelab.nets.margin_softmax:ArcFace", "deep",
         "CNN trained by softmax on the unit sphere with an additive angular margin, cos(θ+m) (ArcFace), cosine")
register("cosface", "facelab.nets.margin_softmax:CosFace", "deep",
         "CNN trained by softmax on the unit sphere with an additive cosine margin, cos θ − m (CosFace), cosine")
register("sphereface", "facelab.nets.margin_softmax:SphereFace", "deep",
         "CNN trained by softmax on the unit sphere with a multiplicative angular margin, cos(mθ) (SphereFace), cosine")
register("arcface+jb", "facelab.nets.margin_softmax:arcface_jb", "deep",
         "ArcFace features → PCA whitening → Joint Bayesian on the training people")
register("cosface+jb", "facelab.nets.margin_softmax:cosface_jb", "deep",
         "CosFace features → PCA whitening → Joint Bayesian on the training people")

# -- end margin --

# -- triplet (facelab.losses, facelab.miners) --------------------------------------
register("triplet-random", "facelab.nets.triplet_method:TripletRandom", "deep",
         "triplet network, random triplets (offline): the baseline mining must beat")
register("triplet-offline-hard", "facelab.nets.triplet_method:TripletOfflineHard", "deep",
         "triplet network, hardest triplets re-mined from the current embeddings each epoch (offline)")
register("triplet-batch-all", "facelab.nets.triplet_method:TripletBatchAll", "deep",
         "triplet network on P×K batches, every triplet, mean over those with loss > 0 (Hermans et al. 2017)")
register("triplet-batch-hard", "facelab.nets.triplet_method:TripletBatchHard", "deep",
         "triplet network on P×K batches, hardest positive and negative per anchor (Hermans et al. 2017)")
register("triplet-semi-hard", "facelab.nets.triplet_method:TripletSemiHard", "deep",
         "triplet network on P×K batches, FaceNet semi-hard negatives (Schroff et al. 2015)")
register("triplet-distance-weighted", "facelab.nets.triplet_method:TripletDistanceWeighted", "deep",
         "triplet network on P×K batches, distance-weighted negative sampling (Wu et al. 2017)")
register("triplet-easy-positive", "facelab.nets.triplet_method:TripletEasyPositive", "deep",
         "triplet network on P×K batches, easiest positive + hardest negative (Xuan et al. 2020)")

register("triplet-semi-hard+jb", "facelab.nets.triplet_method:triplet_semi_hard_jb", "deep",
         "semi-hard triplet embedding → PCA whitening (64) → Joint Bayesian on the training people")

# -- end triplet --

# -- generative (facelab.generative) -----------------------------------------------------------
register("grouped-vae", "facelab.generative.grouped_vae:GroupedVAEMethod", "generative",
         "grouped-identity VAE (Tan, Pal & Courville): μ of q(w | x) of one image, cosine similarity")
register("gan-disentangler", "facelab.generative.gan_disentangler:GanDisentangler", "generative",
         "adversarial autoencoder + Φ split into identity/pose/style (Browatzki & Wallraven), AdaIN G; f_id, cosine")
register("gan-disentangler-noid", "facelab.generative.gan_disentangler:GanDisentanglerNoId", "generative",
         "the GAN disentangler's f_-id = (f_pose, f_style): Table 2's control, should verify poorly")
register("gan-disentangler-pose", "facelab.generative.gan_disentangler:GanDisentanglerPose", "generative",
         "the GAN disentangler's f_pose (regressed on OpenCV roll/yaw): Table 2's control")
register("gan-disentangler-style", "facelab.generative.gan_disentangler:GanDisentanglerStyle", "generative",
         "the GAN disentangler's f_style (the residual code): Table 2's control")

# -- end generative --


# -- families: the course's units, for tables that show one row per family ----------------------
FAMILIES = {
    "holistic": "pixels, eigenfaces, Fisherfaces",
    "lbp": "local binary patterns (+ learned metrics)",
    "siamese": "Siamese networks and DeepID",
    "margin": "margin-based softmax (ArcFace, CosFace, SphereFace)",
    "triplet": "triplet networks and mining",
    "grouped-vae": "grouped-identity VAE",
    "gan": "GAN disentangler",
}


def pack_contents(names: list[str], preset: str | None = None) -> tuple[list, list]:
    """What ``facelab data pack`` stores for ``names`` at ``preset`` (the arguments of :func:`facelab.data.pack.pack_lfw`):
    each distinct preprocessing config, and every ``memo_tables`` entry as a ``(table, config, fn)`` triple."""
    configs, tables = {}, {}
    for method in (create(name, preset=preset) for name in names):
        configs[method.preprocess.key()] = method.preprocess
        tables.update({(t, method.preprocess.key()): (t, method.preprocess, fn) for t, fn in method.memo_tables.items()})
    return list(configs.values()), list(tables.values())


def family(name: str) -> str:
    """The family (a key of :data:`FAMILIES`) of a method name; a ``+jb``/``+lda`` scoring head
    belongs to the family of the features it scores."""
    base = name.split("+")[0]
    for prefix, fam in (("pixels", "holistic"), ("eigenfaces", "holistic"), ("fisherfaces", "holistic"),
                        ("lbp", "lbp"), ("siamese", "siamese"), ("deepid", "siamese"), ("triplet", "triplet"),
                        ("arcface", "margin"), ("cosface", "margin"), ("sphereface", "margin"),
                        ("grouped-vae", "grouped-vae"), ("gan", "gan")):
        if base.startswith(prefix):
            return fam
    raise KeyError(f"method {name!r} belongs to no family of {sorted(FAMILIES)}")

