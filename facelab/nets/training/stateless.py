"""Helpers for stateless JAX training steps: a custom ``train_step`` under JAX gets and returns its state
as values, so the state Keras would update in place (BatchNorm statistics, seed generators, metrics) has
to be read back from a :class:`keras.StatelessScope`. The generative methods' steps share these."""
from __future__ import annotations

from typing import Callable

import keras


def scope_values(scope, variables, previous) -> list:
    """The values a :class:`keras.StatelessScope` assigned to ``variables`` (else their ``previous``
    ones): the new state of a stateless JAX training step (BatchNorm statistics, seed generators, metrics)."""
    out = []
    for v, old in zip(variables, previous):
        new = scope.get_current_value(v)
        out.append(old if new is None else new)
    return out


def stateless_record(model: keras.Model, metric_vars, record: Callable[[], dict]):
    """``record()`` (which updates ``model``'s metrics and returns the logs) run statelessly on the
    metric values ``metric_vars``: ``(logs, new metric values)``, for a JAX ``train_step``."""
    with keras.StatelessScope(state_mapping=list(zip(model.metrics_variables, metric_vars))) as scope:
        logs = record()
    return logs, scope_values(scope, model.metrics_variables, metric_vars)
