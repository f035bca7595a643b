"""Checkpoints and saved models fail safely: a damaged checkpoint is set aside and training restarts,
a finished run continues when asked for more epochs, one `facelab train` folder holds one method,
and loading names what a file holds. Real tiny trainings on a small real LFW subset (32×32)."""
from __future__ import annotations

import functools
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from facelab import methods

# a tiny network: 4 batches of 8 images an epoch, a few seconds a fit
TINY = dict(batch_size=8, backbone_kwargs={"width": 8}, embedding_dim=16, seed=0, checkpoint_every=0,
            tensorboard=False, progress=False, preset="defaults")  # the constructor's constant learning rate


@pytest.fixture(scope="module")
def faces(lfw):
    from deep_helpers import lfw_subset

    return lfw_subset(lfw, people=8, per_person=4, size=32, min_images=4)


@pytest.fixture(scope="module")
def one_epoch(faces, tmp_path_factory):
    """A finished one-epoch deepid run (its run_dir is copied by each test that changes it)."""
    x, y = faces
    run_dir = tmp_path_factory.mktemp("one-epoch") / "run"
    return methods.create("deepid", epochs=1, run_dir=str(run_dir), **TINY).fit(x, y)


def copy_run(method, tmp_path) -> tuple[str, Path]:
    """A copy of ``method``'s run_dir in ``tmp_path``: (the new run_dir, its checkpoint)."""
    from facelab.nets.training import CHECKPOINT

    shutil.copytree(method.run_dir, tmp_path / "run")
    fit_dir = tmp_path / "run" / Path(method.fit_dir_).relative_to(method.run_dir)
    return str(tmp_path / "run"), fit_dir / CHECKPOINT


def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _empty(data: bytes) -> bytes:
    return b""


def _flip_a_bit(data: bytes) -> bytes:
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10  # inside a weight array: the zip's CRC no longer matches
    return bytes(flipped)


@pytest.mark.slow
@pytest.mark.parametrize("damage", [_truncate, _empty, _flip_a_bit], ids=["truncated", "empty", "bit-flipped"])
def test_a_damaged_checkpoint_is_set_aside_and_training_starts_again(one_epoch, faces, tmp_path, damage):
    """Before: BadZipFile / EOFError / "Bad CRC-32" tracebacks. Now: a warning naming the file, the file
    renamed checkpoint.npz.damaged beside itself (nothing deleted), and a run from epoch 0 that finishes
    with the network a fresh run gives (nothing of the damaged file was restored)."""
    from facelab.nets.training import read_checkpoint_meta

    x, y = faces
    run_dir, ckpt = copy_run(one_epoch, tmp_path)
    damaged = damage(ckpt.read_bytes())
    ckpt.write_bytes(damaged)
    expected = rf"{re.escape(str(ckpt))} cannot be read .*set it aside as checkpoint\.npz\.damaged"
    with pytest.warns(UserWarning, match=expected + " and training starts again from epoch 0"):
        again = methods.create("deepid", epochs=1, run_dir=run_dir, **TINY).fit(x, y)
    assert (ckpt.parent / "checkpoint.npz.damaged").read_bytes() == damaged
    assert again.training_.resumed_from is None and again.training_.epochs_run == 1
    assert read_checkpoint_meta(ckpt)["epoch"] == 1
    assert len(json.loads((ckpt.parent / "history.json").read_text())["history"]["loss"]) == 1
    np.testing.assert_allclose(again.embed(x), one_epoch.embed(x), atol=1e-5)


def test_a_file_set_aside_twice_keeps_both_copies(tmp_path):
    """A second damaged checkpoint in the same folder does not replace the first one set aside."""
    from facelab import io

    target = tmp_path / "checkpoint.npz"
    target.write_bytes(b"first")
    assert io.set_aside(target).name == "checkpoint.npz.damaged"
    target.write_bytes(b"second")
    assert io.set_aside(target).name == "checkpoint.npz.damaged-2"
    assert [p.read_bytes() for p in sorted(tmp_path.iterdir())] == [b"first", b"second"]


