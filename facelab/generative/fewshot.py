"""Generative few-shot recognition with the grouped VAE (Tan, Pal & Courville, §2.1).

An identity is enrolled by inferring w from its N images (w = the mean of q(w | x_1:N)); a probe
x is scored against every enrolled identity by its marginal likelihood

    log p(x | w) ≈ log (1/K) Σ_k p(x | w, z_k) p(z_k | w) / q(z_k | x, w),   z_k ~ q(z | x, w)   (eqs. 6–7)

computed in log space (log-sum-exp of the log-weights), and classified by the normalised

    p̃(w_c | x) = p(x | w_c) / Σ_c' p(x | w_c')                                                  (eq. 8)

The importance sampler only needs four things of a model — ``features(x)``, ``q_z(h, w)``,
``p_z(w)`` (each a (mean, std) pair of diagonal Gaussians) and ``log_px(x, w, z)`` — so the
tests check it on a linear-Gaussian model whose log p(x | w) is known in closed form.

Run ``python -m facelab.generative.fewshot --help`` for the accuracy-vs-N experiment on View 1.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

LOG_2PI = float(np.log(2 * np.pi))


def log_mean_exp(log_w: np.ndarray, axis: int = -1) -> np.ndarray:
    """log (1/K) Σ_k exp(a_k), stably: max + log mean exp(a − max)."""
    log_w = np.asarray(log_w, dtype=np.float64)
    top = np.max(log_w, axis=axis, keepdims=True)
    out = top + np.log(np.mean(np.exp(log_w - top), axis=axis, keepdims=True))
    return np.squeeze(out, axis=axis)


def _normal_logpdf(z, mu, sd):
    """Σ over the last axis of log N(z; μ, σ²), float64."""
    return np.sum(-0.5 * ((z - mu) / sd) ** 2 - np.log(sd) - 0.5 * LOG_2PI, axis=-1)


def _np(t) -> np.ndarray:
    if isinstance(t, np.ndarray):
        return t
    from keras import ops

    return np.asarray(ops.convert_to_numpy(t))


def importance_log_px(model, x, w, *, k: int = 32, seed: int = 0, features=None, max_batch: int = 2048,
                      return_log_weights: bool = False):
    """Eqs. (6)–(7): importance-sampled log p(x_m | w_m) for M pairs, shape ``(M,)`` (float64).

    x: ``(M, H, W, C)`` floats (model scale); w: ``(M, w_dim)``. ``features``: f(x) if already
    computed (it does not depend on w). The K proposals are z_k = μ_q + σ_q ε_k with ε drawn from
    ``seed``: the same ε for every call with the same seed and shape, so two candidate identities
    are compared on common random numbers. ``max_batch`` bounds images decoded at once.
    With ``return_log_weights`` also returns the ``(M, K)`` log-weights log p(x|w,z) + log p(z|w) − log q(z|x,w).
    """
    if k < 1:
        raise ValueError(f"k (importance samples) must be ≥ 1, got {k}")
    w = np.asarray(w, dtype=np.float32)
    m = len(w)
    if len(x) != m:
        raise ValueError(f"x has {len(x)} images but w has {m} rows; one w per image is needed")
    h = model.features(x) if features is None else features
    mu_q, sd_q = (_np(a).astype(np.float64) for a in model.q_z(h, w))
    mu_p, sd_p = (_np(a).astype(np.float64) for a in model.p_z(w))
    eps = np.random.default_rng(seed).standard_normal((m, k, mu_q.shape[-1]))
    z = mu_q[:, None] + sd_q[:, None] * eps  # (M, K, z_dim)
    log_prior = _normal_logpdf(z, mu_p[:, None], sd_p[:, None])  # (M, K)
    log_q = _normal_logpdf(z, mu_q[:, None], sd_q[:, None])
    log_lik = np.empty((m, k))
    rows = max(1, max_batch // k)
    x = np.asarray(x)
    for s in range(0, m, rows):
        sl = slice(s, min(m, s + rows))
        n = sl.stop - sl.start
        xs = np.repeat(x[sl], k, axis=0)
        ws = np.repeat(w[sl], k, axis=0)
        zs = z[sl].reshape(n * k, -1).astype(np.float32)
        log_lik[sl] = _np(model.log_px(xs, ws, zs)).astype(np.float64).reshape(n, k)
    log_w = log_lik + log_prior - log_q
    est = log_mean_exp(log_w, axis=1)
    return (est, log_w) if return_log_weights else est


def log_px_matrix(model, x, w_candidates, *, k: int = 32, seed: int = 0, max_batch: int = 2048) -> np.ndarray:
    """log p(x_p | w_c) for every probe p and candidate identity c: ``(P, C)``."""
    feats = model.features(x)
    w_candidates = np.asarray(w_candidates, dtype=np.float32)
    cols = [importance_log_px(model, x, np.repeat(wc[None], len(x), 0), k=k, seed=seed, features=feats,
                              max_batch=max_batch) for wc in w_candidates]
    return np.stack(cols, axis=1)


def identity_posterior(log_px: np.ndarray) -> np.ndarray:
    """Eq. (8): p̃(w_c | x) = p(x | w_c) / Σ_c' p(x | w_c') per row, from log p(x | w) ``(P, C)``."""
    log_px = np.asarray(log_px, dtype=np.float64)
    return np.exp(log_px - (log_mean_exp(log_px, axis=1) + np.log(log_px.shape[1]))[:, None])


# -- the few-shot experiment -------------------------------------------------------------------
def _cosine_ncm(train_emb, train_lab, probe_emb):
    ids = np.unique(train_lab)
    means = np.stack([train_emb[train_lab == i].mean(0) for i in ids])
    unit = lambda a: a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    return ids[np.argmax(unit(probe_emb) @ unit(means).T, axis=1)]


def eigenface_embedder(train_images: np.ndarray, n_components: int = 100, seed: int = 0):
    """Eigenfaces baseline (Turk & Pentland 1991): PCA of the training images; embed = coefficients."""
    from sklearn.decomposition import PCA

    flat = train_images.reshape(len(train_images), -1).astype(np.float32) / 255.0
    pca = PCA(n_components=min(n_components, *flat.shape), random_state=seed).fit(flat)
    return lambda imgs: pca.transform(imgs.reshape(len(imgs), -1).astype(np.float32) / 255.0)


def few_shot_accuracy(vae, images: np.ndarray, labels: np.ndarray, split, *, k: int = 32, seed: int = 0,
                      eigen_components: int = 100, probes_per_person: int | None = None,
                      progress: bool = True) -> dict:
    """Accuracy vs N on ``split`` (a :func:`facelab.evaluation.few_shot_split`) for three rules on the
    same episodes: p̃(w | x) of the grouped VAE (eq. 8, w = mean of q(w | N enrolment images)),
    cosine nearest-class-mean on the VAE's single-image μ_w, and cosine nearest-class-mean on
    eigenfaces fitted on the split's training images. ``images``: uint8 under the VAE's preprocessing.
    ``probes_per_person`` keeps the first probes of each person (a seeded random subset, the same for
    every rule): the importance sampler decodes probes × identities × K images, a lot for a CPU.
    """
    from tqdm.auto import tqdm

    from .grouped_vae import to_unit

    eigen = eigenface_embedder(images[split.train_images], eigen_components, seed)
    rules = ("vae_p_w_given_x", "vae_mu_w_ncm", "eigenfaces_ncm")
    per_repeat = {r: {str(n): [] for n in split.shots} for r in rules}
    t0 = time.perf_counter()
    total = len(split.episodes) * len(split.shots)
    bar = tqdm(total=total, desc="few-shot episodes", disable=not progress, leave=False)
    if probes_per_person is not None:
        split = type(split)(split.train_images, [[(lab, e, p[:probes_per_person]) for lab, e, p in ep]
                                                 for ep in split.episodes], split.shots)
    for r, episode in enumerate(split.episodes):
        probes = np.concatenate([p for _, _, p in episode])
        probe_lab = labels[probes]
        x_probe = to_unit(images[probes])
        needed = np.unique(np.concatenate([probes] + [e for _, e, _ in episode]))
        mu_single = dict(zip(needed, _np(vae.q_w(to_unit(images[needed])[:, None])[0])))
        eig_single = dict(zip(needed, eigen(images[needed])))
        for n in split.shots:
            enrol = [e[:n] for _, e, _ in episode]
            ids = np.array([lab for lab, _, _ in episode])
            groups = np.stack([to_unit(images[e]) for e in enrol])  # (C, N, H, W, C)
            w_c = _np(vae.q_w(groups)[0])
            scores = log_px_matrix(vae, x_probe, w_c, k=k, seed=seed + 1000 * r + n)
            per_repeat["vae_p_w_given_x"][str(n)].append(float(np.mean(ids[np.argmax(scores, 1)] == probe_lab)))
            enrol_all = np.concatenate(enrol)
            for rule, table in (("vae_mu_w_ncm", mu_single), ("eigenfaces_ncm", eig_single)):
                pred = _cosine_ncm(np.stack([table[i] for i in enrol_all]), labels[enrol_all],
                                   np.stack([table[i] for i in probes]))
                per_repeat[rule][str(n)].append(float(np.mean(pred == probe_lab)))
            bar.update(1)
    bar.close()
    return {"accuracy": {r: {n: float(np.mean(v)) for n, v in d.items()} for r, d in per_repeat.items()},
            "accuracy_per_repeat": per_repeat, "identities": len(split.episodes[0]),
            "probes": int(sum(len(p) for _, _, p in split.episodes[0])), "repeats": len(split.episodes),
            "importance_samples": k, "eigen_components": eigen_components, "probes_per_person": probes_per_person,
            "seconds": time.perf_counter() - t0}


def figure(result: dict):
    """Accuracy against N for every rule (the paper's Figure 3a) from a :func:`few_shot_accuracy` result."""
    from ..plots import few_shot_figure

    return few_shot_figure(result["accuracy"], "Grouped VAE few-shot identification (LFW View 1 test)")


def main(argv=None) -> int:
    """Train on View 1's training people, evaluate few-shot identification on its test people."""
    import shlex
    import sys

    from .. import io
    from ..data import LFW
    from ..evaluation import few_shot_split
    from ..evaluation.report import device_description, few_shot_markdown, package_versions
    from .figures import paper_figures
    from .grouped_vae import GroupedVAEMethod, save_model

    p = argparse.ArgumentParser(prog="python -m facelab.generative.fewshot", description=main.__doc__)
    p.add_argument("--out", default="results/grouped_vae_fewshot", help="output folder")
    p.add_argument("--size", type=int, default=64, help="image side (32 or 64)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the method's)")
    p.add_argument("--group-size", type=int, default=5, help="N images per training group")
    p.add_argument("--k", type=int, default=32, help="importance samples per (probe, identity)")
    p.add_argument("--probes-per-person", type=int, default=None, help="cap probes per person (CPU runs)")
    p.add_argument("--filters", type=int, default=None, help="first conv width (default: the method's)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--shots", default="1,2,5,10")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)

    lfw = LFW(args.data_dir)
    kwargs = {key: v for key, v in (("epochs", args.epochs), ("filters", args.filters)) if v is not None}
    from ..data.preprocess import PreprocessConfig

    method = GroupedVAEMethod(preprocess=PreprocessConfig(size=args.size), seed=args.seed, quick=args.quick,
                              group_size=args.group_size, progress=True, **kwargs)
    split = few_shot_split(lfw, shots=[int(s) for s in args.shots.split(",")], repeats=args.repeats, seed=args.seed)
    images, labels = lfw.load_images(method.preprocess), lfw.labels
    t0 = time.perf_counter()
    method.fit(images[split.train_images], labels[split.train_images])
    fit_s = time.perf_counter() - t0
    print(f"trained in {fit_s:.0f} s; final epoch: " + ", ".join(f"{key} {v[-1]:.2f}" for key, v in method.history_.items()),
          flush=True)
    result = few_shot_accuracy(method.model_, images, labels, split, k=args.k, seed=args.seed,
                               probes_per_person=args.probes_per_person)
    command = "python -m facelab.generative.fewshot " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    result.update(fit_seconds=fit_s, config=method.config, history=method.history_, device=device_description(),
                  versions=package_versions(), command=command)
    out = Path(args.out)
    io.write_json(out / "results.json", result)
    io.write_text(out / "results.md", few_shot_markdown(result, command))
    io.save_figure(figure(result), out / "few_shot.png", dpi=120)
    save_model(method.model_, out / "grouped_vae.keras")
    people = split.episodes[0][:4]  # unseen people, their enrolment images
    for name, fig in paper_figures(method.model_, [images[e] for _, e, _ in people], seed=args.seed).items():
        io.save_figure(fig, out / name, dpi=120)
    print(few_shot_markdown(result, command))
    print(json.dumps({"fit_seconds": fit_s, "few_shot_seconds": result["seconds"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
