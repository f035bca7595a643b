"""The autograder's machinery: load a student's file, call its functions safely, compare with a
reference within a stated tolerance, and name the typical mistake when the numbers match one.

An assignment is a list of :class:`Check` s (name, student function, points). A check calls the
student's function on seeded inputs or an edge case and either returns (full points) or raises
:class:`Fail` with a message for the student (no points). CS231n style: every message states
what was compared and with which tolerance.
"""
from __future__ import annotations

import importlib.util
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .registry import get

RTOL, ATOL = 1e-6, 1e-8  # default tolerance of every numeric comparison


class Fail(Exception):
    """A check failed; ``args[0]`` is the message shown to the student."""


@dataclass
class Check:
    name: str
    function: str  # the student function it grades
    points: int
    run: Callable[[Any], None]  # run(student_module); raises Fail


@dataclass
class CheckResult:
    check: Check
    passed: bool
    message: str = ""

    @property
    def points(self) -> int:
        return self.check.points if self.passed else 0


@dataclass
class Report:
    assignment: str
    file: str
    results: list = field(default_factory=list)

    @property
    def score(self) -> int:
        return sum(r.points for r in self.results)

    @property
    def total(self) -> int:
        return sum(r.check.points for r in self.results)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def failed(self) -> list[str]:
        return [r.check.name for r in self.results if not r.passed]

    def message(self, name: str) -> str:
        for r in self.results:
            if r.check.name == name:
                return r.message
        raise KeyError(f"no check named {name!r}; checks: {', '.join(r.check.name for r in self.results)}")

    def format(self) -> str:
        lines = [f"Assignment {self.assignment!r}, file {self.file}"]
        for r in self.results:
            lines.append(f"  [{r.points:2d}/{r.check.points:2d}] {'ok  ' if r.passed else 'FAIL'} {r.check.name}")
            if not r.passed:
                lines.extend("         " + ln for ln in r.message.splitlines())
        lines.append(f"Score: {self.score}/{self.total}" + ("  — all checks pass" if self.passed else
                                                             f"  — {len(self.failed())} check(s) failed"))
        return "\n".join(lines)


class Checks(list):
    """A list of checks with a decorator to add one: ``@checks.add("fn", 2, "what it checks")``."""

    def add(self, function: str, points: int, name: str):
        def deco(fn):
            self.append(Check(f"{function}: {name}", function, points, fn))
            return fn
        return deco


