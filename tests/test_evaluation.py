"""The shared evaluation protocol: no test identity is ever trained on, thresholds come from the
training folds only, and the numbers match an independent brute-force computation."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from facelab.base import FaceMethod
from facelab.classical.pixels import PixelMethod
from facelab.data import PreprocessConfig
from facelab.evaluation import (evaluate_identification, evaluate_verification, few_shot_split,
                                identification_split, verification_splits)
from facelab.evaluation.protocols import FewShotSplit
from facelab.evaluation.runner import nearest_class_mean, score_episodes, verify_each
from facelab.metrics import get_similarity

SMALL = PreprocessConfig(size=24, crop=(112, 112))


class Spy(PixelMethod):
    """Pixels, but remembers which images it was fitted on."""

    fitted_on: list = []

    def fit(self, images, labels):
        Spy.fitted_on.append((images.shape[0], labels.copy()))
        return super().fit(images, labels)


def test_view2_splits_never_train_on_test_people(lfw):
    splits = verification_splits(lfw, "view2")
    assert len(splits) == 10
    folds = lfw.people_folds("view2")
    for k, split in enumerate(splits):
        trained = set(np.asarray(lfw.people)[np.unique(lfw.labels[split.train_images])])
        assert trained == set().union(*(set(f) for j, f in enumerate(folds) if j != k))
        assert len(split.test_pairs) == 600 and np.all(split.test_pairs.fold == k)
        assert len(split.threshold_pairs) == 5400 and not np.any(split.threshold_pairs.fold == k)
        test_ids = np.unique(lfw.labels[np.concatenate([split.test_pairs.index_a, split.test_pairs.index_b])])
        assert not set(test_ids) & set(lfw.labels[split.train_images])


def test_view2_accuracy_matches_brute_force_reference(lfw):
    result = evaluate_verification(lambda: PixelMethod(SMALL), lfw, "view2", progress=False)
    images = lfw.load_images(SMALL).reshape(len(lfw), -1).astype(np.float64)
    pairs = lfw.pairs("view2")
    folds = lfw.people_folds("view2")
    for k in range(10):
        train_people = [p for j, f in enumerate(folds) if j != k for p in f]
        mean = images[lfw.people_indices(train_people)].mean(0)
        x = images - mean
        cos = np.einsum("ij,ij->i", x[pairs.index_a], x[pairs.index_b]) / (
            np.linalg.norm(x[pairs.index_a], axis=1) * np.linalg.norm(x[pairs.index_b], axis=1))
        train, test = pairs.fold != k, pairs.fold == k
        # brute force: try every training score as the threshold
        cands = np.sort(cos[train])
        accs = [np.mean((cos[train] >= t) == pairs.same[train]) for t in cands]
        best = cands[int(np.argmax(accs))]
        assert max(accs) == pytest.approx(np.mean((cos[train] >= result.thresholds[k]) == pairs.same[train]), abs=1e-12)
        # the chosen thresholds may differ inside the same gap; test accuracy follows from the rule
        assert result.fold_accuracy[k] == pytest.approx(np.mean((cos[test] >= result.thresholds[k]) == pairs.same[test]))
        assert abs(np.mean((cos[test] >= best) == pairs.same[test]) - result.fold_accuracy[k]) <= 2 / 600
    s = result.summary()
    assert s["accuracy_se"] == pytest.approx(np.std(s["fold_accuracy"], ddof=1) / np.sqrt(10))
    assert 0.5 < s["accuracy_mean"] < 0.75  # raw pixels on LFW: well above chance, far from solved


def test_view1_fits_on_dev_train_people_only(lfw):
    Spy.fitted_on = []
    result = evaluate_verification(lambda: Spy(SMALL), lfw, "view1", progress=False)
    assert len(Spy.fitted_on) == 1 and Spy.fitted_on[0][0] == 9525
    assert len(result.test_same) == 1000 and len(result.fold_accuracy) == 1
    # labels reach the method renumbered 0..c-1
    labels = Spy.fitted_on[0][1]
    assert labels.min() == 0 and labels.max() == 4037


def test_identification_splits_are_disjoint_and_seeded(lfw):
    s = identification_split(lfw, seed=0)
    sets = [set(s.gallery), set(s.known_probes), set(s.unknown_probes), set(s.train_images)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not sets[i] & sets[j]
    enrolled = set(lfw.labels[s.gallery])
    assert set(lfw.labels[s.known_probes]) <= enrolled
    assert not set(lfw.labels[s.unknown_probes]) & enrolled
    assert np.array_equal(identification_split(lfw, seed=0).gallery, s.gallery)
    assert not np.array_equal(identification_split(lfw, seed=1).gallery, s.gallery)
    few = few_shot_split(lfw, shots=(1, 5), repeats=2, seed=0)
    for lab, enrol, probes in few.episodes[0]:
        assert len(enrol) == 5 and len(probes) >= 1 and not set(enrol) & set(probes)
        assert set(lfw.labels[enrol]) == {lab} == set(lfw.labels[probes])


def test_identification_numbers_are_sane_and_rise_with_shots(lfw):
    r = evaluate_identification(lambda: PixelMethod(SMALL), lfw, seed=0)
    cs = r["closed_set"]
    assert cs["identities"] == 180 and 0 < cs["rank1"] <= cs["rank5"] <= 1
    assert np.all(np.diff(cs["cmc"]) >= 0)
    acc = r["few_shot"]["accuracy"]
    assert acc["1"] < acc["10"]


class Shifted(PixelMethod):
    """Pixels scored around a mean moved by a constant: another method, same images."""

    name = "shifted"

    def embed(self, images):
        return super().embed(images) + 10.0


def test_verify_each_runs_every_method_on_the_same_splits_and_keeps_the_last_fit(lfw):
    """The one loop over methods: each result is the evaluator's own, in the order given, and its
    ``last_fitted`` is the method fitted on the last split's training people."""
    Spy.fitted_on.clear()
    runs = list(verify_each({"spy": lambda: Spy(SMALL), "shifted": lambda: Shifted(SMALL)}, lfw, "view2",
                            folds=[3, 8], progress=False))
    assert [name for name, _, _ in runs] == ["spy", "shifted"]
    alone = evaluate_verification(lambda: Shifted(SMALL), lfw, "view2", folds=[3, 8], progress=False)
    assert runs[1][1].fold_accuracy == alone.fold_accuracy != runs[0][1].fold_accuracy
    assert all(seconds > 0 for _, _, seconds in runs)
    last_train = verification_splits(lfw, "view2")[8].train_images
    assert Spy.fitted_on[-1][0] == len(last_train)
    fitted = runs[0][1].last_fitted
    assert isinstance(fitted, Spy) and np.allclose(fitted.mean_, lfw.load_images(SMALL)[last_train].reshape(len(last_train), -1).mean(0))
    assert "last_fitted" not in runs[0][1].summary()


