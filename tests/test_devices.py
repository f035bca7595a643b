"""Training on several devices (``devices``): two virtual CPU devices give one device's loss trajectory
on the same global batch, under TensorFlow (MirroredStrategy, synchronised batch norm) and JAX
(keras.distribution.DataParallel); in-batch mining under TensorFlow says it mines per device.

Each backend runs in a fresh process: the CPU is split into devices before the backend starts.
Tolerance: per-epoch mean losses within 1e-3 relative (measured: DeepID 1e-6 under both backends,
batch-hard triplets 2e-7 and the grouped VAE 5e-7 under JAX), 5e-3 for the Siamese net under TensorFlow (measured 1.8e-3 after
three epochs: the synchronised batch norm's variance is E[x²] − E[x]², not the fused kernel's two
passes; with that formula on one device too the two agree to 1.2e-5)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from deep_helpers import jax_process_env

SCRIPT = """
import json, sys, warnings
import keras
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
sys.path.insert(0, sys.argv[1])
from deep_helpers import lfw_subset
from facelab import methods
from facelab.data.lfw import LFW
images, labels = lfw_subset(LFW(progress=False), people=16, per_person=6, size=32)
out = {}
for name in json.loads(sys.argv[2]):
    name, _, only = name.partition("@")  # "NAME@2": two devices only
    settings = {"triplet": {"p": 8, "k": 4, "epochs": 3}, "grouped-vae": {"batch_groups": 8, "epochs": 3},
                "gan-disentangler": {"batch_size": 32, "preprocess": {"size": 32}}}.get(
        name.split("-")[0] if name.startswith("triplet") else name, {"batch_size": 32, "epochs": 3})
    for devices in (int(only),) if only else (1, 2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                m = methods.create(name, quick=True, devices=devices, **settings)
                if name == "gan-disentangler":  # its first stage: the autoencoder and both adversaries
                    m.train_autoencoder(images)
                    loss = m.curves_["stage1"]["loss"]
                else:
                    loss = m.fit(images, labels).training_history()["loss"]
            except ValueError as err:
                out[f"{name}/{devices}"] = {"error": str(err)}
                continue
        out[f"{name}/{devices}"] = {"loss": loss, "embedding": m.embed(images[:6]).tolist(),
                                    "warnings": [type(w.message).__name__ + ": " + str(w.message) for w in caught],
                                    "config": m.config}
print(json.dumps(out))
"""


def _train(backend: str, names: list[str]) -> dict:
    env = jax_process_env(devices=2) if backend == "jax" else dict(os.environ, KERAS_BACKEND=backend)
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(Path(__file__).parent), json.dumps(names)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def _same_trajectory(runs: dict, name: str, rtol: float = 1e-3, epochs: int = 3):
    one, two = runs[f"{name}/1"], runs[f"{name}/2"]
    assert len(one["loss"]) == len(two["loss"]) == epochs
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=rtol)
    assert one["loss"][-1] < one["loss"][0]  # it trained
    # the network that comes out embeds one row per image, as the one-device network does
    a, b = np.array(one["embedding"]), np.array(two["embedding"])
    assert a.shape == b.shape and a.shape[0] == 6
    cosine = np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert (cosine > 0.99).all()  # the same direction for every face
    assert two["config"]["devices"] == 2 and "devices" not in one["config"]


def test_tensorflow_two_devices_train_as_one(lfw):
    runs = _train("tensorflow", ["deepid", "siamese-contrastive", "triplet-batch-hard", "triplet-offline-hard@2",
                                 "grouped-vae@2", "gan-disentangler@2"])
    _same_trajectory(runs, "deepid")
    _same_trajectory(runs, "siamese-contrastive", rtol=5e-3)
    # in-batch mining sees each device's half of the P×K batch, and says so
    hard = runs["triplet-batch-hard/2"]
    assert any(w.startswith("MinesPerReplicaWarning") and "4×4 slice of the 8×4 batch" in w for w in hard["warnings"])
    assert not any("MinesPerReplica" in w for w in runs["triplet-batch-hard/1"]["warnings"])
    # the mean of the devices' losses (each the hardest triplets of fewer people: no larger than the whole
    # batch's), not their sum: Keras leaves a loss reduced in ``call`` for facelab to divide
    whole = runs["triplet-batch-hard/1"]["loss"][0]
    assert np.isfinite(hard["loss"]).all() and 0.6 * whole < hard["loss"][0] < whole
    # offline triplets (anchors, positives, negatives in blocks) cannot be cut in two
    assert "cannot be split over 2 TensorFlow replicas" in runs["triplet-offline-hard/2"]["error"]
    # the generative methods' custom TensorFlow steps do not divide their objectives among replicas
    for name in ("grouped-vae", "gan-disentangler"):
        assert "trains on several devices under JAX (KERAS_BACKEND=jax)" in runs[f"{name}/2"]["error"]


def test_jax_two_devices_train_as_one_and_mine_the_whole_batch(lfw):
    """Under JAX the generative methods' custom steps (stateless, with batch-norm and seed state) too."""
    runs = _train("jax", ["triplet-batch-hard", "grouped-vae", "gan-disentangler"])
    _same_trajectory(runs, "triplet-batch-hard")  # one program over the whole batch: the same triplets mined
    assert not any("MinesPerReplica" in w for w in runs["triplet-batch-hard/2"]["warnings"])
    _same_trajectory(runs, "grouped-vae")
    # two adversaries amplify round-off: the first epoch agrees to 3e-7, the second to 8e-4 (measured)
    _same_trajectory(runs, "gan-disentangler", rtol=5e-3, epochs=2)


# -- settings and errors (this process: TensorFlow, one CPU device) ------------------------------

def test_devices_setting_is_checked_and_recorded_but_not_in_the_checkpoint_key():
    from facelab import methods

    for bad in (0, -1, 1.5, True, "two"):
        with pytest.raises(ValueError, match="devices must be a whole number >= 1 or 'all'"):
            methods.create("deepid", devices=bad)
    m = methods.create("deepid", devices=2, quick=True)
    assert m.params()["devices"] == 2 and "devices" not in m._checkpoint_params()
    assert "devices" not in methods.create("deepid", quick=True).params()  # one device: records as before


def test_too_many_devices_names_the_count_and_how_to_split_a_cpu(lfw):
    from deep_helpers import lfw_subset

    from facelab import methods
    from facelab.nets.training.devices import check_batch

    images, labels = lfw_subset(lfw, people=4, per_person=4, size=32)
    with pytest.raises(ValueError, match=r"devices=3, but Keras \(tensorflow\) sees 1 device\(s\); on a CPU, "
                                         r"tf.config.set_logical_device_configuration"):
        methods.create("deepid", devices=3, quick=True).fit(images, labels)
    with pytest.raises(ValueError, match="batch_size=30 does not split evenly over 4 devices"):
        check_batch(30, 4)


def test_a_p_lowered_to_the_people_there_are_must_still_split_over_the_devices():
    from facelab import methods

    labels = np.repeat(np.arange(5), 3)  # five people: P=16 lowers to 5
    m = methods.create("triplet-semi-hard", p=16, quick=True)
    assert m._pk(labels).p == 5  # one device: any P
    m.replicas_ = 2  # as a fit on two devices sets it
    with pytest.raises(ValueError, match=r"p \(lowered to the 5 people with two or more faces\)=5 does not split "
                                         r"evenly over 2 devices"):
        m._pk(labels)
    assert m._pk(np.repeat(np.arange(4), 3)).p == 4


def test_train_command_takes_devices(tmp_path, capsys):
    import facelab.cli as cli

    with pytest.raises(SystemExit):
        cli.main(["train", "deepid", "--out", str(tmp_path), "--devices", "0"])
    assert "expected a whole number >= 1 or 'all', got '0'" in capsys.readouterr().err
    assert cli.build_parser().parse_args(["train", "deepid", "--out", "x", "--devices", "all"]).devices == "all"


def test_several_hosts_need_jax(monkeypatch):
    from facelab.nets.training.devices import join_hosts

    monkeypatch.delenv("KERAS_DISTRIBUTION_NUM_PROCESSES", raising=False)
    assert join_hosts() == 1
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "2")
    with pytest.raises(ValueError, match="training across hosts needs KERAS_BACKEND=jax"):
        join_hosts()
