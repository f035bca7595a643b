"""How every ``facelab`` subcommand is declared: one ``--help`` whose last lines are an example
that runs as printed. Shared by the main CLI and the assignment commands."""
from __future__ import annotations

import argparse

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
