"""Unit 1 assignment — evaluation: the accuracy-maximising threshold, the 10-fold protocol, AUC by hand."""
from __future__ import annotations

import numpy as np

from . import reference as ref
from .grading import Assignment, Checks, Fail, call, expect_close

checks = Checks()


def _scores(seed: int, n: int = 200):
    rng = np.random.default_rng(seed)
    same = rng.random(n) < 0.5
    return rng.normal(0, 1, n) + 1.2 * same, same


def _grade_threshold(student, scores, same, what):
    t = call(student, "best_threshold", scores, same)
    if isinstance(t, (tuple, list)) or np.ndim(t) != 0:
        raise Fail(f"{what}: `best_threshold` must return one number (the threshold), got {t!r}")
    t = float(t)
    if not np.isfinite(t):
        raise Fail(f"{what}: threshold is {t}")
    best_t, best = ref.best_threshold_and_accuracy(scores, same)
    got = ref.accuracy_at(scores, same, t)
    if got >= best - 1e-12:
        return
    flipped_best = ref.best_threshold_and_accuracy(-scores, same)[1]
    if np.isclose(np.mean((scores < t) == same), flipped_best) and flipped_best > got:
        raise Fail(f"{what}: your threshold maximises the accuracy of 'same ⇔ score < t'. Scores are "
                   "similarities (higher = more alike): the rule is same ⇔ score ≥ t")
    if np.isclose(np.mean((scores > t) == same), best):
        raise Fail(f"{what}: your threshold is right for 'same ⇔ score > t' but the convention is ≥ "
                   f"(a pair scoring exactly t counts as same): return a t with accuracy {best:.4f} under ≥")
    ties = len(np.unique(scores)) < len(scores)
    raise Fail(f"{what}: your threshold t={t:.6g} gives accuracy {got:.4f} on these pairs; the best "
               f"threshold gives {best:.4f} (e.g. t={best_t:.6g}; rule same ⇔ score ≥ t)"
               + (". With tied scores a cut between two EQUAL scores cannot be realised: try candidate "
                  "thresholds between DISTINCT sorted scores (and below/above all of them)" if ties else ""))


@checks.add("best_threshold", 3, "seeded overlapping scores (n=200)")
def _(student):
    _grade_threshold(student, *_scores(0), "seeded scores")


@checks.add("best_threshold", 2, "tied scores (rounded to 0.5)")
def _(student):
    s, y = _scores(1, 120)
    _grade_threshold(student, np.round(s * 2) / 2, y, "tied scores")


@checks.add("best_threshold", 2, "edge cases: all pairs same, one pair, exact ≥ boundary")
def _(student):
    s, _ = _scores(2, 30)
    _grade_threshold(student, s, np.ones(30, bool), "all 30 pairs are 'same'")
    _grade_threshold(student, np.array([0.3]), np.array([False]), "a single 'different' pair")
    _grade_threshold(student, np.array([0.0, 1.0, 1.0, 2.0]), np.array([False, True, True, True]),
                     "scores [0, 1, 1, 2] with labels [diff, same, same, same]")


def _folds(seed: int):
    s, y = _scores(seed, 600)
    fold = np.random.default_rng(seed + 100).permutation(np.repeat(np.arange(1, 11), 60))
    return s, y, fold


def _student_threshold(student):
    """The student's own best_threshold when it works (so the protocol check grades the protocol
    alone), else the reference."""
    s, y = _scores(0)
    try:
        t = float(call(student, "best_threshold", s, y))
        if ref.accuracy_at(s, y, t) >= ref.best_threshold_and_accuracy(s, y)[1] - 1e-12:
            return lambda sc, sa: float(student.best_threshold(sc.copy(), sa.copy()))
    except (Fail, TypeError, ValueError):
        pass
    return ref.best_threshold


def _grade_folds(student, s, y, fold, what):
    got = call(student, "fold_accuracies", s, y, fold)
    choose = _student_threshold(student)
    expected = ref.fold_accuracies(s, y, fold, choose)
    on_test = np.array([ref.accuracy_at(s[fold == k], y[fold == k], choose(s[fold == k], y[fold == k]))
                        for k in np.unique(fold)])
    on_all_t = choose(s, y)
    on_all = np.array([ref.accuracy_at(s[fold == k], y[fold == k], on_all_t) for k in np.unique(fold)])
    expect_close(got, expected, what, mistakes={
        "your accuracies are those of a threshold chosen on the TEST fold itself — optimistic and not "
        "allowed: choose the threshold on the other nine folds only": on_test,
        "your accuracies are those of ONE threshold chosen on all pairs (test fold included): for fold k "
        "choose it on the other folds only": on_all,
    }, hint="fold k: threshold by best_threshold on the pairs with fold != k, accuracy on fold == k, "
            "folds in sorted order")


@checks.add("fold_accuracies", 3, "10 folds of 60 pairs (fold ids 1..10, shuffled)")
def _(student):
    _grade_folds(student, *_folds(3), "10-fold accuracies")