def test_nearest_class_mean_and_the_episode_loop_score_what_they_should():
    emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 3.0], [0.3, 2.7]])  # person 3's embeddings are longer
    labels = np.array([7, 7, 3, 3])
    probes = np.array([[0.2, 2.0], [1.0, 0.3], [0.1, 0.2]])
    # (0.1, 0.2) points nearer to person 3's mean (0.15, 2.85) in angle, but is nearer to 7's (0.95, 0.05) in L2
    assert nearest_class_mean(emb, labels, probes, get_similarity("cosine")).tolist() == [3, 7, 3]
    assert nearest_class_mean(emb, labels, probes, get_similarity("neg_euclidean")).tolist() == [3, 7, 7]

    positions_label = np.array([7, 7, 3, 3, 7, 7, 3, 3])
    episode = [(7, np.array([0, 1]), np.array([4, 5])), (3, np.array([2, 3]), np.array([6]))]
    other = [(7, np.array([1, 0]), np.array([5])), (3, np.array([3, 2]), np.array([6, 7]))]
    split = FewShotSplit(np.array([], int), [episode, other], (1, 2))
    calls = []

    def oracle(r, ep, n):
        calls.append((r, n, [e[:n].tolist() for _, e, _ in ep]))
        return positions_label[np.concatenate([p for _, _, p in ep])]

    out = score_episodes(split, positions_label, {"oracle": oracle, "always 7": lambda r, ep, n: 7})
    assert out["oracle"] == {"1": [1.0, 1.0], "2": [1.0, 1.0]}
    assert out["always 7"] == {"1": [2 / 3, 1 / 3], "2": [2 / 3, 1 / 3]}
    assert [(r, n) for r, n, _ in calls] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert calls[2][2] == [[1], [3]]  # the rule sees the episode's own enrolment order


