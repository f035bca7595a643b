"""Training recipes are data in the package (facelab/presets/*.toml): every trainable method has
quick, class and full; each value is checked, with errors naming the file, preset and key; ``--param``
changes one value of a preset; the registry's default is ``class``; results record the preset; a
reported row's command is found from its record; View 2's folds run as parallel processes."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from facelab import methods, presets
from facelab.cli import main
from facelab.cli_commands import parse_folds
from facelab.data.preprocess import PreprocessConfig
from facelab.evaluation.commands import recipe_of, reproducing_command
from facelab.evaluation.compare import compare, compare_folds_in_parallel
from facelab.evaluation.report import read_results

TRAINABLE = [n for n in methods.available() if methods.spec(n).kind != "classical"]


@pytest.mark.parametrize("name", TRAINABLE)
def test_every_trainable_method_has_the_three_budgets_and_each_builds(name):
    own = presets.presets_of(name)
    assert set(presets.BUDGETS) <= set(own), f"{name} lacks presets {set(presets.BUDGETS) - set(own)}"
    epochs = {}
    for preset in own:
        method = methods.create(name, preset=preset)  # every value of every preset is accepted by the method
        assert method.preset == preset and method.quick == (preset == "quick")
        epochs[preset] = getattr(method, "epochs", None)
    if epochs["full"] is not None and not isinstance(epochs["full"], tuple):
        assert epochs["quick"] < epochs["class"] <= epochs["full"]


def test_the_registry_default_is_the_class_preset_and_quick_is_the_quick_one():
    cls = presets.presets_of("deepid")["class"].params
    method = methods.create("deepid")
    assert method.preset == "class" and method.epochs == cls["epochs"] and method.weight_decay == cls["weight_decay"]
    assert methods.create("deepid", quick=True).preset == "quick"
    assert methods.create("eigenfaces").preset == "class"  # a method without budgets runs its defaults
    with pytest.raises(presets.PresetError, match="--quick is the quick preset; it cannot be combined with --preset full"):
        methods.create("deepid", preset="full", quick=True)


def test_a_param_changes_one_value_of_a_preset_and_keeps_the_rest():
    full = presets.presets_of("triplet-semi-hard")["full"].params
    method = methods.create("triplet-semi-hard", preset="full", epochs=3)
    assert method.epochs == 3
    assert (method.p, method.shift, method.shift_average) == (full["p"], full["shift"], full["shift_average"])


def test_an_unknown_preset_names_what_the_method_has():
    with pytest.raises(presets.PresetError, match=r"method 'deepid' has no preset 'clas' \(did you mean 'class'\?\); "
                                                   r"it has: class, full, quick, defaults"):
        methods.create("deepid", preset="clas")
    with pytest.raises(presets.PresetError, match="method 'pixels' has no preset 'lecture'; it has: quick, class, full, defaults"):
        methods.create("pixels", preset="lecture")


def _with_preset_files(monkeypatch, tmp_path, text):
    (tmp_path / "mine.toml").write_text(text)
    monkeypatch.setattr(presets, "PRESET_DIR", tmp_path)
    methods._check_preset.cache_clear()


@pytest.mark.parametrize("body, message", [
    ('params = { epochs = "abc" }', r"mine.toml \[deepid.class\]: method deepid: parameter epochs should be an integer"),
    ("params = { epoch = 3 }", r"mine.toml \[deepid.class\]: method 'deepid' got an unknown argument 'epoch' "
                               r"\(did you mean 'epochs'\?\)"),
    ('params = { lr_schedule = "linear" }', r"mine.toml \[deepid.class\]: .*lr_schedule.*'constant'.*'cosine'"),
    ("params = { epochs = 3 }\nepochs = 4", r"mine.toml \[deepid.class\]: unknown key\(s\) epochs; a preset takes params"),
])
def test_a_wrong_preset_value_names_the_file_the_preset_and_the_key(monkeypatch, tmp_path, body, message):
    _with_preset_files(monkeypatch, tmp_path, f'[deepid.class]\nsummary = "a recipe"\n{body}\n')
    try:
        with pytest.raises(presets.PresetError, match=message):
            methods.create("deepid")
    finally:
        methods._check_preset.cache_clear()


def test_presets_of_another_method_are_shared_and_a_bad_reference_is_named(monkeypatch, tmp_path):
    assert presets.presets_of("deepid+jb")["full"].params == presets.presets_of("deepid")["full"].params
    _with_preset_files(monkeypatch, tmp_path, '["deepid+jb"]\npresets_of = "deepid"\n')
    with pytest.raises(presets.PresetError, match=r'mine.toml \[deepid\+jb\]: presets_of = .deepid. names no method'):
        presets.all_presets()


def test_the_budget_comes_from_the_environment():
    assert presets.budget_from_env({}) == "class"
    assert presets.budget_from_env({"FACELAB_QUICK": "1"}) == "quick"
    assert presets.budget_from_env({"FACELAB_BUDGET": "full", "FACELAB_QUICK": "1"}) == "full"
    with pytest.raises(presets.PresetError, match="FACELAB_BUDGET='fast': choose one of quick, class, full"):
        presets.budget_from_env({"FACELAB_BUDGET": "fast"})


def test_a_preset_sets_the_input_size_over_the_method_default():
    assert methods.create("grouped-vae", preset="class").preprocess.size == (32, 32)
    assert PreprocessConfig.coerce({"size": 48}, PreprocessConfig(crop=(80, 80))).crop == (80, 80)
    with pytest.raises(ValueError, match="preprocess: unknown field"):
        PreprocessConfig.coerce({"sise": 48})


def test_facelab_methods_lists_every_preset_with_its_summary(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for preset in presets.presets_of("triplet-semi-hard").values():
        assert f"--preset {preset.name}{' (default)' if preset.name == 'class' else ''}: {preset.summary}" in out
    assert "measured: View 2" in out


def test_folds_are_numbers_and_ranges():
    assert parse_folds("1-10") == list(range(1, 11))
    assert parse_folds("1,4,7-9") == [1, 4, 7, 8, 9]
    for bad in ("0-3", "a", "5-2", "11"):
        with pytest.raises(ValueError, match="--folds expects"):
            parse_folds(bad)


def test_results_record_the_preset_and_the_command_that_reproduces_them(tmp_path, cache_dir):
    results = compare(["deepid"], protocol="view1", quick=True, identification=False, progress=False,
                      out_dir=tmp_path / "out", cache_dir=cache_dir, log=lambda *_: None, params={"epochs": 1})
    assert read_results(tmp_path / "out")["preset"] == "quick" and results["methods"]["deepid"]["config"]["epochs"] == 1
    assert reproducing_command("deepid", results) == \
        "facelab compare --methods deepid --protocol view1 --preset quick --param epochs=1"
    classical = read_results(Path(__file__).parents[1] / "reports" / "cpu" / "classical-view2")
    assert reproducing_command("lbp+jb", classical) == "facelab compare --methods lbp+jb"
    changed = dict(results["methods"]["deepid"]["config"], margin=9)  # settings no preset makes
    assert recipe_of("deepid", changed) is None


def test_view2_folds_run_in_parallel_processes_and_merge_to_the_sequential_result(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("FACELAB_CACHE", str(cache_dir))  # the processes read the same preprocessed arrays
    for variable in ("TF_NUM_INTRAOP_THREADS", "XLA_PYTHON_CLIENT_PREALLOCATE"):
        monkeypatch.delenv(variable, raising=False)
    settings = dict(protocol="view2", folds=[2, 5], identification=False, log=lambda *_: None)
    parallel = compare_folds_in_parallel(["pixels"], jobs=2, out_dir=tmp_path / "parallel", **settings)
    # the workers' thread and GPU-memory settings are theirs: the caller's environment is as it was
    assert "TF_NUM_INTRAOP_THREADS" not in os.environ and "XLA_PYTHON_CLIENT_PREALLOCATE" not in os.environ
    one = compare(["pixels"], out_dir=tmp_path / "one", progress=False, cache_dir=cache_dir, **settings)
    assert parallel["folds"] == [2, 5] and parallel["preset"] == "class"
    assert parallel["methods"]["pixels"]["fold_accuracy"] == one["methods"]["pixels"]["fold_accuracy"]
    assert parallel["methods"]["pixels"]["auc"] == pytest.approx(one["methods"]["pixels"]["auc"])
    assert sorted(p.name for p in (tmp_path / "parallel" / "folds").iterdir()) == ["fold-2", "fold-5"]
    with pytest.raises(ValueError, match="View 1 has one split"):
        compare_folds_in_parallel(["pixels"], jobs=2, out_dir=tmp_path / "v1", protocol="view1")


def test_the_command_line_runs_folds_with_jobs(tmp_path, cache_dir):
    env_run = subprocess.run([sys.executable, "-m", "facelab", "compare", "--methods", "pixels", "--folds", "3-4",
                              "--jobs", "2", "--no-identification", "--out", str(tmp_path / "cli")],
                             capture_output=True, text=True, env={**os.environ,
                                                                  "FACELAB_CACHE": str(cache_dir)}, timeout=600)
    assert env_run.returncode == 0, env_run.stderr[-2000:]
    written = json.loads((tmp_path / "cli" / "results.json").read_text())
    assert written["folds"] == [3, 4] and len(written["methods"]["pixels"]["fold_accuracy"]) == 2
    assert "2 fold(s) in 2 process(es)" in env_run.stdout


def test_every_number_a_preset_reports_is_in_a_record_its_preset_reproduces():
    """A preset's `reported` line quotes measured numbers: each must be the accuracy of a committed
    record of that method whose settings that preset alone makes (never a typed or stale number)."""
    records = []
    for path in (Path(__file__).parents[1] / "reports").rglob("results.json"):
        results = json.loads(path.read_text())
        if isinstance(results.get("methods"), dict) and "few_shot" not in results:
            records.append(results)
    checked = 0
    for method, own in presets.all_presets().items():
        for preset in own.values():
            if preset.reported is None or preset.method != method:
                continue
            protocol = "view1" if preset.reported.startswith("View 1") else "view2"
            threshold = "held-out" if "held-out" in preset.reported else "train"
            for name, number in re.findall(r"([a-z0-9+-]+) (\d+\.\d\d) %", preset.reported):
                matches = [r for r in records if name in r["methods"] and r.get("protocol") == protocol
                           and r.get("threshold", "train") == threshold and r.get("folds", "all") == "all"
                           and f"{100 * r['methods'][name]['accuracy_mean']:.2f}" == number
                           and f"--preset {preset.name}" in (reproducing_command(name, r) or "")
                           and "--param" not in reproducing_command(name, r)]
                assert matches, f"{preset.source}: no record of {name} at {number} % that the preset reproduces"
                checked += 1
    assert checked >= 4


def test_processes_running_at_once_split_the_cores_between_them(monkeypatch):
    """Each of N processes started at once (``--jobs``, CI's Pythons side by side) gets cores // N threads
    of every library that starts one per core, at least one."""
    from facelab import cores
    from facelab.evaluation.compare import _process_share

    monkeypatch.setattr(cores, "cores", lambda: 8)
    assert cores.thread_share(2) == dict.fromkeys(cores.THREAD_VARIABLES, "4")
    assert set(cores.thread_share(3).values()) == {"2"} and set(cores.thread_share(16).values()) == {"1"}
    assert {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"} <= set(cores.THREAD_VARIABLES)
    share = _process_share(4)
    assert share["OPENBLAS_NUM_THREADS"] == "2" and share["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
