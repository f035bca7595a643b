"""The method contract is all a method needs: a ten-line method written outside the package,
registered by name, runs through `facelab compare` like the built-in ones (real LFW View 1)."""
from __future__ import annotations

import json
import textwrap

import pytest

from facelab import methods
from facelab.cli import main

OUTSIDE = textwrap.dedent('''
    from facelab.base import FaceMethod

    class RowProfile(FaceMethod):
        """A face as the mean brightness of each image row, centred on the training faces."""
        name = "row-profile"

        def fit(self, images, labels):
            self.mean_ = images.mean(axis=(0, 2)).ravel()
            return self

        def embed(self, images):
            return images.mean(axis=2).reshape(len(images), -1) - self.mean_
''')


@pytest.fixture
def outside_method(tmp_path, monkeypatch):
    (tmp_path / "my_face_methods.py").write_text(OUTSIDE)
    monkeypatch.syspath_prepend(str(tmp_path))
    methods.register("row-profile", "my_face_methods:RowProfile", "classical", "mean of each image row, cosine")
    yield "row-profile"
    methods._REGISTRY.pop("row-profile")


def test_a_method_from_outside_the_package_runs_through_facelab_compare(outside_method, tmp_path, cache_dir,
                                                                          monkeypatch, capsys):
    monkeypatch.setenv("FACELAB_CACHE", str(cache_dir))
    out = tmp_path / "out"
    assert main(["compare", "--methods", f"{outside_method},pixels", "--protocol", "view1", "--no-identification",
                 "--no-progress", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    entry = results["methods"][outside_method]
    assert entry["config"]["name"] == "row-profile" and entry["kind"] == "classical" and results["preset"] == "class"
    assert 0.52 < entry["accuracy_mean"] < results["methods"]["pixels"]["accuracy_mean"] + 0.05  # it learned something
    assert "row-profile" in (out / "results.md").read_text()
    assert main(["methods"]) == 0 and "mean of each image row" in capsys.readouterr().out


@pytest.mark.parametrize("name", [n for n in methods.available()])
def test_each_method_says_the_kind_the_registry_lists_it_under(name):
    """The registry must know a method's kind without importing it (``facelab methods`` imports no
    TensorFlow); the method states it too (the fit sharing reads it). The two must agree."""
    assert methods.create(name, quick=True).kind == methods.spec(name).kind
