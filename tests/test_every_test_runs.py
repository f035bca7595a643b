"""The suite's rule that a skipped test fails the run (tests/every_test_runs.py), checked on a
throw-away test file in a pytest of its own."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pytest(tmp_path, body: str):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not the project's options (nbmake, xdist)
    (tmp_path / "test_sample.py").write_text(body)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.every_test_runs", "-p", "no:cacheprovider",
                           "test_sample.py"], cwd=tmp_path, env=env, capture_output=True, text=True)


@pytest.mark.parametrize("skip", ["pytest.skip('no data here')", "pytest.importorskip('no_such_module_here')"])
def test_a_skipped_test_fails_the_run(tmp_path, skip):
    run = _pytest(tmp_path, f"import pytest\n\ndef test_ran():\n    pass\n\ndef test_skipped():\n    {skip}\n")
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout + run.stderr
    assert "1 test(s) skipped: the run fails" in run.stdout


def test_a_run_where_every_test_ran_passes(tmp_path):
    run = _pytest(tmp_path, "def test_ran():\n    assert True\n")
    assert run.returncode == pytest.ExitCode.OK, run.stdout + run.stderr
    assert "skipped" not in run.stdout
