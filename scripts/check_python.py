"""Before installing: is this Python one that facelab's stack supports? Standard library only, and
written so that old interpreters can run it too (no f-strings, no annotations).

TensorFlow 2.21, which facelab is built and tested on, ships wheels for CPython 3.11, 3.12 and 3.13.
On any other version pip would fail later with a message about a dependency; this says it plainly.
Within 3.11 it must be 3.11.4 or newer: the LFW download extracts with tarfile's "data" filter
(PEP 706), which earlier 3.11 releases lack.

    python3 scripts/check_python.py
"""
import sys

SUPPORTED = ((3, 11), (3, 12), (3, 13))
MINIMUM = (3, 11, 4)  # first 3.11 with tarfile's extraction filters; every 3.12 and 3.13 has them


def problem(version=tuple(sys.version_info[:3]), executable=sys.executable):
    """The message for an unsupported interpreter, or None when ``version`` is supported."""
    shown = ".".join(map(str, version))
    if tuple(version[:2]) not in SUPPORTED:
        return ("facelab needs Python 3.11 (3.11.4 or newer), 3.12 or 3.13 (TensorFlow 2.21 has wheels "
                "for these); {} is Python {}. Install one of them and make the virtual environment "
                "with it, e.g. python3.12 -m venv .venv".format(executable, shown))
    if tuple(version[:3]) < MINIMUM:
        return ("facelab needs Python 3.11.4 or newer within 3.11: the LFW download extracts archives "
                "with tarfile's safety filter (filter=\"data\"), which 3.11.0-3.11.3 lack; {} is Python {}. "
                "Install a newer 3.11 (or 3.12 or 3.13) and make the virtual environment with it, "
                "e.g. python3.12 -m venv .venv".format(executable, shown))
    return None


if __name__ == "__main__":
    message = problem()
    if message:
        sys.stderr.write(message + "\n")
        sys.exit(1)
    print("Python {}: supported".format(sys.version.split()[0]))