class Broken(FaceMethod):
    name = "broken"

    def embed(self, images):
        return np.full((len(images), 3), np.nan)


def test_evaluator_rejects_nan_embeddings(lfw):
    with pytest.raises(ValueError, match="broken.embed returned NaN"):
        evaluate_verification(lambda: Broken(SMALL), lfw, "view1", progress=False)


def _compare(out, *extra, cache_dir=None):
    env = dict(os.environ, **({"FACELAB_CACHE": str(cache_dir)} if cache_dir else {}))
    return subprocess.run([sys.executable, "-m", "facelab", "compare", "--methods", "pixels", "--protocol", "view2",
                           "--out", str(out), "--no-progress", *extra], capture_output=True, text=True, env=env)


def test_compare_pixels_is_reproducible_and_writes_every_file(tmp_path, cache_dir):
    runs = [_compare(tmp_path / f"run{i}", cache_dir=cache_dir) for i in (1, 2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    results = [json.loads((tmp_path / f"run{i}" / "results.json").read_text()) for i in (1, 2)]
    timing = ("fit_seconds", "embed_seconds", "wall_seconds")
    strip = lambda d: {k: v for k, v in d.items() if k not in timing}
    a, b = (strip(r["methods"]["pixels"]) for r in results)
    a["identification"].pop("fit_seconds"), b["identification"].pop("fit_seconds")
    assert a == b  # every number, to the last digit
    m = results[0]["methods"]["pixels"]
    for key in ("accuracy_mean", "accuracy_se", "fold_accuracy", "auc", "eer", "tar_at_far", "fit_seconds",
                "embed_seconds", "config"):
        assert key in m
    assert set(m["tar_at_far"]) == {"0.01", "0.001"} and len(m["fold_accuracy"]) == 10
    assert results[0]["protocol"] == "view2" and results[0]["data_variant"] == "lfw-deepfunneled"
    assert results[0]["versions"]["numpy"] and results[0]["seed"] == 0
    for f in ("results.md", "roc.png", "cmc.png", "few_shot.png"):
        assert (tmp_path / "run1" / f).stat().st_size > 0
    assert "| pixels |" in (tmp_path / "run1" / "results.md").read_text()


def test_cli_errors_are_clear(tmp_path):
    r = _compare(tmp_path, "--methods", "nope")
    assert r.returncode == 2 and "unknown method 'nope'" in r.stderr
    r = subprocess.run([sys.executable, "-m", "facelab", "data", "locate", "--data-dir", str(tmp_path / "void")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "void does not exist" in r.stderr
    for cmd in (["--help"], ["compare", "--help"], ["data", "--help"], ["methods"]):
        r = subprocess.run([sys.executable, "-m", "facelab", *cmd], capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout


def test_cli_data_commands_on_the_real_copy():
    run = lambda *a: subprocess.run([sys.executable, "-m", "facelab", "data", *a, "--no-progress"],
                                    capture_output=True, text=True)
    r = run("counts")
    assert r.returncode == 0, r.stderr
    counts = json.loads(r.stdout[r.stdout.index("{"):])
    assert counts["images"] == 13233 and counts["view2_pairs"] == 6000 and counts["view2_folds"] == 10
    r = run("verify")
    assert r.returncode == 0 and "0 missing, 0 mismatched" in r.stdout


def test_lecture_figures_command(tmp_path, cache_dir):
    env = dict(os.environ, FACELAB_CACHE=str(cache_dir))
    r = subprocess.run([sys.executable, "-m", "facelab", "figures", "--units", "01_tasks_and_evaluation",
                        "--out", str(tmp_path)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lfw_samples.png", "view2_pairs.png"]
    r = subprocess.run([sys.executable, "-m", "facelab", "figures", "--units", "99_nope", "--out", str(tmp_path)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "unknown lecture unit" in r.stderr


def test_method_sets_resolve_by_kind_and_default():
    from facelab import methods

    default = methods.resolve_names(None)
    assert "pixels" in default and all(methods.spec(n).kind == "classical" for n in default)
    assert set(default) < set(methods.resolve_names("classical"))
    assert set(methods.resolve_names("deep")) | set(methods.resolve_names("classical")) \
        | set(methods.resolve_names("generative")) == set(methods.resolve_names("all"))
    with pytest.raises(KeyError, match="unknown method 'x'"):
        methods.resolve_names("pixels,x")
    # a kind inside a comma list expands in place; a name repeated by a kind is kept once, first place
    mixed = methods.resolve_names("gan-disentangler, deep,pixels")
    assert mixed[0] == "gan-disentangler" and mixed[-1] == "pixels"
    assert mixed[1:-1] == methods.resolve_names("deep") and len(set(mixed)) == len(mixed)
    assert methods.resolve_names("pixels,classical") == ["pixels"] + [
        n for n in methods.resolve_names("classical") if n != "pixels"]


def test_report_fills_the_readme_block_from_a_results_file(tmp_path):
    from facelab.evaluation.readme_blocks import update_readme

    results = {"protocol": "view1", "data_variant": "lfw-deepfunneled", "seed": 0, "quick": False, "device": "cpu",
               "methods": {"m": {"accuracy_mean": 0.7, "accuracy_se": 0.01, "fold_accuracy": [0.7], "auc": 0.8,
                                 "eer": 0.3, "tar_at_far": {"0.01": 0.1, "0.001": 0.05}, "fit_seconds": 1.0,
                                 "embed_seconds": 2.0}}}
    (tmp_path / "results.json").write_text(json.dumps(results))
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- results:begin -->\nold\n<!-- results:end -->\nafter\n")
    update_readme(readme, tmp_path / "results.json", "facelab compare --protocol view1")
    text = readme.read_text()
    assert "\nold\n" not in text and "| m | 70.00 ± 1.00 |" in text and text.endswith("after\n")
    assert "`facelab compare --protocol view1`" in text
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="no <!-- results:begin -->"):
        update_readme(readme, tmp_path / "results.json", "x")


def test_filling_a_block_again_keeps_the_command_it_shows(tmp_path):
    """A record that keeps no command line: the block's own "Produced by" command survives a refill, and a
    block that shows none asks for one by name."""
    from facelab.evaluation.readme_blocks import update_readme

    record = tmp_path / "results.json"
    record.write_text(json.dumps({"protocol": "view1", "data_variant": "lfw-deepfunneled", "seed": 0, "quick": False, "device": "cpu",
                                  "methods": {"m": _result(0.7)}}))
    readme = tmp_path / "README.md"
    readme.write_text("<!-- results:b:begin -->\n<!-- results:b:end -->\n")
    with pytest.raises(ValueError, match=r"records no command and the block <!-- results:b:begin --> .* \(--command\)"):
        update_readme(readme, record, block="b")
    update_readme(readme, record, "facelab compare --methods m --protocol view1", block="b")
    update_readme(readme, record, block="b")
    assert readme.read_text().count("Produced by `facelab compare --methods m --protocol view1` on cpu") == 1


def _result(acc):
    return {"accuracy_mean": acc, "accuracy_se": 0.01, "fold_accuracy": [acc], "auc": 0.9, "eer": 0.1,
            "tar_at_far": {"0.01": 0.5, "0.001": 0.3}, "fit_seconds": 1.0, "embed_seconds": 1.0}


def test_summary_shows_each_familys_best_full_view2_record_with_its_link(tmp_path):
    from facelab.evaluation.readme_blocks import update_summary

    def record(folder, methods, **top):
        path = tmp_path / "reports" / folder / "results.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"protocol": "view2", "folds": "all", "quick": False, "seed": 0,
                                    "device": "cpu (2 cores, x86_64)", "data_variant": "lfw-deepfunneled",
                                    "methods": {n: _result(a) for n, a in methods.items()}} | top))

    record("cpu/classical", {"eigenfaces": 0.72, "fisherfaces": 0.74, "lbp+jb": 0.85})
    record("cpu/lbp-quick-look", {"lbp": 0.95}, folds=[1, 2])  # a few folds only: not a View 2 number
    record("cpu/lbp-view1", {"lbp": 0.96}, protocol="view1")
    record("cpu/lbp-quick", {"lbp": 0.97}, quick=True)
    record("cpu/lbp-seed1", {"lbp": 0.98}, seed=1)  # a repeat with another seed: not a better number
    record("cpu/att", {"lbp+jb": 0.99}, data_variant="att")  # another data set's View 2: not LFW's number
    record("gpu/deep", {"deepid": 0.84, "triplet-semi-hard+jb": 0.90}, threshold="held-out",
           device="gpu (1× H100, jax)")
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- summary:begin -->\nold\n<!-- summary:end -->\nafter\n")
    update_summary(readme, tmp_path / "reports")
    rows = {line.split(" | ")[0].strip("| "): line for line in readme.read_text().splitlines() if line.startswith("| ")}
    assert "`fisherfaces` | 74.00 ± 1.00" in rows["pixels, eigenfaces, Fisherfaces"]
    assert "`lbp+jb` | 85.00 ± 1.00" in rows["local binary patterns (+ learned metrics)"]
    assert "[reports/cpu/classical](reports/cpu/classical/)" in rows["local binary patterns (+ learned metrics)"]
    triplet = rows["triplet networks and mining"]
    assert "`triplet-semi-hard+jb` | 90.00" in triplet and "a held-out training fold | gpu |" in triplet
    assert "`deepid` | 84.00" in rows["Siamese networks and DeepID"]
    assert "| the training folds | cpu |" in rows["pixels, eigenfaces, Fisherfaces"]
    assert "no View 2 record" in rows["GAN disentangler"] and "\nold\n" not in readme.read_text()
    assert readme.read_text().endswith("after\n")


def test_compare_params_and_fold_subsets_are_applied_and_recorded(tmp_path, cache_dir):
    r = _compare(tmp_path / "sub", "--methods", "lbp-chi2", "--folds", "3,1", "--param", "grid=[4, 4]",
                 "--no-identification", cache_dir=cache_dir)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "sub" / "results.json").read_text())
    m = res["methods"]["lbp-chi2"]
    assert res["folds"] == [1, 3] and res["params"] == {"grid": [4, 4]}
    assert len(m["fold_accuracy"]) == 2 and m["config"]["grid"] == [4, 4]
    table = (tmp_path / "sub" / "results.md").read_text()
    assert "Folds 1, 3 of 10 only" in table and "grid=[4, 4]" in table
    r = _compare(tmp_path / "bad", "--methods", "lbp-chi2", "--param", "gird=4", cache_dir=cache_dir)
    assert r.returncode == 2 and "method 'lbp-chi2' got an unknown argument 'gird' (did you mean 'grid'?)" in r.stderr
    r = _compare(tmp_path / "bad", "--folds", "0,11", cache_dir=cache_dir)
    assert r.returncode == 2 and "--folds expects fold numbers from 1 to 10" in r.stderr


def test_generative_lecture_figures_are_made_from_trained_models(tmp_path, cache_dir, monkeypatch):
    from facelab import figures

    monkeypatch.setenv("FACELAB_CACHE", str(cache_dir))
    runs = tmp_path / "runs"
    written = figures.make_figures(tmp_path, ["05_grouped_vae", "06_gan_disentangler"], quick=True, run_dir=runs,
                                   log=lambda *_: None)
    assert sorted(p.name for p in written) == sorted(["gan_training.png", "identity_transfer.png", "identity_means.png",
                                                      "identity_samples.png", "vae_training.png", "z_interpolation.png"])
    assert all(p.stat().st_size > 5000 for p in written)  # real drawings, not empty canvases
    # the disentangler trained in the given folder (where `facelab disentangle --run-dir` leaves its training)
    (fit,) = runs.glob("gan-disentangler/data-*")
    assert all((fit / f"stage{k}" / "history.json").is_file() for k in (1, 2, 3))
