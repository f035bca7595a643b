"""Training infrastructure and the Siamese/DeepID methods on a small real LFW subset (32×32)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from facelab import methods

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def faces(lfw):
    from deep_helpers import lfw_subset

    return lfw_subset(lfw, people=30, per_person=6, size=32, min_images=6)


@pytest.fixture(scope="module")
def fitted(faces):
    """Every registered siamese/deepid method, fitted in quick mode."""
    x, y = faces
    out = {}
    for name in ("siamese-contrastive", "siamese-binary", "deepid", "deepid2"):
        out[name] = methods.create(name, quick=True, batch_size=16, seed=0).fit(x, y)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["siamese-contrastive", "siamese-binary", "deepid", "deepid2"])
def test_methods_fit_and_embed(fitted, faces, name):
    x, y = faces
    m = fitted[name]
    assert methods.spec(name).kind == m.kind == "deep"
    e = m.embed(x)
    assert e.shape == (len(x), 128) and e.dtype == np.float32
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(m.training_.history["loss"]).all() and len(m.training_.history["loss"]) == 2
    json.dumps(m.config)  # the config is JSON-able


def test_saved_model_reloads_with_identical_embeddings(fitted, faces, tmp_path):
    from facelab.nets.siamese import SiameseBinary

    x, _ = faces
    m = fitted["siamese-binary"]
    path = m.save(tmp_path / "m.keras")
    assert not [p for p in tmp_path.iterdir() if "tmp" in p.name]  # nothing half-written left
    again = SiameseBinary.load(path)
    assert np.array_equal(again.embed(x), m.embed(x))
    e = m.embed(x)
    np.testing.assert_array_equal(again.similarity.paired(e[:6], e[6:12]), m.similarity.paired(e[:6], e[6:12]))
    assert again.config["preprocess"] == m.config["preprocess"]
    with pytest.raises(ValueError, match=r"\(32, 32, 1\)"):
        again.embed(np.zeros((2, 32, 32, 3), np.uint8))  # wrong channel count names the expected shape


def test_flip_average_embeds_a_face_and_its_mirror_alike(fitted, faces, tmp_path):
    """Test-time flipping: the mean of the outputs for a face and its mirror image, so a face and
    its mirror embed alike; recorded in the config, left out of the fit config, kept by save/load."""
    import copy

    from facelab.nets.siamese import DeepID

    x, _ = faces
    plain = fitted["deepid"]
    flipped = copy.copy(plain)
    flipped.flip_average = True
    e, e_plain, e_mirror = flipped.embed(x), plain.embed(x), plain.embed(x[:, :, ::-1])
    np.testing.assert_allclose(e, 0.5 * (e_plain + e_mirror), atol=1e-6)
    np.testing.assert_allclose(flipped.embed(x[:, :, ::-1]), e, atol=1e-6)
    assert np.abs(e - e_plain).max() > 1e-3  # the network is not symmetric by itself
    assert flipped.config["flip_average"] is True and "flip_average" not in plain.config
    assert flipped.fit_config == plain.fit_config
    again = DeepID.load(flipped.save(tmp_path / "flip.keras"))
    assert again.flip_average and np.allclose(again.embed(x), e, atol=1e-6)


def test_shift_average_embeds_the_mean_over_the_grid_of_shifted_copies(fitted, faces, tmp_path):
    """``shift_average=s``: the mean of the outputs for the 3×3 grid of copies moved by −s, 0, s pixels
    (reflect-padded, :func:`facelab.data.pipeline.translate`), with ``flip_average`` also their
    mirrors (18 views); embedding-only, kept by save/load, and an offset the image cannot hold is an
    error naming the argument."""
    import copy

    from facelab.data.pipeline import translate
    from facelab.nets.siamese import DeepID

    x, _ = faces
    plain = fitted["deepid"]
    grid = [(dy, dx) for dy in (-2, 0, 2) for dx in (-2, 0, 2)]
    views = [translate(x, dy, dx) for dy, dx in grid]
    shifted = copy.copy(plain)
    shifted.shift_average = 2
    np.testing.assert_allclose(shifted.embed(x), np.mean([plain.embed(v) for v in views], 0), atol=1e-6)
    both = copy.copy(shifted)
    both.flip_average = True
    expected = np.mean([plain.embed(v) for v in views] + [plain.embed(v[:, :, ::-1]) for v in views], 0)
    np.testing.assert_allclose(both.embed(x), expected, atol=1e-6)
    assert np.abs(both.embed(x) - 0.5 * (plain.embed(x) + plain.embed(x[:, :, ::-1]))).max() > 1e-3
    assert both.config["shift_average"] == 2 and "shift_average" not in plain.config
    assert both.fit_config == plain.fit_config
    again = DeepID.load(both.save(tmp_path / "tta.keras"))
    assert again.shift_average == 2 and again.flip_average
    np.testing.assert_allclose(again.embed(x), both.embed(x), atol=1e-6)
    too_far = copy.copy(plain)
    too_far.shift_average = 32
    with pytest.raises(ValueError, match=r"shift_average must be in 0\.\.31 pixels for 32×32"):
        too_far.embed(x[:2])
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="shift_average must be a whole number of pixels"):
            methods.create("deepid", shift_average=bad)


def test_translate_moves_every_image_by_the_same_offset_with_reflected_borders(faces):
    from facelab.data.pipeline import translate

    x, _ = faces
    assert translate(x, 0, 0) is x
    moved = translate(x, 3, -2)
    assert moved.shape == x.shape and moved.dtype == x.dtype
    np.testing.assert_array_equal(moved[:, :-3, 2:], x[:, 3:, :-2])  # out[i, j] = x[i + 3, j − 2] inside
    np.testing.assert_array_equal(moved[:, 29:, 2:], x[:, [30, 29, 28], :-2])  # rows past the edge reflect back
    np.testing.assert_array_equal(moved[:, :-3, :2], x[:, 3:, [2, 1]])  # columns before 0 reflect too


def test_a_finished_run_is_re_embedded_with_flip_average_without_training_again(faces, tmp_path):
    x, y = faces
    kw = dict(quick=True, batch_size=16, seed=0, backbone_kwargs={"width": 8}, run_dir=str(tmp_path / "run"))
    first = methods.create("deepid", **kw).fit(x, y)
    again = methods.create("deepid", flip_average=True, **kw).fit(x, y)
    assert first.training_.epochs_run == 2 and again.training_.epochs_run == 0  # the checkpoint's settings match
    kept = json.loads((Path(first.fit_dir_) / "history.json").read_text())["history"]
    assert kept == first.training_.history  # re-evaluating a finished run keeps its training history
    other = methods.create("deepid", **kw).fit(x[:-12], y[:-12])  # another training set: its own folder
    assert other.training_.epochs_run == 2 and len(list((tmp_path / "run" / "deepid").glob("data-*"))) == 2
    np.testing.assert_allclose(again.embed(x), 0.5 * (first.embed(x) + first.embed(x[:, :, ::-1])), atol=1e-6)


def test_another_seed_in_the_same_run_dir_trains_its_own_network(faces, tmp_path):
    """A seed is a different network: ``--seed 1`` must not load seed 0's finished run from a shared
    run_dir (an ensemble of seeds keeps them side by side). Seed 0 keeps the folder name it always had."""
    x, y = faces
    kw = dict(quick=True, batch_size=16, backbone_kwargs={"width": 8}, run_dir=str(tmp_path / "run"))
    first = methods.create("deepid", seed=0, **kw).fit(x, y)
    other = methods.create("deepid", seed=1, **kw).fit(x, y)
    again = methods.create("deepid", seed=1, **kw).fit(x, y)
    assert first.training_.epochs_run == 2 and other.training_.epochs_run == 2 and again.training_.epochs_run == 0
    assert Path(first.fit_dir_).name.startswith("data-") and not Path(first.fit_dir_).name.endswith("-seed0")
    assert Path(other.fit_dir_).name == Path(first.fit_dir_).name + "-seed1" == Path(again.fit_dir_).name
    assert np.abs(other.embed(x) - first.embed(x)).max() > 1e-3
    np.testing.assert_allclose(again.embed(x), other.embed(x), atol=1e-6)


def test_siamese_binary_scores_pairs_with_its_trained_head(fitted, faces):
    """Verification thresholds the head the network was trained with: the Similarity's logit equals
    the Keras training model's output on the same image pairs."""
    from facelab.metrics import get_similarity

    x, _ = faces
    m = fitted["siamese-binary"]
    sim = get_similarity(m.similarity)
    assert sim.name == "siamese_head_abs"
    xa, xb = x[:10], x[10:20]
    logits = np.asarray(m.training_model_([m._float(xa), m._float(xb)], training=False)).ravel()
    e_a, e_b = m.embed(xa), m.embed(xb)
    np.testing.assert_allclose(sim.paired(e_a, e_b), logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(sim.pairwise(e_a, e_b).diagonal(), sim.paired(e_a, e_b), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="score must be"):
        methods.create("siamese-binary", score="probability")


def test_siamese_binary_label_smoothing_trains_towards_softened_targets():
    """``label_smoothing`` ε: the loss is the cross-entropy against 1 − ε/2 (same) and ε/2 (different),
    so it is smallest at the logit ±ln((1 − ε/2) / (ε/2)), not at ±∞; the setting is recorded, and an ε
    outside [0, 1) is refused by name."""
    eps = 0.1
    m = methods.create("siamese-binary", label_smoothing=eps)
    assert m.config["label_smoothing"] == eps
    assert "label_smoothing" not in methods.create("siamese-binary").config  # off: records stay as they were
    logits = np.linspace(-8, 8, 321, dtype=np.float32)[:, None]  # steps of 0.05
    p = 1 / (1 + np.exp(-logits[:, 0].astype(np.float64)))
    for same, best in ((1.0, np.log((1 - eps / 2) / (eps / 2))), (0.0, -np.log((1 - eps / 2) / (eps / 2)))):
        losses = np.asarray(m.loss.call(np.full_like(logits, same), logits))  # one loss per logit, unreduced
        assert abs(logits[int(np.argmin(losses)), 0] - best) <= 0.025
        target = same * (1 - eps) + eps / 2
        np.testing.assert_allclose(losses, -(target * np.log(p) + (1 - target) * np.log(1 - p)), rtol=1e-4, atol=1e-5)
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="label_smoothing"):
            methods.create("siamese-binary", label_smoothing=bad)


