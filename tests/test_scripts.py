"""The GPU run script (`scripts/gpu_runs.sh`) builds the `facelab compare` commands the reported numbers
come from; its triplet phases are checked here with a stand-in `python3` that records its arguments
(a View 1 run must not ask for the held-out threshold, a View 2 fold must; the 18-view stage must
reuse the kept network)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STUB = """#!/usr/bin/env bash
printf '%s\\n' "$@"
"""


def run_script(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python3").write_text(STUB)
    (bin_dir / "python3").chmod(0o755)
    inherited = {k: v for k, v in os.environ.items() if k not in ("ONLY", "VIEWS", "EXTRA", "TRIPLET_SETTING")}
    full_env = {**inherited, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **env}
    return subprocess.run(["bash", str(REPO / "scripts" / "gpu_runs.sh"), *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=60)


def compare_args(run_dir: Path) -> list[str]:
    """The arguments the stand-in python3 was called with for one run (its log.txt)."""
    return (run_dir / "log.txt").read_text().splitlines()  # the stand-in prints one argument a line


def params(args: list[str]) -> dict[str, str]:
    return dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--param")


def test_triplet_view1_runs_train_then_re_embed_the_kept_network_with_18_views(tmp_path):
    out = tmp_path / "out"
    proc = run_script(tmp_path, "triplet-view1", str(out), ONLY="semi-hard-e40-s4-v1$", VIEWS="tta")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["semi-hard-e40-s4-v1", "semi-hard-e40-s4-v1-tta"]
    plain, tta = compare_args(out / "semi-hard-e40-s4-v1"), compare_args(out / "semi-hard-e40-s4-v1-tta")
    assert plain[:3] == ["-m", "facelab", "compare"]
    assert plain[plain.index("--methods") + 1] == "triplet-semi-hard,triplet-semi-hard+jb"
    assert plain[plain.index("--protocol") + 1] == "view1" and "--threshold" not in plain and "--folds" not in plain
    p, t = params(plain), params(tta)
    assert (p["epochs"], p["shift"], p["p"]) == ("40", "4", "32")
    assert "flip_average" not in p and (t["flip_average"], t["shift_average"]) == ("true", "2")
    assert t["run_dir"] == p["run_dir"] == f'"{out}/semi-hard-e40-s4-v1/run"'  # the same network, no training


def test_triplet_view2_needs_the_view1_choice_and_runs_each_fold_with_the_held_out_threshold(tmp_path):
    proc = run_script(tmp_path, "triplet-view2", str(tmp_path / "none"))
    assert proc.returncode != 0 and "TRIPLET_SETTING" in proc.stderr
    out = tmp_path / "out"
    setting = '--param backbone_kwargs={"width":32} --param epochs=300 --param shift=4 --param p=32'
    proc = run_script(tmp_path, "triplet-view2", str(out), ONLY="fold3$", VIEWS="flip tta", TRIPLET_SETTING=setting)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"semi-hard-gpu-fold3{s}" for s in ("", "-flip", "-tta")]
    args = compare_args(out / "semi-hard-gpu-fold3")
    assert args[args.index("--protocol") + 1] == "view2" and args[args.index("--folds") + 1] == "3"
    assert args[args.index("--threshold") + 1] == "held-out"
    assert params(args)["backbone_kwargs"] == '{"width":32}' and params(args)["epochs"] == "300"
    assert params(compare_args(out / "semi-hard-gpu-fold3-flip"))["flip_average"] == "true"


def test_an_unknown_view_is_named(tmp_path):
    proc = run_script(tmp_path, "triplet-view1", str(tmp_path / "out"), ONLY="semi-hard-e40-s4-v1$", VIEWS="tta crops")
    assert "VIEWS: unknown view 'crops' (flip or tta)" in proc.stderr


@pytest.mark.parametrize("phase", ["view1", "view2"])
def test_only_selects_runs_by_regular_expression(tmp_path, phase):
    out = tmp_path / "out"
    proc = run_script(tmp_path, phase, str(out), ONLY="^deepid-small(-fold1)?$")
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in out.iterdir()] == ["deepid-small" if phase == "view1" else "deepid-small-fold1"]
