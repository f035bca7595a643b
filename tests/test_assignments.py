"""The autograder: full marks for the reference solutions, the right lost points and diagnosis
for each typical mistake, clean handling of unfinished or broken files, the CLI, and runs on
real LFW data. The grader's own references are checked against independent oracles."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facelab.assignments import get, grade, names
from facelab.assignments import reference as ref
from facelab.assignments.grading import CHECK_TIMEOUT_S
from facelab.cli import main

ANSWERS = Path(__file__).parent / "assignment_answers"


def _file(name: str) -> Path:
    return ANSWERS / f"{name}.py"


@pytest.mark.parametrize("name", names())
def test_reference_solution_gets_full_marks(name):
    a = get(name)
    report = grade(a, _file(a.module_name))
    assert report.passed, report.format()
    assert report.score == report.total == a.total_points > 0


# (assignment, answer file, the checks that must fail — exactly these —, a phrase of the diagnosis)
MISTAKES = [
    ("evaluation", "evaluation__threshold_on_test_fold", {"fold_accuracies"}, "chosen on the TEST fold"),
    ("evaluation", "evaluation__flipped_rule", {"best_threshold"}, "same ⇔ score ≥ t"),
    ("evaluation", "evaluation__auc_ties_zero", {"roc_auc: tied scores count ½"}, "must count ½ (you counted it 0)"),
    ("classical", "classical__lbp_nearest", {"lbp_codes: seeded", "lbp_codes: many ties", "lbp_codes: P=8, R=2"},
     "BILINEAR interpolation"),
    ("classical", "classical__lbp_bit_order", {"lbp_codes: seeded", "lbp_codes: many ties", "lbp_codes: P=8, R=2"},
     "bit order reversed"),
    ("classical", "classical__lbp_strict", {"lbp_codes"}, "must give bit 1"),
    ("classical", "classical__pca_uncentred", {"pca_fit"}, "UNcentred data"),
    ("classical", "classical__pca_eigh_ascending", {"pca_fit"}, "LARGEST singular values"),
    ("classical", "classical__transform_no_mean", {"pca_transform"}, "without subtracting the mean"),
    ("siamese", "siamese__flipped_labels", {"contrastive_loss"}, "flip the label convention"),
    ("siamese", "siamese__squared_distance", {"euclidean_distance: seeded", "contrastive_loss: seeded",
                                              "contrastive_loss: labels"}, "SQUARED distance"),
    ("siamese", "siamese__no_hinge", {"contrastive_loss: seeded", "contrastive_loss: labels",
                                      "contrastive_loss: different pairs beyond"}, "forgot the max(0, ·)"),
    ("margin-softmax", "margin_softmax__features_not_normalised", {"cosine_logits", "margin_softmax_loss"},
     "features are not L2-normalised"),
    ("margin-softmax", "margin_softmax__weights_not_normalised", {"cosine_logits", "margin_softmax_loss"},
     "identity weights are not L2-normalised"),
    ("margin-softmax", "margin_softmax__margin_on_every_logit", {"arcface_logits", "margin_softmax_loss"},
     "margin was applied to EVERY identity's logit"),
    ("margin-softmax", "margin_softmax__margin_in_degrees", {"arcface_logits", "margin_softmax_loss"},
     "m is given in RADIANS"),
    ("margin-softmax", "margin_softmax__angle_in_degrees", {"arcface_logits: seeded", "arcface_logits: other",
                                                            "arcface_logits: true identities", "margin_softmax_loss"},
     "your angle θ is in degrees"),
    ("margin-softmax", "margin_softmax__no_scale", {"arcface_logits", "margin_softmax_loss"}, "scale s is missing"),
    ("margin-softmax", "margin_softmax__no_safe_form", {"arcface_logits: true identities",
                                                        "margin_softmax_loss: faces far"}, "safe form"),
    ("triplet-mining", "triplet_mining__squared", {"pairwise_distances", "batch_hard_triplet_loss: seeded",
                                                   "batch_hard_triplet_loss: batch with singleton"}, "SQUARED"),
    ("triplet-mining", "triplet_mining__diagonal", {"valid_positive_mask", "batch_hard_triplet_loss: batch with singleton"},
     "anchor paired with itself"),
    ("triplet-mining", "triplet_mining__no_clip", {"pairwise_distances: seeded"}, "NaN"),
    ("triplet-mining", "triplet_mining__mean_over_all_anchors", {"batch_hard_triplet_loss: batch with singleton"},
     "you averaged over every anchor"),
    ("grouped-vae", "grouped_vae__kl_sign", {"kl_diag_gaussians: seeded", "kl_diag_gaussians: p = N(0, I)",
                                            "kl_diag_gaussians: very confident"}, "KL has the wrong sign"),
    ("grouped-vae", "grouped_vae__kl_reversed", {"kl_diag_gaussians: seeded", "kl_diag_gaussians: p = N(0, I)",
                                                "kl_diag_gaussians: very confident"}, "arguments are reversed"),
    ("grouped-vae", "grouped_vae__variance_as_scale", {"reparameterize: seeded"}, "σ = exp(½ log σ²)"),
    ("gan-disentangler", "gan_disentangler__compare_original", {"attribute_cycle_loss: seeded"}, "ORIGINAL ones"),
    ("gan-disentangler", "gan_disentangler__in_place", {"swap_attributes"}, "z[perm[i], S]"),
    # code that would end or hang the grader: the grader stays up, fails those checks and says why
    ("triplet-mining", "triplet_mining__sys_exit", {"pairwise_distances"}, "your code called sys.exit(0)"),
    ("triplet-mining", "triplet_mining__endless_loop", {"pairwise_distances"},
     "stopped after 8 s: `pairwise_distances` did not finish (an endless loop?)"),
    ("triplet-mining", "triplet_mining__process_crash", {"pairwise_distances"},
     "the grading process crashed while running `pairwise_distances` (exit code 3)"),
]


@pytest.mark.parametrize("name,answer,failing,phrase", MISTAKES, ids=[m[1] for m in MISTAKES])
def test_typical_mistake_loses_the_right_points_with_a_diagnosis(name, answer, failing, phrase):
    a = get(name)
    report = grade(a, _file(answer), timeout_s=8 if "endless" in answer else CHECK_TIMEOUT_S)
    failed = report.failed()
    expected = [c.name for c in a.checks if any(c.name.startswith(prefix) for prefix in failing)]
    assert failed == expected, report.format()
    assert report.score == report.total - sum(c.points for c in a.checks if c.name in expected)
    assert any(phrase in report.message(n) for n in failed), report.format()
    assert not report.passed


def test_a_mean_over_every_anchor_is_not_diagnosed_as_the_diagonal():
    """Both mistakes give anchors without a positive a place in the mean; with the diagonal masked (its
    checks pass), the hint must not send the student to valid_positive_mask."""
    a = get("triplet-mining")
    singletons = "batch_hard_triplet_loss: batch with singleton identities (no valid positive)"
    mean_over_all = grade(a, _file("triplet_mining__mean_over_all_anchors"))
    assert mean_over_all.failed() == [singletons], mean_over_all.format()
    assert "anchor paired with itself" not in mean_over_all.message(singletons)
    diagonal = grade(a, _file("triplet_mining__diagonal"))
    assert "anchor paired with itself" in diagonal.message(singletons)
    assert "averaged over every anchor" not in diagonal.message(singletons)


def test_in_place_swap_is_named():
    report = grade(get("gan-disentangler"), _file("gan_disentangler__in_place"))
    assert "modified its input z in place" in report.message("swap_attributes: leaves the input z unchanged")


@pytest.mark.parametrize("name", names())
def test_untouched_template_reports_not_implemented(name):
    a = get(name)
    report = grade(a, a.template)
    assert report.score == 0 and len(report.results) == len(a.checks)
    for r in report.results:
        assert "not implemented yet" in r.message and "NotImplementedError" in r.message, r.message
    text = a.template.read_text()
    for fn in a.functions:
        assert f"def {fn}(" in text
    lines = [ln.strip() for ln in text.splitlines()]
    assert lines.count("### YOUR CODE START ###") == lines.count("### YOUR CODE END ###") == len(a.functions)


def test_crashing_and_broken_files_get_clear_messages(tmp_path):
    crash = tmp_path / "siamese.py"
    crash.write_text("import numpy as np\n"
                     "def euclidean_distance(a, b):\n    return np.linalg.norm(a - b, axis=2)\n"
                     "def contrastive_loss(a, b, same, margin=1.0):\n    raise KeyError('oops')\n")
    report = grade(get("siamese"), crash)
    assert report.score == 0
    assert "`euclidean_distance` raised AxisError" in report.results[0].message
    assert "line 3 of siamese.py" in report.results[0].message
    assert "`contrastive_loss` raised KeyError" in report.message("contrastive_loss: seeded pairs around the margin (m = 1.5)")

    broken = tmp_path / "broken.py"
    broken.write_text("def pairwise_distances(emb)\n    return emb\n")
    report = grade(get("triplet-mining"), broken)
    assert report.score == 0 and all("could not import" in r.message and "SyntaxError" in r.message
                                     for r in report.results)
    missing = grade(get("triplet-mining"), tmp_path / "nope.py")
    assert "does not exist" in missing.results[0].message

    for body, phrase in (("import sys\nsys.exit(2)\n", "your code called sys.exit(2)"),
                         ("while True:\n    pass\n", "stopped after 5 s: importing")):
        (tmp_path / "at_import.py").write_text(body)
        report = grade(get("triplet-mining"), tmp_path / "at_import.py", load_timeout_s=5)
        assert report.score == 0 and all(phrase in r.message for r in report.results), report.format()


def test_cli_list_start_check(tmp_path, capsys):
    assert main(["assignment", "list"]) == 0
    out = capsys.readouterr().out
    for name in names():
        assert name in out

    assert main(["assignment", "start", "triplet-mining", "--dir", str(tmp_path)]) == 0
    target = tmp_path / "triplet_mining.py"
    assert target.read_text() == get("triplet-mining").template.read_text()
    target.write_text("# my work\n")
    assert main(["assignment", "start", "triplet-mining", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert target.read_text() == "# my work\n"  # not overwritten

    assert main(["assignment", "check", "siamese", "--file", str(_file("siamese"))]) == 0
    assert f"Score: {get('siamese').total_points}/{get('siamese').total_points}" in capsys.readouterr().out
    assert main(["assignment", "check", "siamese", "--file", str(_file("siamese__flipped_labels"))]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "flip the label convention" in out
    assert main(["assignment", "check", "triplet-mining", "--file", str(_file("triplet_mining__sys_exit"))]) == 1
    assert "called sys.exit(0)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["assignment", "check", "no-such-assignment"])  # argparse accepts it; get() raises KeyError → exit 2?


# -- the grader's references against independent oracles --------------------------------------
def test_lbp_reference_matches_scikit_image():
    from skimage.feature import local_binary_pattern

    rng = np.random.default_rng(0)
    for P, R in [(8, 1.0), (8, 2.0), (16, 2.0)]:
        img = rng.integers(0, 256, (25, 31)).astype(np.uint8)
        m = int(np.ceil(R))
        expected = local_binary_pattern(img, P, R, method="default").astype(np.int64)[m:-m, m:-m]
        np.testing.assert_array_equal(ref.lbp_codes(img, P, R), expected)


def test_pca_reference_matches_sklearn():
    from sklearn.decomposition import PCA

    X = np.random.default_rng(1).normal(0, 1, (40, 9)) * np.linspace(3, 0.3, 9) + 4
    mean, comps = ref.pca_fit(X, 4)
    sk = PCA(4, svd_solver="full").fit(X)
    np.testing.assert_allclose(mean, sk.mean_, atol=1e-12)
    np.testing.assert_allclose(np.abs(np.sum(comps * sk.components_, 1)), 1.0, atol=1e-9)  # same axes up to sign
    np.testing.assert_allclose(np.abs(ref.pca_transform(X, mean, comps)), np.abs(sk.transform(X)), atol=1e-9)


def test_triplet_and_contrastive_references_match_brute_force_loops():
    rng = np.random.default_rng(2)
    emb, labels, margin = rng.normal(0, 1, (10, 3)), np.array([0, 0, 1, 1, 1, 2, 3, 3, 4, 4]), 0.7
    losses = []
    for a in range(10):
        pos = [p for p in range(10) if labels[p] == labels[a] and p != a]
        neg = [n for n in range(10) if labels[n] != labels[a]]
        if pos and neg:
            dp = max(np.linalg.norm(emb[a] - emb[p]) for p in pos)
            dn = min(np.linalg.norm(emb[a] - emb[n]) for n in neg)
            losses.append(max(0.0, margin + dp - dn))
    assert ref.batch_hard_triplet_loss(emb, labels, margin) == pytest.approx(np.mean(losses), abs=1e-12)

    a, b, same = emb[:5], emb[5:], np.array([1, 0, 1, 0, 0])
    loop = [0.5 * np.linalg.norm(x - y) ** 2 if s else 0.5 * max(0.0, margin - np.linalg.norm(x - y)) ** 2
            for x, y, s in zip(a, b, same)]
    np.testing.assert_allclose(ref.contrastive_loss(a, b, same, margin), loop, atol=1e-12)


def test_margin_softmax_reference_matches_facelabs_margin_loss_and_head():
    """The grader's ArcFace is plain NumPy, written apart from facelab.losses.margin; both give the same
    logits and loss (the brute-force tests/margin_numpy.py too), on both sides of θ + m = π, and its
    cosines are the CosineClassifier head's. Away from cos θ = ±1, where facelab keeps slopes finite."""
    from margin_numpy import margin_loss

    from facelab.losses.margin import MarginSoftmaxLoss, margin_logits
    from facelab.nets.heads import CosineClassifier

    rng = np.random.default_rng(6)
    f, w = rng.normal(0, 1, (16, 8)) * rng.uniform(0.3, 3.0, (16, 1)), rng.normal(0, 1, (5, 8))
    labels = rng.integers(0, 5, 16)
    head = CosineClassifier(5)
    head.build((None, 8))
    head.kernel.assign(w.T.astype(np.float32))
    np.testing.assert_allclose(np.asarray(head(f.astype(np.float32))), ref.cosine_logits(f, w), atol=1e-5)

    cos = np.clip(ref.cosine_logits(f, w), -0.999, 0.999)
    cos[np.arange(4), labels[:4]] = [-0.999, -0.97, -0.9, -0.8]  # θ + m > π for the first three at m = 0.5
    for s, m in [(30.0, 0.5), (64.0, 0.2), (16.0, 0.8)]:
        logits = ref.arcface_logits(cos, labels, s, m)
        np.testing.assert_allclose(np.asarray(margin_logits(cos.astype(np.float32), labels, "arcface", s, m)), logits,
                                   rtol=1e-4, atol=1e-3)
        loss = ref.softmax_cross_entropy(logits, labels).mean()
        ours = float(MarginSoftmaxLoss("arcface", s, m)(labels, cos.astype(np.float32)))
        assert ours == pytest.approx(loss, rel=1e-4)
        assert margin_loss(cos, labels, "arcface", s, m) == pytest.approx(loss, rel=1e-9)
    assert ref.margin_softmax_loss(f, w, labels, 30.0, 0.5) == pytest.approx(
        margin_loss(ref.cosine_logits(f, w), labels, "arcface", 30.0, 0.5), rel=1e-9)