def test_bad_training_input(faces):
    x, y = faces
    m = methods.create("siamese-contrastive", quick=True)
    with pytest.raises(ValueError, match="at least 2"):
        m.fit(x[:6], np.zeros(6, np.int64))  # a training set with one identity
    with pytest.raises(ValueError, match="uint8"):
        m.fit(x.astype(np.float32), y)
    with pytest.raises(RuntimeError, match="fit"):
        m.embed(x)


def test_nan_loss_stops_with_message_and_keeps_checkpoint(tmp_path):
    import keras
    import tensorflow as tf

    from facelab.nets.training import CHECKPOINT, TrainConfig, TrainingDivergedError, read_checkpoint_meta, train

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    x = np.ones((16, 3), np.float32)

    def make(start_epoch, skip):  # batch 5 of epoch 0 (0-based) carries a NaN
        def gen():
            for e in range(start_epoch, 2):
                for b in range(skip if e == start_epoch else 0, 8):
                    yield (x * np.nan if (e, b) == (0, 5) else x), np.ones((16, 1), np.float32)
        return tf.data.Dataset.from_generator(gen, output_signature=(tf.TensorSpec((16, 3)), tf.TensorSpec((16, 1))))

    cfg = TrainConfig(epochs=2, checkpoint_every=2, run_dir=str(tmp_path), tensorboard=False, progress=False)
    with pytest.raises(TrainingDivergedError, match=r"epoch 0, batch 6.*last good checkpoint"):
        train(model, make, 8, cfg, loss="mse")
    meta = read_checkpoint_meta(tmp_path / CHECKPOINT)
    assert (meta["epoch"], meta["batch"]) == (0, 4)
    with np.load(tmp_path / CHECKPOINT) as npz:
        assert all(np.isfinite(npz[k]).all() for k in npz.files if k != "meta")


