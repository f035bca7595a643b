"""How every ``facelab`` subcommand is declared: one ``--help`` whose last lines are an example
that runs as printed, and the argument values several commands share (``--data-dir``, ``--param``,
``--folds``, ``--devices``). Shared by the main CLI and the assignment commands."""
from __future__ import annotations

import argparse
import json

EXAMPLE_HEADER = "example:"


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter (descriptions wrapped to the terminal), except that the example is
    printed as written: a command to copy must never be wrapped."""

    def _fill_text(self, text, width, indent):
        if text.startswith(EXAMPLE_HEADER + "\n"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def add_command(subparsers, name: str, *, example: str, **kwargs) -> argparse.ArgumentParser:
    """``subparsers.add_parser(name, **kwargs)`` whose ``--help`` ends with ``example``: one
    ``facelab ...`` command line that runs as printed with only LFW at ``$FACELAB_DATA``, in seconds
    to a couple of minutes on a laptop CPU. Every facelab subcommand is added through here."""
    if not example.startswith("facelab ") or "\n" in example:
        raise ValueError(f"example for {name!r} must be one line starting with 'facelab ', got {example!r}")
    return subparsers.add_parser(name, epilog=f"{EXAMPLE_HEADER}\n  {example}", formatter_class=_HelpFormatter,
                                 **kwargs)


def add_data_dir(p):
    p.add_argument("--data-dir", default=None,
                   help="LFW data root (default: $FACELAB_DATA, else ./data)")


def parse_params(items) -> dict:
    """``["pca_dim=100", "backbone=resnet"]`` → ``{"pca_dim": 100, "backbone": "resnet"}`` (JSON values, else strings)."""
    params = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--param expects KEY=VALUE, got {item!r}")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def parse_folds(text):
    """``"1-10"``, ``"3"``, ``"1,4,7-9"`` → sorted fold numbers from 1 to 10 (None: not given)."""
    if text is None:
        return None
    folds: set[int] = set()
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        first, dash, last = item.partition("-")
        try:
            folds.update(range(int(first), int(last) + 1) if dash else [int(first)])
        except ValueError:
            raise ValueError(f"--folds expects fold numbers and ranges such as 1-10 or 1,4,7-9; got {text!r}") from None
    if not folds or min(folds) < 1 or max(folds) > 10:
        raise ValueError(f"--folds expects fold numbers from 1 to 10 (ranges written low-high); got {text!r}")
    return sorted(folds)


def parse_devices(text: str):
    """``--devices``: a whole number >= 1 or ``all``."""
    if text == "all":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1 or 'all', got {text!r}")
    return int(text)