# -- loading and calling student code --------------------------------------------------------
def load_student(path: str | Path, module_name: str = "student_submission"):
    """Import a student's file as a module. Its folder goes on ``sys.path`` while it is
    imported (as when the file is run as a script), so it may import files next to it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"student file {path} does not exist (create it with `facelab assignment start`)")
    spec = importlib.util.spec_from_file_location(f"{module_name}_{abs(hash(str(path.resolve())))}", path)
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a syntax error or a crash at import time: report it, do not crash the grader
        raise ImportError(f"could not import {path}: {type(exc).__name__}: {exc}\n"
                          + "".join(traceback.format_exception_only(type(exc), exc)).strip()) from exc
    finally:
        sys.path.remove(folder)
    return module


def _copy(x):
    return x.copy() if isinstance(x, np.ndarray) else x


def call(student, function: str, *args, **kwargs):
    """Call ``student.function`` on copies of the arguments; any exception becomes a :class:`Fail`
    that names it (NotImplementedError gets a friendlier line)."""
    fn = getattr(student, function, None)
    if fn is None or not callable(fn):
        raise Fail(f"your file has no function `{function}` (keep the names of the template)")
    try:
        return fn(*[_copy(a) for a in args], **{k: _copy(v) for k, v in kwargs.items()})
    except NotImplementedError:
        raise Fail(f"`{function}` is not implemented yet (it still raises NotImplementedError): "
                   "write your code between the YOUR CODE START/END markers") from None
    except Fail:
        raise
    except Exception as exc:
        own = str(Path(getattr(student, "__file__", "") or "").resolve())
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if str(Path(f.filename).resolve()) == own]
        where = f" (line {frames[-1].lineno} of {Path(own).name})" if frames else ""
        raise Fail(f"`{function}` raised {type(exc).__name__}: {exc}{where}") from None


def as_array(value, function: str, dtype=np.float64) -> np.ndarray:
    try:
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise Fail(f"`{function}` returned {type(value).__name__}, which is not a numeric array: {exc}") from None


def close(a, b, rtol: float = RTOL, atol: float = ATOL) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=False))


def expect_close(got, expected, what: str, *, rtol: float = RTOL, atol: float = ATOL,
                 mistakes: dict[str, Any] | None = None, hint: str = "") -> None:
    """Pass if ``got`` ≈ ``expected`` (``np.allclose``); else raise :class:`Fail` with the first
    matching diagnosis from ``mistakes`` (message → what that mistake would return), or a
    generic message with the largest difference."""
    expected = np.asarray(expected, dtype=np.float64)
    got = as_array(got, what)
    if got.shape != expected.shape:
        if got.size == expected.size == 1:
            got = got.reshape(expected.shape)
        else:
            raise Fail(f"{what}: shape {got.shape}, expected {expected.shape}" + (f". {hint}" if hint else ""))
    if close(got, expected, rtol, atol):
        return
    if np.isnan(got).any() and not np.isnan(expected).any():
        where = tuple(int(i) for i in np.argwhere(np.isnan(got))[0])
        raise Fail(f"{what}: NaN at index {where} where {expected[where]:.6g} was expected" +
                   (f". {hint}" if hint else ""))
    for message, wrong in (mistakes or {}).items():
        try:
            if close(got, wrong, rtol, atol):
                raise Fail(f"{what}: {message}")
        except (ValueError, TypeError, FloatingPointError):
            continue
    diff = np.abs(got - expected)
    where = np.unravel_index(int(np.nanargmax(np.where(np.isnan(diff), np.inf, diff))), diff.shape) if diff.ndim else ()
    where_txt = f" at index {tuple(int(i) for i in where)}" if where else ""
    raise Fail(f"{what}: got {got[where]:.6g}, expected {expected[where]:.6g}{where_txt} "
               f"(max |difference| {np.nanmax(diff):.3g}; tolerance rtol={rtol:g}, atol={atol:g})"
               + (f". {hint}" if hint else ""))


CHECK_TIMEOUT_S = 60.0  # per check
LOAD_TIMEOUT_S = 120.0  # starting a grading process and importing the student's file


def _exit_message(exc: SystemExit) -> str:
    return (f"your code called sys.exit({'' if exc.code is None else repr(exc.code)}), which would end the "
            "grader: return a value or raise an exception instead")


def _run_check(check: Check, student) -> tuple[bool, str]:
    with np.errstate(all="ignore"):
        try:
            check.run(student)
            return True, ""
        except Fail as f:
            return False, str(f.args[0])
        except SystemExit as exc:
            return False, _exit_message(exc)
        except Exception as exc:  # a bug in the student's output type that the check did not foresee
            return False, f"{type(exc).__name__} while checking: {exc}"


def _grade_worker(assignment_name: str, student_path: str, first: int, conn) -> None:
    """In a child process: import the student's file, then run checks ``first, first + 1, …``,
    sending ``("start", i)`` before and ``("done", i, passed, message)`` after each, so that the
    parent knows which check hung or crashed the process."""
    assignment = get(assignment_name)
    try:
        student = load_student(student_path)
    except (FileNotFoundError, ImportError) as exc:
        conn.send(("load-failed", str(exc)))
        return
    except SystemExit as exc:
        conn.send(("load-failed", f"could not import {student_path}: {_exit_message(exc)}"))
        return
    conn.send(("loaded",))
    for i in range(first, len(assignment.checks)):
        conn.send(("start", i))
        conn.send(("done", i, *_run_check(assignment.checks[i], student)))


def grade(assignment, student_path: str | Path, *, timeout_s: float = CHECK_TIMEOUT_S,
          load_timeout_s: float = LOAD_TIMEOUT_S) -> Report:
    """Run every check of ``assignment`` on the student's file and collect a :class:`Report`.

    The student's code runs in a separate process, so nothing it does can end or hang the grader:
    ``sys.exit`` fails the check that called it, a check that takes longer than ``timeout_s`` seconds
    (or an import longer than ``load_timeout_s``) is stopped and failed (an endless loop), and a crash of the process (``os._exit``, a segfault)
    fails the check it happened in. The other checks then go on in a fresh process."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # a clean interpreter: no threads or state inherited
    report = Report(assignment.name, str(student_path))
    checks = list(assignment.checks)
    while len(report.results) < len(checks):
        first = len(report.results)
        receive, send = ctx.Pipe(duplex=False)
        worker = ctx.Process(target=_grade_worker, args=(assignment.name, str(student_path), first, send),
                             daemon=True)
        worker.start()
        send.close()
        current, loading = None, True
        try:
            while len(report.results) < len(checks):
                limit = load_timeout_s if loading else timeout_s
                if not receive.poll(limit):
                    what = f"importing {student_path}" if loading else f"`{checks[current].function}`"
                    failed = f"stopped after {limit:g} s: {what} did not finish (an endless loop?)"
                    break
                try:
                    message = receive.recv()
                except EOFError:  # the process ended without a word
                    worker.join(5)
                    what = f"importing {student_path}" if loading else f"`{checks[current].function}`"
                    failed = f"the grading process crashed while running {what} (exit code {worker.exitcode})"
                    break
                if message[0] == "load-failed":
                    report.results += [CheckResult(c, False, message[1]) for c in checks[first:]]
                    return report
                if message[0] == "loaded":
                    loading = False
                elif message[0] == "start":
                    current = message[1]
                else:
                    _, index, passed, text = message
                    report.results.append(CheckResult(checks[index], passed, text))
            else:
                return report
        finally:
            if worker.is_alive():
                worker.kill()
            worker.join()
            receive.close()
        if loading:  # nothing can be graded without the file
            report.results += [CheckResult(c, False, failed) for c in checks[first:]]
        else:
            report.results.append(CheckResult(checks[current], False, failed))
    return report


@dataclass
class Assignment:
    """One course unit's assignment: its checks and how to run it on real data."""

    name: str  # CLI name, e.g. "triplet-mining"
    unit: int
    title: str
    functions: tuple  # the student functions, in template order
    checks: Checks
    run: Callable  # run(student_module, *, data_dir, cache_dir, quick, seed) -> dict

    @property
    def module_name(self) -> str:
        return self.name.replace("-", "_")

    @property
    def template(self) -> Path:
        return Path(__file__).parent / "templates" / f"{self.module_name}.py"

    @property
    def student_file(self) -> str:
        """Default file name of the student's copy."""
        return f"{self.module_name}.py"

    @property
    def total_points(self) -> int:
        return sum(c.points for c in self.checks)
