"""Few-shot identification by the grouped VAE's likelihood (Tan, Pal & Courville, §2.1, Figure 3a),
beside two nearest-class-mean baselines on the same episodes: the VAE's single-image μ_w and
eigenfaces. The model-side mathematics (eqs. 6–8) is :mod:`facelab.generative.fewshot`; this module
runs the experiment on View 1 (``python -m facelab.evaluation.vae_few_shot --help``)."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ..generative.fewshot import log_px_matrix, to_numpy
from ..metrics import get_similarity
from .runner import nearest_class_mean, score_episodes


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
    from ..generative.grouped_vae import to_unit

    eigen = eigenface_embedder(images[split.train_images], eigen_components, seed)
    cosine = get_similarity("cosine")
    if probes_per_person is not None:
        split = type(split)(split.train_images, [[(lab, e, p[:probes_per_person]) for lab, e, p in ep]
                                                 for ep in split.episodes], split.shots)
    seen: dict = {}

    def episode_inputs(r, episode):
        """The episode's probes as the VAE reads them, and μ_w and eigenfaces of its every image, made once."""
        if r not in seen:
            seen.clear()
            probes = np.concatenate([p for _, _, p in episode])
            needed = np.unique(np.concatenate([probes] + [e for _, e, _ in episode]))
            seen[r] = (to_unit(images[probes]), dict(zip(needed, to_numpy(vae.q_w(to_unit(images[needed])[:, None])[0]))),
                       dict(zip(needed, eigen(images[needed]))))
        return seen[r]

    def likelihood(r, episode, n):  # eq. 8: the identity under whose w_c (mean of q(w | its N images)) the probe is likeliest
        x_probe = episode_inputs(r, episode)[0]
        w_c = to_numpy(vae.q_w(np.stack([to_unit(images[e[:n]]) for _, e, _ in episode]))[0])
        scores = log_px_matrix(vae, x_probe, w_c, k=k, seed=seed + 1000 * r + n)
        return np.array([lab for lab, _, _ in episode])[np.argmax(scores, 1)]

    def ncm_on(table_number):
        def rule(r, episode, n):
            table = episode_inputs(r, episode)[table_number]
            enrol = np.concatenate([e[:n] for _, e, _ in episode])
            probes = np.concatenate([p for _, _, p in episode])
            return nearest_class_mean(np.stack([table[i] for i in enrol]), labels[enrol],
                                      np.stack([table[i] for i in probes]), cosine)
        return rule

    t0 = time.perf_counter()
    per_repeat = score_episodes(split, labels, {"vae_p_w_given_x": likelihood, "vae_mu_w_ncm": ncm_on(1),
                                                "eigenfaces_ncm": ncm_on(2)}, progress=progress)
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
    from ..generative.figures import paper_figures
    from ..generative.grouped_vae import GroupedVAEMethod, save_model
    from .protocols import few_shot_split
    from .report import device_description, few_shot_markdown, package_versions

    p = argparse.ArgumentParser(prog="python -m facelab.evaluation.vae_few_shot", description=main.__doc__)
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
    command = "python -m facelab.evaluation.vae_few_shot " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
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
