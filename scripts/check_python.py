"""Before installing: is this Python one that facelab's stack supports? Standard library only, and
written so that old interpreters can run it too (no f-strings, no annotations).

TensorFlow 2.21, which facelab is built and tested on, ships wheels for CPython 3.11, 3.12 and 3.13.
On any other version pip would fail later with a message about a dependency; this says it plainly.

    python3 scripts/check_python.py
"""
import sys

SUPPORTED = ((3, 11), (3, 12), (3, 13))


def problem(version=tuple(sys.version_info[:3]), executable=sys.executable):
    """The message for an unsupported interpreter, or None when ``version`` is supported."""
    if tuple(version[:2]) in SUPPORTED:
        return None
    names = ", ".join("%d.%d" % v for v in SUPPORTED)
    return ("facelab needs Python {} (TensorFlow 2.21 has wheels for these); {} is Python {}. "
            "Install one of them and make the virtual environment with it, e.g. python3.12 -m venv .venv"
            .format(names, executable, ".".join(map(str, version))))


if __name__ == "__main__":
    message = problem()
    if message:
        sys.stderr.write(message + "\n")
        sys.exit(1)
    print("Python {}: supported".format(sys.version.split()[0]))
