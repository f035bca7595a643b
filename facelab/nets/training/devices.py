"""Training on several devices with Keras' own machinery: data parallelism, one model replica per device.

- JAX: :class:`keras.distribution.DataParallel` over the first ``devices`` of ``jax.devices()``. The
  train step is one program over the whole batch, sharded on its first axis, so batch-norm statistics
  and in-batch mining see the whole batch, exactly as on one device. Several hosts: start every host's
  Python with ``keras.distribution.initialize()`` (``jax.distributed``; see the README), then
  ``devices="all"`` spans every host's devices.
- TensorFlow: :class:`tf.distribute.MirroredStrategy` over the first ``devices`` logical GPUs (else
  CPUs). Each replica runs the step on its slice of the batch and the gradients are summed; batch
  norm is synchronised across replicas (:func:`synchronized_batch_norm`), but a loss that mines inside
  the batch mines each replica's slice: :func:`mines_per_replica` says so.

A batch of ``B`` images is split into ``devices`` consecutive slices of ``B / devices``; a P×K batch
(P people × K images, grouped by person) therefore gives each device P / devices whole people.
"""
from __future__ import annotations

import contextlib
import os

import keras

from ...losses.reducers import replicas_in_sync

#: the virtual-device switch each backend offers on a CPU (for trying several devices on a laptop)
CPU_SPLIT = {"jax": "XLA_FLAGS=--xla_force_host_platform_device_count=N (set before Python starts)",
             "tensorflow": "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * N)"
                           " (before TensorFlow first runs)"}


#: set on every host of a multi-host run (Keras' names; ``keras.distribution.initialize`` reads them)
HOST_VARIABLES = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES", "KERAS_DISTRIBUTION_PROCESS_ID")


def join_hosts() -> int:
    """Join a multi-host run when ``KERAS_DISTRIBUTION_NUM_PROCESSES`` > 1 (JAX only; call it before
    anything runs on a device): ``keras.distribution.initialize`` starts ``jax.distributed`` from the
    variables in :data:`HOST_VARIABLES`. Returns the number of hosts (1: nothing to join)."""
    hosts = int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1") or 1)
    if hosts > 1:
        if keras.backend.backend() != "jax":
            raise ValueError(f"KERAS_DISTRIBUTION_NUM_PROCESSES={hosts}: training across hosts needs KERAS_BACKEND=jax "
                             f"(now {keras.backend.backend()})")
        keras.distribution.initialize()
    return hosts


def check_devices(devices) -> int | str:
    """``devices`` as a setting: a whole number ≥ 1 or ``"all"``; a clear error otherwise."""
    if devices == "all":
        return "all"
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise ValueError(f"devices must be a whole number >= 1 or 'all'; got {devices!r}")
    return devices


def available_devices() -> list:
    """The devices a model can be replicated on: the accelerators, else the (logical) CPUs."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        devices = jax.devices()
        return [d for d in devices if d.platform != "cpu"] or devices
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_logical_devices("GPU")] or \
            [d.name for d in tf.config.list_logical_devices("CPU")]
    return [None]


def resolve_devices(devices) -> list:
    """The devices ``devices`` (a count or ``"all"``) asks for; an error naming the count there is and how
    to split a CPU into virtual devices when there are too few."""
    devices = check_devices(devices)
    there = available_devices()
    if devices == "all":
        return there
    if devices > len(there):
        backend = keras.backend.backend()
        how = f"; on a CPU, {CPU_SPLIT[backend]}" if backend in CPU_SPLIT else ""
        raise ValueError(f"devices={devices}, but Keras ({backend}) sees {len(there)} device(s){how}")
    if devices > 1 and keras.backend.backend() not in CPU_SPLIT:
        raise ValueError(f"training on {devices} devices needs the JAX or TensorFlow backend, "
                         f"not {keras.backend.backend()}")
    return there[:devices]


def check_batch(batch_size: int, replicas: int, what: str = "batch_size") -> None:
    """Every device gets the same share of the batch."""
    if batch_size % replicas:
        raise ValueError(f"{what}={batch_size} does not split evenly over {replicas} devices; "
                         f"use a multiple of {replicas}")


@contextlib.contextmanager
def distribution_scope(devices=1):
    """Build, compile and fit inside this block to train on ``devices`` devices (1: as before, no
    distribution). Yields the number of replicas."""
    chosen = resolve_devices(devices)
    if len(chosen) == 1:
        yield 1
        return
    if keras.backend.backend() == "jax":
        with keras.distribution.DataParallel(devices=chosen).scope():
            yield len(chosen)
    else:
        import tensorflow as tf

        # all-reduces through one device: collective all-reduces can run in a different order on each
        # replica when a step applies a network twice (the Siamese twins' batch norms), and then fail
        with tf.distribute.MirroredStrategy(chosen, cross_device_ops=tf.distribute.ReductionToOneDevice()).scope():
            yield len(chosen)


def synchronized_batch_norm() -> bool:
    """Batch norm must all-reduce its statistics: several TensorFlow replicas each see only their slice."""
    return replicas_in_sync() > 1


def mines_per_replica() -> bool:
    """A loss that compares the rows of a batch (in-batch triplet mining) sees one replica's slice."""
    return replicas_in_sync() > 1


def single_device_copy(model: keras.Model) -> keras.Model:
    """``model`` rebuilt outside the distribution with its trained weights (call it after the
    :func:`distribution_scope` block): a network trained on several devices embeds, saves and loads like
    one trained on one (a replicated model's ``predict`` under TensorFlow returns every replica's rows)."""
    copy = type(model).from_config(model.get_config())  # the layers alone: not the compiled loss
    copy.set_weights([keras.ops.convert_to_numpy(w) for w in model.get_weights()])
    return copy
