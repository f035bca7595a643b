"""``facelab compare`` loses nothing: inputs are checked before the first fit, each method is saved
as it finishes and an interrupted run resumes, a folder of other results is refused (or joined when
the protocol and settings agree), and a half-written or mixed results folder is never read as a run.
Real LFW View 1 with the fast methods (pixels, eigenfaces)."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from facelab import io
from facelab.evaluation import runner as runner_module  # verify_each, the loop compare runs, calls its evaluator
from facelab.evaluation.compare import PROGRESS, compare
from facelab.evaluation.report import merge_results, read_results


def _run(out, methods, cache_dir, **kwargs):
    log = []
    kwargs.setdefault("protocol", "view1")
    kwargs.setdefault("identification", False)
    results = compare(methods, out_dir=out, cache_dir=cache_dir, progress=False, log=log.append, **kwargs)
    return results, "\n".join(log)


def test_bad_out_and_a_param_only_a_later_method_rejects_fail_before_any_fit(tmp_path, cache_dir, monkeypatch):
    fits = []
    monkeypatch.setattr(runner_module, "evaluate_verification", lambda *a, **k: fits.append(a) or 1 / 0)
    a_file = tmp_path / "results"
    a_file.write_text("my notes\n")
    with pytest.raises(ValueError, match=r"--out .*results is a file, not a folder"):
        _run(a_file, ["pixels"], cache_dir)
    assert a_file.read_text() == "my notes\n"
    with pytest.raises(ValueError, match=r"--out .*cannot write there"):
        _run(a_file / "inside", ["pixels"], cache_dir)
    with pytest.raises(ValueError, match="method 'pixels' got an unknown argument 'n_components'; it takes: preprocess"):
        _run(tmp_path / "out", ["eigenfaces", "pixels"], cache_dir, params={"n_components": 20})
    assert fits == [] and not (tmp_path / "out").exists()


def test_each_method_is_saved_as_it_finishes_and_the_same_command_resumes(tmp_path, cache_dir, monkeypatch):
    out = tmp_path / "out"
    real = runner_module.evaluate_verification

    def interrupted(factory, *args, **kwargs):
        if factory().config["name"] == "eigenfaces":
            raise KeyboardInterrupt  # the user pressed Ctrl-C during the second method
        return real(factory, *args, **kwargs)

    monkeypatch.setattr(runner_module, "evaluate_verification", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run(out, ["pixels", "eigenfaces"], cache_dir)
    saved = json.loads((out / PROGRESS / "pixels.json").read_text())
    assert saved["name"] == "pixels" and 0.5 < saved["entry"]["accuracy_mean"] < 0.8
    assert not (out / "results.json").exists()

    ran = []
    monkeypatch.setattr(runner_module, "evaluate_verification",
                        lambda factory, *a, **k: ran.append(factory().config["name"]) or real(factory, *a, **k))
    results, log = _run(out, ["pixels", "eigenfaces"], cache_dir)
    assert ran == ["eigenfaces"] and "pixels" in log and "finished earlier, kept" in log
    assert list(results["methods"]) == ["pixels", "eigenfaces"]
    assert results["methods"]["pixels"]["accuracy_mean"] == saved["entry"]["accuracy_mean"]
    assert list(read_results(out)["methods"]) == ["pixels", "eigenfaces"] and not (out / PROGRESS).exists()


def test_a_full_disk_while_saving_a_method_says_what_is_kept(tmp_path, cache_dir, monkeypatch):
    out = tmp_path / "out"
    write_json = io.write_json

    def disk_full_for_eigenfaces(target, *args, **kwargs):
        if str(target).endswith(f"{PROGRESS}/eigenfaces.json"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write_json(target, *args, **kwargs)

    monkeypatch.setattr(io, "write_json", disk_full_for_eigenfaces)
    with pytest.raises(OSError, match=r"could not save eigenfaces's result .*No space left on device.*"
                                      r"methods saved there before: pixels.*rerun the same command"):
        _run(out, ["pixels", "eigenfaces"], cache_dir)
    assert (out / PROGRESS / "pixels.json").exists()


def test_other_results_are_refused_joined_when_compatible_and_replaced_only_when_asked(tmp_path, cache_dir):
    out = tmp_path / "out"
    _run(out, ["pixels"], cache_dir)
    before = (out / "results.json").read_bytes()
    with pytest.raises(ValueError, match=r"holds the results of another comparison: view1 .* of pixels\. "
                                         r"This run is view1 .*seed 1.*--overwrite"):
        _run(out, ["eigenfaces"], cache_dir, seed=1)
    assert (out / "results.json").read_bytes() == before

    results, log = _run(out, ["eigenfaces"], cache_dir)  # same protocol and settings: one table
    assert "its methods are kept" in log and list(results["methods"]) == ["pixels", "eigenfaces"]

    results, _ = _run(out, ["eigenfaces"], cache_dir, seed=1, overwrite=True)
    assert list(read_results(out)["methods"]) == ["eigenfaces"] and read_results(out)["seed"] == 1


def test_a_mixed_or_half_written_folder_is_never_read_as_a_run(tmp_path, cache_dir, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    _run(first, ["pixels"], cache_dir, identification=True)
    _run(second, ["eigenfaces"], cache_dir)
    assert not (second / "cmc.png").exists()
    # a write cut short after scores.json: the old results.json stays beside the new scores.json
    write_json = io.write_json

    def killed_at_results_json(target, *args, **kwargs):
        if str(target).endswith("results.json"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write_json(target, *args, **kwargs)

    monkeypatch.setattr(io, "write_json", killed_at_results_json)
    with pytest.raises(OSError):
        _run(first, ["pixels"], cache_dir, identification=False, overwrite=True)
    monkeypatch.setattr(io, "write_json", write_json)
    with pytest.raises(ValueError, match=r"first/(results.md|scores.json) does not belong to .*results.json"):
        read_results(first)
    with pytest.raises(ValueError, match="does not belong"):
        merge_results([first], tmp_path / "merged")
    report = subprocess.run([sys.executable, "-m", "facelab", "report", str(first / "results.json")],
                            capture_output=True, text=True)
    assert report.returncode == 2 and "does not belong" in report.stderr

    # the run that is rerun to completion replaces the folder's files as one unit, stale plots included
    _run(first, ["pixels"], cache_dir, identification=False, overwrite=True)
    results = read_results(first)
    assert set(results["files"]) == {"results.md", "scores.json", "roc.png"} and not (first / "cmc.png").exists()


def test_a_merge_rewrites_its_own_folder_but_never_replaces_other_results(tmp_path, cache_dir):
    folds = [tmp_path / f"fold{k}" for k in (1, 2)]
    for k, out in zip((1, 2), folds):
        _run(out, ["pixels"], cache_dir, protocol="view2", folds=[k])
    merged = merge_results(folds, tmp_path / "merged")
    assert merged["folds"] == [1, 2] and len(merged["methods"]["pixels"]["fold_accuracy"]) == 2
    assert merge_results(folds, tmp_path / "merged")["methods"] == merged["methods"]  # the same merge again
    before = (folds[0] / "results.json").read_bytes()
    with pytest.raises(ValueError, match=r"fold1 already holds other results \(of pixels\): choose another --out"):
        merge_results(folds, folds[0])
    assert (folds[0] / "results.json").read_bytes() == before
