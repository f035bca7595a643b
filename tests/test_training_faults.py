"""What a new user meets when first training: a mistyped ``--param`` names the key, suggests the close
one and lists what the method takes; ``--quick`` never lowers epochs the user gave; training prints its
settings and one line per epoch (nothing with ``--no-progress``). Real LFW, tiny networks."""
from __future__ import annotations

import re

import pytest

from facelab import methods, presets
from facelab.cli import main
from facelab.evaluation import runner as runner_module  # verify_each, the loop compare runs, calls its evaluator
from facelab.nets import train_cli
from facelab.nets.training import device_summary, resolve_precision

# a tiny network: 4 batches of 8 images an epoch, a few seconds a fit
TINY = dict(batch_size=8, backbone_kwargs={"width": 8}, embedding_dim=16, seed=0, checkpoint_every=0,
            tensorboard=False)


@pytest.fixture(scope="module")
def faces(lfw):
    from deep_helpers import lfw_subset

    return lfw_subset(lfw, people=8, per_person=4, size=32, min_images=4)


class _Built(Exception):
    """Stops a command once it has built its method (the tests look at the method, not a training)."""


# -- an unknown --param --------------------------------------------------------------------------
def test_an_unknown_param_is_named_with_the_close_key_and_what_the_method_takes(tmp_path, capsys):
    with pytest.raises(ValueError) as err:
        methods.create("deepid", epoch=80, seed=0, quick=True)  # seed and quick: what facelab passes itself
    message = str(err.value)
    assert message.startswith("method 'deepid' got an unknown argument 'epoch' (did you mean 'epochs'?); it takes: ")
    takes = message.split("it takes: ")[1].split(", ")
    assert {"epochs", "batch_size", "backbone", "learning_rate", "progress"} <= set(takes)
    assert "seed" not in message and "quick" not in message

    with pytest.raises(ValueError, match=r"got unknown arguments 'epoch' \(did you mean 'epochs'\?\), 'lr'; "
                                         r"it takes: .*\bpca_dim\b"):
        methods.create("deepid+jb", epoch=80, lr=0.1)  # a +jb head: its own pca_dim and the network's parameters
    with pytest.raises(TypeError, match=r"'gan-disentangler' got an unknown argument 'epoch' \(did you mean "
                                        r"'epochs'\?\); it takes: .*\bid_dim\b"):
        methods.create("gan-disentangler", epoch=[1, 1, 1])  # its GanConfig fields count as its parameters

    for argv in (["compare", "--methods", "deepid", "--protocol", "view1", "--param", "epoch=80"],
                 ["train", "deepid", "--quick", "--param", "epoch=80"]):
        assert main([*argv, "--out", str(tmp_path / argv[0])]) == 2
        err_text = capsys.readouterr().err
        assert f"facelab {argv[0]}: error: method 'deepid' got an unknown argument 'epoch' (did you mean 'epochs'?)" \
               in err_text, err_text
    assert not (tmp_path / "train").exists()


# -- --quick and an explicit epoch count ---------------------------------------------------------
def test_quick_sets_default_budgets_and_never_lowers_epochs_given_explicitly():
    assert methods.create("deepid", quick=True).train_epochs == 2  # the quick default, as before
    assert methods.create("deepid", preset="defaults").train_epochs == 20  # the constructor's default
    assert methods.create("deepid").train_epochs == presets.presets_of("deepid")["class"].params["epochs"]
    for name in ("deepid", "siamese-contrastive", "triplet-batch-hard", "deepid+jb"):
        for epochs in (300, 20, 1):  # 20 is also the default: given explicitly, it is kept
            network = methods.create(name, quick=True, epochs=epochs)
            network = getattr(network, "base", network)  # a +jb head: the network it scores
            assert network.train_epochs == network.config["epochs"] == epochs, (name, epochs)
    assert methods.create("gan-disentangler", quick=True).gan_config.epochs == (2, 1, 1)  # the quick preset's
    assert methods.create("gan-disentangler", quick=True, epochs=[6, 3, 3]).gan_config.epochs == (6, 3, 3)
    assert methods.create("grouped-vae", quick=True).epochs == 1
    assert methods.create("grouped-vae", quick=True, epochs=5).epochs == 5


def test_the_commands_keep_explicit_epochs_under_quick_and_pass_progress_to_the_methods(tmp_path, monkeypatch):
    built = []

    def build_and_stop(*args, **kwargs):
        built.append(real_create(*args, **kwargs))
        raise _Built

    real_create = methods.create
    monkeypatch.setattr(train_cli.methods, "create", build_and_stop)
    with pytest.raises(_Built):
        main(["train", "deepid", "--quick", "--epochs", "300", "--out", str(tmp_path / "train")])
    assert built[-1].train_epochs == 300 and built[-1].progress is True
    monkeypatch.setattr(train_cli.methods, "create", real_create)

    def first_method(factory, *args, **kwargs):
        built.append(factory())
        raise _Built

    monkeypatch.setattr(runner_module, "evaluate_verification", first_method)
    for flags, progress in (([], True), (["--no-progress"], False)):
        with pytest.raises(_Built):
            main(["compare", "--methods", "deepid", "--protocol", "view1", "--quick", "--param", "epochs=300",
                  "--out", str(tmp_path / f"compare{len(flags)}"), *flags])
        assert built[-1].train_epochs == 300 and built[-1].progress is progress


# -- what training prints ----------------------------------------------------------------------
@pytest.mark.slow
def test_training_prints_its_settings_and_one_line_per_epoch_unless_progress_is_off(faces, tmp_path, capsys):
    x, y = faces
    methods.create("deepid", quick=True, progress=True, run_dir=str(tmp_path / "run"), **TINY).fit(x, y)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == ("deepid: 2 epochs of 4 steps, preset quick, batch 8 images, backbone small, embedding 16, "
                        f"precision {resolve_precision('auto')}, device {device_summary()}"), lines
    assert [re.sub(r"[\d.]+ s - loss: [\d.e+-]+$", "S - loss: L", line) for line in lines[1:]] == \
        ["deepid: epoch 1/2 - S - loss: L", "deepid: epoch 2/2 - S - loss: L"], lines

    methods.create("deepid", quick=True, progress=True, run_dir=str(tmp_path / "run"), **TINY).fit(x, y)
    assert capsys.readouterr().err.splitlines() == [lines[0] + "; 2 epochs trained before, nothing left to train"]

    methods.create("deepid", quick=True, progress=False, **TINY).fit(x, y)
    assert capsys.readouterr().err == ""
