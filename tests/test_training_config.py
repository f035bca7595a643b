"""The training configuration (:mod:`facelab.nets.training.config`): the cosine learning rate and
the options' validation."""
from __future__ import annotations

import numpy as np
import pytest


def test_cosine_schedule_decays_to_zero_over_the_run_and_is_validated():
    from facelab.nets.training import TrainConfig

    opt = TrainConfig(learning_rate=1e-3, lr_schedule="cosine").make_optimizer(total_steps=100)
    rates = []
    for step in (0, 50, 100):
        opt.iterations.assign(step)
        rates.append(float(np.asarray(opt.learning_rate)))
    assert rates == pytest.approx([1e-3, 5e-4, 0.0], abs=1e-9)
    constant = TrainConfig(learning_rate=1e-3).make_optimizer(total_steps=100)
    constant.iterations.assign(100)
    assert float(np.asarray(constant.learning_rate)) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="lr_schedule must be"):
        TrainConfig(lr_schedule="step")
    with pytest.raises(ValueError, match="jit_compile must be"):
        TrainConfig(jit_compile="yes")
