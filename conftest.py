"""Root conftest: the README's test command also executes the notebooks, in their quick mode."""
import os

os.environ.setdefault("FACELAB_QUICK", "1")
