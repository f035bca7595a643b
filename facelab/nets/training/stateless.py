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


def jax_objectives_step(model: keras.Model, state, compute: Callable[[], tuple], updates: list) -> tuple:
    """One stateless JAX training step of ``model`` (keras-io, "customizing fit() with JAX"), for one
    objective or several.

    ``state`` is what Keras' JAX trainer hands ``train_step``: ``(trainable, non_trainable,
    optimizer_vars, metric_vars)``. ``compute()`` returns ``(objectives, aux)``, a tuple of scalar
    losses and anything else the step needs afterwards; it runs once, inside a
    :class:`keras.StatelessScope` that maps every variable of ``model`` (and of ``model.optimizer``) to
    its value in ``state``. ``updates`` is one ``(optimizer, variables)`` per objective, in the same
    order: each objective is differentiated only with respect to its own ``variables`` (a subset of
    ``model.trainable_variables``) and applied by its own optimizer. One forward pass under
    ``jax.vjp``; its pull-back is applied once per objective, as a persistent ``tf.GradientTape``
    gives one gradient per loss. The trainer carries only ``model.optimizer``'s slots in
    ``optimizer_vars``; another optimizer's slots must be non-trainable variables of ``model``, and
    are read from and written back to ``state``'s non-trainable part.

    Returns ``(aux, trainable, non_trainable, optimizer_vars)``, the new values; the metrics are the
    caller's to record (:func:`stateless_record` on ``state[3]``).
    """
    import jax
    from keras import ops

    trainable, old_non_trainable, optimizer_vars, _ = state
    t_vars, nt_vars = model.trainable_variables, model.non_trainable_variables

    def forward(trainable):
        mapping = (list(zip(t_vars, trainable)) + list(zip(nt_vars, old_non_trainable))
                   + list(zip(model.optimizer.variables, optimizer_vars)))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            objectives, aux = compute()
        return tuple(objectives), (aux, scope_values(scope, nt_vars, old_non_trainable))

    objectives, pull_back, (aux, non_trainable) = jax.vjp(forward, trainable, has_aux=True)
    if len(objectives) != len(updates):
        raise ValueError(f"compute() gave {len(objectives)} objectives for {len(updates)} (optimizer, variables) pairs")
    trainable, non_trainable = list(trainable), list(non_trainable)
    t_index = {id(v): i for i, v in enumerate(t_vars)}
    nt_index = {id(v): i for i, v in enumerate(nt_vars)}
    for k, (opt, variables) in enumerate(updates):
        cotangent = tuple(ops.ones_like(o) if j == k else ops.zeros_like(o) for j, o in enumerate(objectives))
        (grads,) = pull_back(cotangent)
        rows = [t_index[id(v)] for v in variables]
        if opt is model.optimizer:
            opt_values = optimizer_vars
        else:
            opt_values = [non_trainable[nt_index[id(v)]] for v in opt.variables]
        new_values, opt_values = opt.stateless_apply(opt_values, [grads[i] for i in rows],
                                                     [trainable[i] for i in rows])
        for i, value in zip(rows, new_values):
            trainable[i] = value
        if opt is model.optimizer:
            optimizer_vars = opt_values
        else:
            for v, value in zip(opt.variables, opt_values):
                non_trainable[nt_index[id(v)]] = value
    return aux, trainable, non_trainable, optimizer_vars