@pytest.mark.parametrize("hidden", [None, "tensorflow", "tensorboard"])
def test_per_epoch_logs_fall_back_to_csv_without_tensorflow_or_tensorboard(tmp_path, monkeypatch, hidden):
    """Keras's TensorBoard callback writes through tf.summary: on a JAX machine that has the tensorboard
    package but no TensorFlow it would fail at the first epoch's end; there the logs become a CSV. What a
    caller's callback adds to an epoch's logs (the triplet statistics, say) reaches every record."""
    import importlib.util

    import keras

    from facelab.nets.training import TrainConfig, train

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == hidden else find_spec(name, *a))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    x, y = np.ones((16, 3), np.float32), np.ones((16, 1), np.float32)

    def make(start_epoch, skip):
        return ((x, y) for e in range(start_epoch, 2) for b in range(skip if e == start_epoch else 0, 2))

    class Probe(keras.callbacks.Callback):  # like TripletStatsCallback: adds a number to each epoch's logs
        def on_epoch_end(self, epoch, logs=None):
            logs["probe"] = 10.0 + epoch

    cfg = TrainConfig(epochs=2, run_dir=str(tmp_path), tensorboard=True, progress=False)
    if hidden:
        with pytest.warns(UserWarning, match="TensorBoard logs need TensorFlow and the tensorboard package"):
            train(model, make, 2, cfg, loss="mse", callbacks=[Probe()])
        rows = (tmp_path / "logs" / "history.csv").read_text().splitlines()
        assert len(rows) == 3 and "probe" in rows[0].split(",")  # header + 2 epochs
        assert not list((tmp_path / "logs").rglob("events.out.tfevents*"))
    else:
        train(model, make, 2, cfg, loss="mse", callbacks=[Probe()])
        assert list((tmp_path / "logs").rglob("events.out.tfevents*"))
        assert not (tmp_path / "logs" / "history.csv").exists()
    assert json.loads((tmp_path / "history.json").read_text())["history"]["probe"] == [10.0, 11.0]


