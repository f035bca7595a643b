"""Every ``facelab`` subcommand's ``--help`` ends with one example command line, and that line
parses as printed (and, for the cheapest ones, runs)."""
from __future__ import annotations

import argparse
import shlex

import pytest

from facelab.cli import build_parser, main


def _subcommands(parser: argparse.ArgumentParser, path: tuple = ()):
    """``(path, parser)`` for every subparser under ``parser``, recursively; ``path`` is a tuple of
    ``(dest, name)``, the subparsers' ``dest`` and the subcommand's name at each level."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:  # an alias of a subcommand already walked
                    continue
                seen.add(id(sub))
                here = (*path, (action.dest, name))
                yield here, sub
                yield from _subcommands(sub, here)


def _find(path) -> argparse.ArgumentParser:
    """The subparser at ``path`` in a freshly built parser."""
    return dict(_subcommands(build_parser()))[path]


def _words(path) -> str:
    return " ".join(name for _, name in path)


SUBCOMMANDS = [path for path, _ in _subcommands(build_parser())]


def _example(path, monkeypatch) -> str:
    """The example command line that ``facelab <path> --help`` ends with, checked for shape."""
    monkeypatch.setenv("COLUMNS", "60")  # a narrow terminal must not wrap the command
    lines = _find(path).format_help().rstrip("\n").splitlines()
    headers = [i for i, line in enumerate(lines) if line.startswith("example:")]
    assert len(headers) == 1, f"`facelab {_words(path)} --help` has {len(headers)} 'example:' lines, want 1"
    assert headers[0] == len(lines) - 2, \
        f"`facelab {_words(path)} --help` must end with 'example:' and one command line, got {lines[headers[0]:]}"
    command = lines[-1].strip()
    assert command.startswith("facelab "), \
        f"`facelab {_words(path)} --help`: example {command!r} is not a facelab command"
    return command


def test_the_walk_finds_the_subcommands():
    words = {_words(path) for path in SUBCOMMANDS}
    assert {"compare", "methods", "train", "report", "figures", "data", "assignment",
            "assignment list", "assignment start", "assignment check", "assignment run"} <= words


@pytest.mark.parametrize("path", SUBCOMMANDS, ids=_words)
def test_help_ends_with_one_example_that_parses(path, monkeypatch):
    command = _example(path, monkeypatch)
    argv = shlex.split(command)[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"`facelab {_words(path)} --help`: its example {command!r} does not parse "
                    f"(argparse exit {exc.code})")
    for dest, name in path:
        assert getattr(args, dest, None) == name, \
            f"`facelab {_words(path)} --help`: its example {command!r} runs `{dest}={getattr(args, dest, None)}`, " \
            f"not {name!r}"


@pytest.mark.parametrize("words, expected", [
    ("methods", ["eigenfaces", "* = run by `facelab compare`"]),
    ("assignment list", ["triplet-mining", "implement:"]),
    ("assignment start", ["wrote ", "facelab assignment check"]),
    ("data", ["files listed, 0 missing, 0 mismatched"]),
])
def test_cheap_examples_run_as_printed(words, expected, tmp_path, monkeypatch, capsys):
    """Run the example that ``facelab <words> --help`` prints, as printed, in an empty folder
    (LFW from $FACELAB_DATA, as for a newcomer)."""
    path = next(p for p in SUBCOMMANDS if _words(p) == words)
    command = _example(path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    code = main(shlex.split(command)[1:])
    out = capsys.readouterr().out
    assert code == 0, f"{command!r} exited {code}:\n{out}"
    for text in expected:
        assert text in out, f"{command!r} printed no {text!r}:\n{out}"
