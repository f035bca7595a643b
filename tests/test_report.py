"""Merging runs over separate folds (:func:`facelab.evaluation.report.merge_results`,
``facelab report --merge``): the same numbers as one run over those folds."""
from __future__ import annotations

import pytest


def test_merged_per_fold_runs_equal_one_run_over_those_folds(tmp_path, cache_dir, capsys):
    from facelab.evaluation.compare import compare
    from facelab.evaluation.report import merge_results

    kw = dict(protocol="view2", quick=False, identification=False, progress=False, cache_dir=cache_dir,
              log=lambda *_: None)
    whole = compare(["eigenfaces"], folds=[2, 5], out_dir=tmp_path / "whole", **kw)
    for k in (5, 2):
        compare(["eigenfaces"], folds=[k], out_dir=tmp_path / f"fold{k}", **kw)
    said = []
    merged = merge_results([tmp_path / "fold5", tmp_path / "fold2"], tmp_path / "merged", log=said.append)
    assert said == [f"wrote results.json, results.md, scores.json, roc.png in {tmp_path / 'merged'}"]
    a, b = merged["methods"]["eigenfaces"], whole["methods"]["eigenfaces"]
    assert merged["folds"] == [2, 5]
    for key in ("fold_accuracy", "thresholds", "accuracy_mean", "accuracy_se", "auc", "eer", "tar_at_far"):
        assert a[key] == b[key], key  # scores.json holds the float64 scores exactly
    assert (tmp_path / "merged" / "roc.png").is_file()
    assert (tmp_path / "merged" / "scores.json").read_text().count("\n") == 1  # numbers on one line
    again = merge_results([tmp_path / "merged"], tmp_path / "merged-again")  # a merged folder merges again
    assert again["methods"]["eigenfaces"]["auc"] == b["auc"]
    from facelab.cli import main  # the command line says what it wrote, then the table

    assert main(["report", "--merge", str(tmp_path / "fold2"), str(tmp_path / "fold5"),
                 "--out", str(tmp_path / "cli")]) == 0
    out = capsys.readouterr().out
    assert f"wrote results.json, results.md, scores.json, roc.png in {tmp_path / 'cli'}" in out
    assert "| eigenfaces |" in out
    with pytest.raises(ValueError, match=r"fold\(s\) \[2\] appear in more than one run"):
        merge_results([tmp_path / "fold2", tmp_path / "whole"], tmp_path / "bad")
    with pytest.raises(ValueError, match="not a facelab compare results folder"):
        merge_results([tmp_path / "fold2", tmp_path / "nothing"], tmp_path / "bad")