def test_kl_reference_matches_monte_carlo():
    rng = np.random.default_rng(3)
    mq, lq, mp, lp = (rng.normal(0, 0.5, (1, 3)) for _ in range(4))
    z = ref.reparameterize(np.repeat(mq, 200_000, 0), np.repeat(lq, 200_000, 0), rng.standard_normal((200_000, 3)))
    log_n = lambda z, m, lv: -0.5 * (np.log(2 * np.pi) + lv + (z - m) ** 2 / np.exp(lv))
    mc = np.mean(np.sum(log_n(z, mq, lq) - log_n(z, mp, lp), 1))
    assert ref.kl_diag_gaussians(mq, lq, mp, lp)[0] == pytest.approx(mc, abs=0.02)


# -- runs on real LFW data ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["evaluation", "classical"])
def test_run_quick_on_real_lfw(name, tmp_path, lfw):
    a = get(name)
    assert main(["assignment", "run", name, "--file", str(_file(a.module_name)), "--quick",
                 "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / f"assignment-{name}.json").read_text())
    assert result["assignment"] == name and result["quick"] is True
    if name == "evaluation":
        v1 = result["view1"]
        assert v1["test_pairs"] == 400 and v1["train_pairs"] == 400
        assert v1["test_accuracy"] == v1["reference"]["test_accuracy"]
        assert v1["test_auc"] == pytest.approx(v1["reference"]["test_auc"], abs=1e-12)
        assert 0.55 < v1["test_accuracy"] < 0.8  # raw pixels on LFW: better than chance, far from good
        assert result["view2_raw_pixels"]["fold_accuracy"] == result["view2_raw_pixels"]["reference"]["fold_accuracy"]
        assert len(result["view2_raw_pixels"]["fold_accuracy"]) == 10
    else:
        for part in ("lbp", "eigenfaces"):
            assert result[part]["student"] == pytest.approx(result[part]["reference"], abs=1e-12)
            assert 0.55 < result[part]["student"]["test_accuracy"] < 0.9
        assert result["lbp"]["code_agreement_first_20_images"] == 1.0


def test_margin_softmax_run_quick_on_real_lfw(tmp_path, lfw):
    assert main(["assignment", "run", "margin-softmax", "--file", str(_file("margin_softmax")), "--quick",
                 "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "assignment-margin-softmax.json").read_text())
    assert result["assignment"] == "margin-softmax" and result["quick"] is True
    before, training = result["loss_before_training"], result["training"]
    assert before["student"] == pytest.approx(before["reference"], rel=1e-9)
    assert training["loss_history"] == pytest.approx(training["reference_loss_history"], rel=1e-6)
    assert training["loss_history"][-1] < training["loss_history"][0]
    assert result["faces_winning_with_the_margin"] <= result["faces_nearest_their_own_centre"]
    accuracy = result["test_accuracy"]
    assert accuracy["after"] == pytest.approx(accuracy["reference_after"], abs=0.01)
    assert 0.55 < accuracy["before"] < 0.8  # a linear projection of pixels: better than chance, far from good


def test_run_with_unfinished_file_fails_cleanly(tmp_path, capsys, lfw):
    a = get("siamese")
    assert main(["assignment", "run", "siamese", "--file", str(a.template), "--quick", "--out", str(tmp_path)]) == 1
    assert "not implemented yet" in capsys.readouterr().err
    assert not (tmp_path / "assignment-siamese.json").exists()


def test_grader_references_agree_with_facelabs_own_implementations():
    """The grader's plain-NumPy references are independent oracles; they must also agree with the
    package's LBP, PCA, contrastive loss and batch-hard loss, so the course has one truth."""
    from facelab.classical.lbp import local_binary_pattern
    from facelab.classical.pca import PCA
    from facelab.losses.contrastive import contrastive_per_pair
    from facelab.losses.tfa import triplet_hard_loss

    rng = np.random.default_rng(4)
    for P, R in [(8, 1.0), (8, 2.0), (16, 3.0)]:
        img = rng.integers(0, 256, (27, 30)).astype(np.uint8)
        m = int(np.ceil(R))
        np.testing.assert_array_equal(ref.lbp_codes(img, P, R), local_binary_pattern(img, P, R)[m:-m, m:-m])

    X = rng.normal(0, 1, (30, 12)) * np.linspace(4, 0.5, 12)
    mean, comps = ref.pca_fit(X, 5)
    ours = PCA(5).fit(X)
    np.testing.assert_allclose(ours.mean_, mean, atol=1e-12)
    np.testing.assert_allclose(np.abs(np.sum(ours.components_ * comps, 1)), 1.0, atol=1e-9)

    a, b = rng.normal(0, 0.5, (8, 4)).astype(np.float32), rng.normal(0, 0.5, (8, 4)).astype(np.float32)
    same = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    np.testing.assert_allclose(np.asarray(contrastive_per_pair(a, b, same.astype(np.float32), 1.0)),
                               ref.contrastive_loss(a, b, same, 1.0), rtol=1e-5, atol=1e-6)

    emb = rng.normal(0, 1, (12, 6)).astype(np.float32)
    labels = np.repeat(np.arange(4), 3)  # every anchor has positives and negatives: both definitions agree
    assert float(triplet_hard_loss(labels, emb, margin=0.5)) == pytest.approx(
        ref.batch_hard_triplet_loss(emb, labels, 0.5), rel=1e-5)


def test_a_run_prints_what_the_students_code_did(capsys):
    from facelab.assignments.cli import run_summary

    numbers = {"training": {"loss_history": [0.31, 0.25, 0.2]},
               "test_accuracy": {"pairs": 1000, "before": 0.6133, "after": 0.65, "reference_after": 0.652}}
    assert run_summary(numbers) == [
        "training loss with your code: 0.3100 → 0.2000 over 2 steps",
        "test accuracy on 1000 View 1 test pairs: 61.3 % before training → 65.0 % after (the reference solution: 65.2 %)"]
    assert run_summary({"view1": {"test_accuracy": 0.7}}) == []  # an assignment without training says nothing more