@pytest.mark.slow
def test_a_finished_run_asked_for_more_epochs_continues(one_epoch, faces, tmp_path):
    """Before: "written for other training data or settings ... delete it to start afresh". Now the
    finished run goes on from its weights and optimizer state: one more epoch trained, the first
    epoch's history kept, and the network a two-epoch run from scratch gives. As many epochs again
    reports it finished; fewer is an error saying a run cannot be shortened."""
    from facelab.nets.training import CheckpointMismatchError, read_checkpoint_meta

    x, y = faces
    run_dir, ckpt = copy_run(one_epoch, tmp_path)
    longer = methods.create("deepid", epochs=2, run_dir=run_dir, **TINY).fit(x, y)
    assert longer.training_.resumed_from == (1, 0) and longer.training_.epochs_run == 1
    history = json.loads((ckpt.parent / "history.json").read_text())["history"]["loss"]
    assert len(history) == 2 and history[:1] == one_epoch.training_.history["loss"]
    assert longer.training_.run_history["loss"] == history
    assert read_checkpoint_meta(ckpt)["epoch"] == 2
    straight = methods.create("deepid", epochs=2, **TINY).fit(x, y)  # no run_dir: two epochs from scratch
    np.testing.assert_allclose(longer.embed(x), straight.embed(x), atol=1e-5)
    np.testing.assert_allclose(straight.training_.history["loss"], history, rtol=1e-5)

    same = methods.create("deepid", epochs=2, run_dir=run_dir, **TINY).fit(x, y)
    assert same.training_.epochs_run == 0 and same.training_.resumed_from == (2, 0)
    np.testing.assert_allclose(same.embed(x), longer.embed(x), atol=1e-6)
    expected = rf"{re.escape(str(ckpt))} has trained 2 epochs, more than the 1 asked, and a run cannot be shortened"
    with pytest.raises(CheckpointMismatchError, match=expected + ": ask for 2 epochs or more"):
        methods.create("deepid", epochs=1, run_dir=run_dir, **TINY).fit(x, y)


@pytest.mark.slow
def test_a_checkpoint_with_the_epoch_count_in_its_fingerprint_still_resumes_and_extends(one_epoch, faces, tmp_path):
    """Checkpoints written while the epoch count was one of the settings they had to match (kept
    networks of earlier comparisons) are re-embedded as before, and can now be extended too."""
    from facelab import io
    from facelab.nets.training import fingerprint, training_set_fingerprint

    x, y = faces
    run_dir, ckpt = copy_run(one_epoch, tmp_path)
    m = one_epoch
    settings = {"epochs_steps": 4, "lr": m.learning_rate, "opt": "adam", "wd": m.weight_decay, "method": m.name,
                "params": m._training_params()}  # what train() hashed then: "params" with "epochs": 1
    assert m._training_params()["epochs"] == 1
    with np.load(ckpt) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["meta"]))
    meta.pop("epochs", None)
    meta["fingerprint"] = fingerprint(training_set_fingerprint(x, y), settings)
    io.save_npz(ckpt, **{**arrays, "meta": np.array(json.dumps(meta))})

    same = methods.create("deepid", epochs=1, run_dir=run_dir, **TINY).fit(x, y)
    assert same.training_.epochs_run == 0 and same.training_.resumed_from == (1, 0)
    longer = methods.create("deepid", epochs=2, run_dir=run_dir, **TINY).fit(x, y)
    assert longer.training_.epochs_run == 1 and longer.training_.resumed_from == (1, 0)


@pytest.mark.slow
def test_a_cosine_schedule_is_not_stretched_to_more_epochs(faces, tmp_path):
    """A cosine schedule's length is part of its curve: a finished cosine run asked for more epochs is
    an error saying so (not a silent jump of the learning rate back up)."""
    from facelab.nets.training import CheckpointMismatchError

    x, y = faces
    kw = dict(TINY, lr_schedule="cosine", run_dir=str(tmp_path / "run"))
    methods.create("deepid", epochs=1, **kw).fit(x, y)
    with pytest.raises(CheckpointMismatchError, match=r"cosine learning-rate schedule over 1 epochs, which cannot "
                                                      r"be stretched to 2"):
        methods.create("deepid", epochs=2, **kw).fit(x, y)


