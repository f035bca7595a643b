"""scripts/check_python.py, the first step of the quick start: a clear message for a Python that
facelab's stack does not support, before pip fails on a dependency."""
from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_python.py"


@pytest.fixture(scope="module")
def problem():
    return runpy.run_path(str(SCRIPT))["problem"]


@pytest.mark.parametrize("version", [(3, 11, 4), (3, 11, 7), (3, 12, 0), (3, 12, 1), (3, 13, 0)])
def test_supported_pythons_pass(problem, version):
    assert problem(version, "/usr/bin/python3") is None


@pytest.mark.parametrize("version", [(3, 10, 13), (3, 14, 0), (2, 7, 18)])
def test_other_pythons_get_a_message_naming_the_versions(problem, version):
    message = problem(version, "/usr/bin/python3")
    shown = ".".join(map(str, version))
    assert f"/usr/bin/python3 is Python {shown}" in message and "3.11 (3.11.4 or newer), 3.12 or 3.13" in message


@pytest.mark.parametrize("version", [(3, 11, 0), (3, 11, 2), (3, 11, 3)])
def test_early_311_is_refused_for_the_tar_filter(problem, version):
    """Before 3.11.4 tarfile has no extraction filter, which the LFW download needs."""
    message = problem(version, "/usr/bin/python3.11")
    shown = ".".join(map(str, version))
    assert f"/usr/bin/python3.11 is Python {shown}" in message
    assert "3.11.4 or newer" in message and 'filter="data"' in message


def test_script_exits_zero_on_this_python():
    run = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True)
    assert run.returncode == 0 and "supported" in run.stdout, run.stderr