@checks.add("fold_accuracies", 1, "two folds")
def _(student):
    s, y = _scores(4, 40)
    _grade_folds(student, s, y, np.repeat([0, 1], 20), "2-fold accuracies")


def _grade_auc(student, s, y, what, mistakes=None):
    got = call(student, "roc_auc", s, y)
    expect_close(got, ref.roc_auc(s, y), what, rtol=1e-9, atol=1e-9, mistakes=mistakes)


def _auc_ties(s, y, tie_value):
    pos, neg = s[y][:, None], s[~y][None, :]
    return float(((pos > neg) + tie_value * (pos == neg)).mean())


@checks.add("roc_auc", 2, "seeded scores vs sklearn.metrics.roc_auc_score")
def _(student):
    s, y = _scores(5)
    _grade_auc(student, s, y, "AUC", {"you get 1 − AUC: a same pair should score HIGHER than a different "
                                      "pair (count pos > neg)": 1 - ref.roc_auc(s, y)})


@checks.add("roc_auc", 2, "tied scores count ½")
def _(student):
    s, y = _scores(6, 100)
    s = np.round(s)
    _grade_auc(student, s, y, "AUC with ties", {
        "a tie between a same and a different pair must count ½ (you counted it 0)": _auc_ties(s, y, 0.0),
        "a tie between a same and a different pair must count ½ (you counted it 1)": _auc_ties(s, y, 1.0),
        "you get 1 − AUC: a same pair should score HIGHER than a different pair": 1 - ref.roc_auc(s, y)})


@checks.add("roc_auc", 1, "only one class present raises ValueError")
def _(student):
    s, _ = _scores(7, 10)
    fn = getattr(student, "roc_auc", None)
    if fn is None:
        raise Fail("your file has no function `roc_auc`")
    try:
        value = fn(s, np.ones(10, bool))
    except NotImplementedError:
        raise Fail("`roc_auc` is not implemented yet (it still raises NotImplementedError)") from None
    except ValueError:
        return
    except Exception as exc:
        raise Fail(f"AUC is undefined without both classes: raise ValueError, not {type(exc).__name__}: {exc}")
    raise Fail(f"AUC is undefined when every pair is 'same' (no negatives), but you returned {value!r}: "
               "raise ValueError naming the problem")


# -- run on real data ---------------------------------------------------------------------------
def run(student, *, lfw, quick: bool = False, seed: int = 0, progress: bool = False) -> dict:
    """View 1 verification of mean-centred raw pixels (cosine) with the student's threshold and
    AUC; then the student's 10-fold protocol on View 2 pairs scored by raw-pixel cosine."""
    from ..data.preprocess import PreprocessConfig
    from ..metrics.distances import cosine
    from .realdata import balanced_subset, flat, pair_data, view1

    config = PreprocessConfig(size=32 if quick else 64)
    train, test = view1(lfw, config, per_class=200 if quick else None, seed=seed)
    mean = flat(train.images).mean(0)  # the training people's mean face (pairsDevTrain images)
    score = lambda d: cosine(flat(d.images)[d.a] - mean, flat(d.images)[d.b] - mean)
    s_train, s_test = score(train), score(test)
    t = float(student.best_threshold(s_train, train.same))
    t_ref, train_acc_ref = ref.best_threshold_and_accuracy(s_train, train.same)
    view1_result = {
        "train_pairs": len(train), "test_pairs": len(test),
        "threshold": t, "train_accuracy": ref.accuracy_at(s_train, train.same, t),
        "test_accuracy": ref.accuracy_at(s_test, test.same, t), "test_auc": float(student.roc_auc(s_test, test.same)),
        "reference": {"threshold": t_ref, "train_accuracy": train_acc_ref,
                      "test_accuracy": ref.accuracy_at(s_test, test.same, t_ref),
                      "test_auc": ref.roc_auc(s_test, test.same)},
    }
    pairs2 = balanced_subset(lfw.pairs("view2"), 30 if quick else None, seed, per_fold=True)
    v2 = pair_data(lfw, pairs2, config)
    s2 = cosine(flat(v2.images)[v2.a], flat(v2.images)[v2.b])  # no training: uncentred pixels
    folds = np.asarray(student.fold_accuracies(s2, v2.same, v2.fold), dtype=float)
    folds_ref = ref.fold_accuracies(s2, v2.same, v2.fold)
    view2_result = {"pairs": len(v2), "fold_accuracy": folds.tolist(), "accuracy_mean": float(folds.mean()),
                    "accuracy_se": float(folds.std(ddof=1) / np.sqrt(len(folds))),
                    "reference": {"fold_accuracy": folds_ref.tolist(), "accuracy_mean": float(folds_ref.mean())}}
    return {"method": "raw pixels (cosine; View 1 mean-centred on the pairsDevTrain images)",
            "preprocess": config.to_dict(), "view1": view1_result, "view2_raw_pixels": view2_result}


ASSIGNMENT = Assignment("evaluation", 1, "Verification thresholds, the 10-fold protocol and ROC-AUC by hand",
                        ("best_threshold", "fold_accuracies", "roc_auc"), checks, run)