class _Subset:
    """The real-LFW subset where `facelab train` reads LFW (a whole-LFW preprocessing would take minutes)."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def load_images(self, preprocess):
        return self.images


@pytest.mark.slow
def test_facelab_train_keeps_one_method_per_out_folder(faces, tmp_path, monkeypatch):
    """Before: `facelab train siamese-contrastive --out runs/x` after deepid silently replaced deepid's
    model.keras. Now it is refused before training, naming the folder and the method in it; so is
    a method beside another's interrupted run. The same method again continues (more epochs)."""
    from facelab.nets import train_cli

    x, y = faces
    monkeypatch.setattr(train_cli, "LFW", lambda *a, **k: _Subset(x, y))
    monkeypatch.setattr(train_cli, "training_people", lambda lfw, people: np.arange(len(lfw)))
    params = {k: v for k, v in TINY.items() if k not in ("seed", "progress", "preset")}
    out = tmp_path / "x"
    train_method = functools.partial(train_cli.train_method, preset="defaults")
    first = train_method("deepid", out, epochs=1, params=params, progress=False)
    saved = (out / "model.keras").read_bytes()
    expected = (rf"{re.escape(str(out))} already holds a deepid model; `facelab train` keeps one method per --out "
                rf"folder .*train siamese-contrastive into another folder, e\.g\. --out {re.escape(str(out))}-siamese")
    with pytest.raises(ValueError, match=expected):
        train_method("siamese-contrastive", out, epochs=1, params=params, progress=False)
    assert (out / "model.keras").read_bytes() == saved and not (out / "run" / "siamese-contrastive").exists()
    assert json.loads((out / "train.json").read_text())["method"] == "deepid"

    more = train_method("deepid", out, epochs=2, params=params, progress=False)
    assert more["epochs_run_this_call"] == 1 and more["resumed_from"] == (1, 0) and first["resumed_from"] is None

    interrupted = tmp_path / "y"
    (interrupted / "run" / "siamese-contrastive").mkdir(parents=True)  # a training killed before it saved
    with pytest.raises(ValueError, match=rf"{re.escape(str(interrupted))} already holds a siamese-contrastive model"):
        train_method("deepid", interrupted, epochs=1, params=params, progress=False)


@pytest.mark.slow
def test_load_names_another_methods_model_and_a_file_that_is_not_a_model(faces, tmp_path):
    """Before: DeepID.load read a siamese-contrastive model without complaint, and a garbage file was
    "File not found" though it exists. Now each is an error naming the file and what is wrong."""
    from facelab.nets.siamese import DeepID, SiameseContrastive
    from facelab.nets.training import save_model  # (errors: SavedModelError, a ValueError)

    x, y = faces
    pair = methods.create("siamese-contrastive", epochs=1, pairs_per_epoch=32, **TINY).fit(x, y)
    path = pair.save(tmp_path / "pair.keras")
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} holds a siamese-contrastive model, not deepid$"):
        DeepID.load(path)
    np.testing.assert_allclose(SiameseContrastive.load(path).embed(x), pair.embed(x), atol=1e-6)

    older = save_model(pair.backbone_, tmp_path / "older.keras")  # saved without the record inside
    shutil.copy(f"{path}.json", f"{older}.json")  # the config beside it names the method
    with pytest.raises(ValueError, match=r"older\.keras holds a siamese-contrastive model, not deepid"):
        DeepID.load(older)

    good = path.read_bytes()
    for name, data in [("garbage", b"this is not a model\n" * 50), ("truncated", good[: len(good) // 2]),
                       ("bit-flipped", _flip_a_bit(good)), ("empty", b"")]:
        bad = tmp_path / f"{name}.keras"
        bad.write_bytes(data)
        expected = rf"{re.escape(str(bad))} is not a Keras model file \(damaged or another format\)"
        with pytest.raises(ValueError, match=expected):
            SiameseContrastive.load(bad)
    with pytest.raises(FileNotFoundError, match="no saved model at"):
        DeepID.load(tmp_path / "missing.keras")
