"""Records read back and printed across runs (:mod:`facelab.evaluation.records`, ``facelab report --runs``),
on the committed records of ``reports/``: every cell is checked against the results file it came from."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from facelab.evaluation.records import (committed_results, expand_runs, load_results, runs_table,
                                        training_history)
from facelab.evaluation.report import pct, read_results

ROOT = Path(__file__).resolve().parents[1]
TRIPLETS = ROOT / "reports" / "gpu-h100" / "triplet-300ep"


def _rows(table: str) -> list[list[str]]:
    lines = table.strip().splitlines()
    assert set(lines[1]) <= set("|-")
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in [lines[0], *lines[2:]]]


def test_each_row_is_one_run_and_method_with_the_arguments_in_which_the_runs_differ():
    runs = [TRIPLETS / "view1" / "semi-hard-e40-s4-v1", TRIPLETS / "view1" / "semi-hard-e150-s8-v1"]
    head, *rows = _rows(runs_table(runs))
    assert head == ["run", "method", "arguments", "accuracy %", "AUC", "EER %", "threshold", "fit s"]  # View 1: one threshold
    expected = [(run.name, name, m) for run in runs for name, m in json.loads((run / "results.json").read_text())["methods"].items()]
    assert len(rows) == len(expected) == 4
    for row, (label, name, m) in zip(rows, expected):
        assert row[:2] == [f"`{label}`", name]
        assert row[3:] == [f"{pct(m['accuracy_mean'])} ± {pct(m['accuracy_se'])}", f"{m['auc']:.4f}", pct(m["eer"]),
                           f"{m['thresholds'][0]:.3f}", f"{m['fit_seconds']:.0f}"]
    # epochs and shift differ between the two runs; width, p and where each network was kept do not count
    assert rows[0][2] == "epochs=40, shift=4" and rows[2][2] == "epochs=150, shift=8"


def test_against_prints_the_differences_from_the_other_run_fold_by_fold():
    cpu, gpu = TRIPLETS / "cpu-rescore-seed0-tta", TRIPLETS / "view2-seed0"
    runs, against = [cpu / "fold8", cpu], [gpu / "semi-hard-gpu-fold8-tta", TRIPLETS / "merged-seed0-tta"]
    head, *rows = _rows(runs_table(runs, against=against, per_fold=True))
    assert head[-12:] == ["Δ accuracy (points)", "Δ AUC"] + [f"fold {k}" for k in range(1, 11)]
    mine, theirs = load_results(cpu / "fold8")["methods"], load_results(against[0])["methods"]
    jb = next(r for r in rows if r[:2] == ["`fold8`", "triplet-semi-hard+jb"])
    a, b = mine["triplet-semi-hard+jb"], theirs["triplet-semi-hard+jb"]
    assert jb[-12] == f"{100 * (a['accuracy_mean'] - b['accuracy_mean']):+.2f}" == "+1.50"  # a threshold moved
    assert jb[-11] == f"{a['auc'] - b['auc']:+.5f}"
    assert jb[-3] == jb[-12] and jb[-10:-3] + jb[-2:] == ["—"] * 9  # one fold: the other nine are blank
    merged = next(r for r in rows if r[:2] == ["`cpu-rescore-seed0-tta`", "triplet-semi-hard"])
    a, b = load_results(cpu)["methods"]["triplet-semi-hard"], load_results(against[1])["methods"]["triplet-semi-hard"]
    assert merged[-10:] == [f"{100 * (x - y):+.2f}" for x, y in zip(a["fold_accuracy"], b["fold_accuracy"])]
    with pytest.raises(ValueError, match=r"--against needs one run per --runs run \(2\), got 1"):
        runs_table(runs, against=against[:1])
    cluster = ROOT / "reports" / "cpu" / "cluster-lfw-lbp+jb" / "cluster.json"
    with pytest.raises(ValueError, match="cluster.json: not a facelab compare results file"):
        runs_table([cpu / "fold8"], against=[cluster])  # a reference is checked as a run is
    with pytest.raises(ValueError, match="batch-all-e300-s4-v1: has no triplet-semi-hard to compare"):
        runs_table([cpu / "fold8"], against=[TRIPLETS / "view1" / "batch-all-e300-s4-v1"])


def test_seeds_and_threshold_rules_count_as_arguments_and_ten_folds_have_no_threshold_column():
    cpu, gpu = ROOT / "reports" / "cpu", ROOT / "reports" / "gpu-h100" / "runs"
    head, *rows = _rows(runs_table([cpu / "triplet-semi-hard-v1-40ep" / "plain", cpu / "triplet-semi-hard-v1-40ep-seed1" / "plain"]))
    assert [r[2] for r in rows] == ["seed=0", "seed=1"]
    _, *rows = _rows(runs_table([gpu / "semi-hard-small-fold1", gpu / "semi-hard-small-heldout-fold1"]))
    assert [r[2] for r in rows] == ['threshold="train"', 'threshold="held-out"']
    head, *_ = _rows(runs_table([TRIPLETS / "merged-seed0"]))
    assert "threshold" not in head and "arguments" not in head  # one run: nothing differs


def test_clustering_records_get_their_own_table():
    records = sorted((ROOT / "reports" / "cpu").glob("cluster-lfw-*/cluster.json"))
    head, *rows = _rows(runs_table(records))
    assert head[2:4] == ["photos", "clustered faces"] and len(rows) == len(records) == 2
    for row, path in zip(rows, records):
        r = json.loads(path.read_text())
        assert row[1:6] == [r["method"]["name"], str(r["photos_found"]), str(r["faces"]),
                            f"{r['left_out']['several_faces']} / {r['left_out']['no_face']} / {r['left_out']['other']}",
                            f"{r['people_estimated']} / {r['true_people']}"]
        assert row[6:9] == [f"{r['scores'][k]:.3f}" for k in ("purity", "nmi", "ari")]
        assert row[-1].endswith(f"({r['seconds']['total']:.0f})")
    with pytest.raises(ValueError, match="takes only such records"):
        runs_table([records[0], TRIPLETS / "merged-seed0"])


def test_training_history_reads_history_json_and_the_older_statistics_file(tmp_path):
    run = TRIPLETS / "view1" / "batch-hard-e300-s4-v1"
    lines = (run / "statistics.jsonl").read_text().splitlines()
    stats = [json.loads(line) for line in lines]
    history = training_history(run)
    assert history["loss"] == json.loads((run / "history.json").read_text())["history"]["loss"]
    assert history["triplet_frac_easy"] == [row["triplet/frac_easy"] for row in stats]
    epochs = [10, 100, 300]
    head, row = _rows(runs_table([run], epochs=epochs))
    assert head[-1] == "epochs collapsed" and head[-2] == "triplet_spread, epoch 10 / 100 / 300"
    assert row[-2] == " / ".join(f"{stats[e - 1]['triplet/spread']:.2f}" for e in epochs)
    assert row[-1] == str(sum(int(r["triplet/collapsed"]) for r in stats)) != "0"  # batch-hard sat near collapse
    head, row = _rows(runs_table([run], epochs=[1, 300], keys=["loss"]))
    assert head[-2:] == ["loss, epoch 1 / 300", "epochs collapsed"]
    assert row[-2] == f"{history['loss'][0]:.3f} / {history['loss'][-1]:.3f}"
    # what a run writes now, history.json's own triplet_* keys, wins over the older file
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    written = json.loads((copy / "history.json").read_text())
    written["history"]["triplet_spread"] = [0.5] * len(stats)
    (copy / "history.json").write_text(json.dumps(written))
    assert training_history(copy)["triplet_spread"] == [0.5] * len(stats)
    # a rescoring of a kept network trained nothing: its history cells are blank, not an error
    _, row = _rows(runs_table([TRIPLETS / "view1" / "batch-hard-e300-s4-v1-tta"], epochs=epochs))
    assert row[-5:] == ["—"] * 5
    with pytest.raises(ValueError, match="--epochs 301 is beyond its 300 epochs of loss"):
        runs_table([run], epochs=[301])
    with pytest.raises(ValueError, match="no history.json"):
        training_history(TRIPLETS / "view1" / "batch-hard-e300-s4-v1-tta")


def test_patterns_expand_in_natural_order_and_bad_paths_are_named(tmp_path):
    runs = expand_runs([str(TRIPLETS / "view2-seed0" / "semi-hard-gpu-fold*-tta")])
    assert [r.name for r in runs] == [f"semi-hard-gpu-fold{k}-tta" for k in range(1, 11)]
    with pytest.raises(ValueError, match=r"--runs .*nowhere-\*: matches no results folder"):
        expand_runs([str(tmp_path / "nowhere-*")])
    with pytest.raises(ValueError, match=rf"{tmp_path}: no results.json or merged-results.json there"):
        runs_table([tmp_path])
    (tmp_path / "results.json").write_text(json.dumps({"accuracy": {}, "importance_samples": 10}))
    with pytest.raises(ValueError, match="not a facelab compare results file"):
        runs_table([tmp_path])


def test_committed_records_are_read_by_name_and_checked(tmp_path, monkeypatch):
    results = committed_results("cpu/classical-view2")
    assert results == read_results(ROOT / "reports" / "cpu" / "classical-view2")
    again, scores = committed_results("cpu/classical-view2", scores=True)
    assert again == results and set(scores) == set(results["methods"])
    few_shot = committed_results("cpu/grouped-vae-fewshot")  # not a compare record: read as it is
    assert few_shot == json.loads((ROOT / "reports" / "cpu" / "grouped-vae-fewshot" / "results.json").read_text())
    monkeypatch.setenv("FACELAB_REPORTS", str(tmp_path / "elsewhere"))
    with pytest.raises(ValueError, match="no results records at .*elsewhere.*FACELAB_REPORTS"):
        committed_results("cpu/classical-view2")


def test_the_command_line_prints_the_table_or_fills_a_readme_block(tmp_path, capsys, monkeypatch):
    from facelab.cli import main

    monkeypatch.chdir(ROOT)
    pattern = "reports/gpu-h100/triplet-300ep/merged-seed*"
    assert main(["report", "--runs", pattern, "--per-fold"]) == 0
    table = capsys.readouterr().out
    assert table == runs_table(expand_runs([pattern]), per_fold=True)
    readme = tmp_path / "README.md"
    readme.write_text("# Runs\n\n<!-- results:seeds:begin -->\nold\n<!-- results:seeds:end -->\nafter\n")
    assert main(["report", "--runs", pattern, "--per-fold", "--readme", str(readme), "--block", "seeds"]) == 0
    text = readme.read_text()
    assert f"Printed by `facelab report --runs '{pattern}' --per-fold --readme {readme} --block seeds`.\n\n{table}" in text
    assert "\nold\n" not in text and text.endswith("<!-- results:seeds:end -->\nafter\n")
    assert main(["report", "--runs", pattern, "--readme", str(readme), "--block", "other"]) == 2
    assert "has no <!-- results:other:begin -->" in capsys.readouterr().err
    assert main(["report", "reports/cpu/classical-view2/results.json", "--runs", pattern]) == 2
    assert "--runs makes a table of its own" in capsys.readouterr().err