RUN_SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np, keras
    from facelab.nets.siamese import SiameseContrastive

    data, run_dir, out, throttle = np.load(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])

    class Throttle(keras.callbacks.Callback):  # slows the run so the test can kill it mid-epoch
        def on_train_batch_end(self, batch, logs=None):
            time.sleep(throttle)

    m = SiameseContrastive(seed=1, epochs=3, batch_size=16, pairs_per_epoch=96, checkpoint_every=2, run_dir=run_dir)
    m.training_callbacks = lambda sampler: [Throttle()]
    m.fit(data["x"], data["y"])
    np.save(out, m.embed(data["x"]))
""")


@pytest.mark.slow
def test_killed_run_resumes_from_checkpoint_and_matches_uninterrupted(faces, tmp_path):
    from facelab.nets.siamese import SiameseContrastive
    from facelab.nets.training import CHECKPOINT, read_checkpoint_meta

    x, y = faces
    np.savez(tmp_path / "data.npz", x=x, y=y)
    (tmp_path / "run.py").write_text(RUN_SCRIPT)
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, str(tmp_path / "run.py"), str(tmp_path / "data.npz"), str(run_dir),
           str(tmp_path / "emb.npy")]

    proc = subprocess.Popen(cmd + ["1.0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:  # wait (bounded) for a mid-epoch checkpoint, then SIGKILL (batches take >= 1 s: a wide window)
        deadline = time.monotonic() + 120
        meta = None
        while time.monotonic() < deadline and proc.poll() is None:
            found = list(run_dir.glob(f"siamese-contrastive/data-*/{CHECKPOINT}"))  # the training set's folder in run_dir
            if found:
                ckpt = found[0]
                meta = read_checkpoint_meta(ckpt)
                if meta["batch"] > 0 and meta["epoch"] >= 1:  # mid-epoch, after a finished epoch
                    break
            time.sleep(0.02)
        assert proc.poll() is None, f"run ended before it could be killed:\n{proc.stdout.read().decode()[-2000:]}"
        assert meta and meta["batch"] > 0 and meta["epoch"] >= 1, "no mid-epoch checkpoint in epoch 1 within 120 s"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = read_checkpoint_meta(ckpt)  # readable after the kill: written atomically
    assert not (tmp_path / "emb.npy").exists()
    history_file = ckpt.parent / "history.json"  # written at each epoch end: the killed run's finished epochs
    before = json.loads(history_file.read_text())["history"]["loss"] if history_file.exists() else []
    assert len(before) == killed_at["epoch"] >= 1

    done = subprocess.run(cmd + ["0"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list(ckpt.parent.parent.iterdir()) == [ckpt.parent]  # the same training set: the same folder
    history = json.loads(history_file.read_text())
    assert history["resumed_from"] == [killed_at["epoch"], killed_at["batch"]]
    assert killed_at["batch"] > 0  # resumed mid-epoch
    assert len(history["history"]["loss"]) == 3  # the whole run: the killed call's epochs, then the rest
    assert history["history"]["loss"][:killed_at["epoch"]] == before
    assert read_checkpoint_meta(ckpt)["epoch"] == 3

    # the same seed, uninterrupted, in this process: same batches, same weights, same embeddings
    ref = SiameseContrastive(seed=1, epochs=3, batch_size=16, pairs_per_epoch=96, checkpoint_every=2).fit(x, y)
    assert np.allclose(np.load(tmp_path / "emb.npy"), ref.embed(x), atol=1e-5)


def test_train_method_entry_point_validates_name(tmp_path):
    from facelab.nets.train_cli import train_method

    with pytest.raises(ValueError, match="classical"):
        train_method("pixels", tmp_path)
    with pytest.raises(KeyError, match="unknown method"):
        train_method("no-such-method", tmp_path)


_ALLOCATOR = "import os, facelab; print(os.environ.get('TF_CPU_ALLOCATOR_USE_BFC'))"


def _allocator_after_import(env_value):
    """TF_CPU_ALLOCATOR_USE_BFC as a fresh process sees it after ``import facelab``."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    if env_value is not None:
        env["TF_CPU_ALLOCATOR_USE_BFC"] = env_value
    out = subprocess.run([sys.executable, "-c", _ALLOCATOR], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_importing_facelab_chooses_the_cpu_allocator_unless_the_user_did():
    """facelab's contract: ``import facelab`` turns on TensorFlow's BFC CPU allocator (the choice and
    its measurements are in facelab/__init__.py and benchmarks/bench_cpu_allocator.py) unless the
    variable is already set, and then the user's value is left as it is. Whether BFC is faster is a
    property of the machine's C library and kernel: the benchmark measures it, not this test."""
    assert _allocator_after_import(None) == "true"
    assert _allocator_after_import("false") == "false"
    assert _allocator_after_import("true") == "true"
