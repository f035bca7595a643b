"""pytest plugin: a run in which any test was skipped fails. Every test of facelab runs on real
LFW and the fixtures shipped in ``tests/fixtures``; a skip would mean a test stood in for nothing, so
a green run must mean that every collected test ran."""
from __future__ import annotations

import pytest


def _skipped(config) -> list:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    return reporter.stats.get("skipped", []) if reporter is not None else []


def pytest_sessionfinish(session, exitstatus):
    if exitstatus == pytest.ExitCode.OK and _skipped(session.config):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = _skipped(config)
    if skipped:
        terminalreporter.write_line(f"{len(skipped)} test(s) skipped: the run fails, because every test must run "
                                    "(see the reasons above)", red=True, bold=True)
