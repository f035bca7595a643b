"""How a network trains: :class:`TrainConfig` (epochs, optimizer, schedule, checkpoints) and the device
and precision it trains on. Kept apart from the loop so a method can check and record its settings
(``check_choice``, ``PRECISIONS``, ``config_dict``) without importing the training machinery.

Precision: :func:`precision_scope` builds a model under a dtype policy without changing the global one;
``"auto"`` means mixed_float16 on a GPU, float32 on a CPU (where mixed_float16 measured 6× slower). On a
CPU with native bfloat16 instructions mixed_bfloat16 can pay, but not reliably: on one such CPU
(``reports/cpu/precision-view1``) the width-32 network trained 1.3–2.2× faster with it at 64 × 64 and no
faster at 48 × 48, the class recipes' size, whose View 1 training took as long and scored the same. So it
is asked for by name, where ``benchmarks/bench_training.py`` run on the machine at hand says it pays.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, field

import keras

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
LR_SCHEDULES = ("constant", "cosine")


def check_choice(name: str, value, allowed) -> None:
    """A ValueError naming the setting and its allowed values when ``value`` is not one of them."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


# -- device and precision ------------------------------------------------------------------
def gpu_available() -> bool:
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if keras.backend.backend() == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    return False


def device_summary() -> str:
    return "GPU" if gpu_available() else "CPU"


def resolve_precision(precision: str = "auto") -> str:
    check_choice("precision", precision, PRECISIONS)
    if precision == "auto":
        return "mixed_float16" if gpu_available() else "float32"
    return precision


@contextlib.contextmanager
def precision_scope(precision: str = "auto"):
    """Layers created inside use ``precision``'s dtype policy; the global policy is restored after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(resolve_precision(precision))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def tensorboard_available() -> bool:
    """Keras's TensorBoard callback writes through ``tf.summary``: it needs TensorFlow as well as the
    tensorboard package (a JAX-only GPU machine often has the second without the first)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("tensorflow", "tensorboard"))


# -- configuration -------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """How long and how to train. ``run_dir=None`` trains in a temporary folder (no resumption)."""

    epochs: int = 10
    learning_rate: float = 1e-3
    optimizer: str = "adam"  # "adam" | "sgd" (momentum 0.9)
    weight_decay: float = 0.0  # decoupled (AdamW) when > 0 with "adam"
    #: "constant", or "cosine": decay to 0 over the whole run (Loshchilov & Hutter 2017, SGDR without restarts)
    lr_schedule: str = "constant"
    #: XLA-compile the train step; "auto" = yes under JAX (whose un-jitted steps run op by op), no
    #: under TensorFlow (its graph step, the default the CPU numbers were measured with)
    jit_compile: bool | str = "auto"
    checkpoint_every: int = 50  # batches; 0 = only at epoch ends
    run_dir: str | None = None
    tensorboard: bool = True
    progress: bool = True
    extra: dict = field(default_factory=dict)  # anything the caller wants in the checkpoint metadata

    def __post_init__(self):
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if self.jit_compile not in (True, False, "auto"):
            raise ValueError(f"jit_compile must be true, false or 'auto', got {self.jit_compile!r}")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")

    @property
    def jit(self) -> bool:
        return keras.backend.backend() == "jax" if self.jit_compile == "auto" else bool(self.jit_compile)

    def rate(self, total_steps: int = 1):
        """``learning_rate``, or under ``lr_schedule="cosine"`` its decay to 0 over ``total_steps`` batches (it
        reads the optimizer's step counter, which checkpoints keep, so a resumed run continues on the same curve)."""
        if self.lr_schedule == "cosine":
            return keras.optimizers.schedules.CosineDecay(self.learning_rate, decay_steps=max(1, int(total_steps)))
        return self.learning_rate

    def make_optimizer(self, total_steps: int = 1) -> keras.optimizers.Optimizer:
        """The optimizer at :meth:`rate`; ``total_steps`` (epochs × steps per epoch) sets the cosine schedule's length."""
        lr = self.rate(total_steps)
        if self.optimizer == "sgd":
            return keras.optimizers.SGD(lr, momentum=0.9, weight_decay=self.weight_decay or None)
        if self.weight_decay:
            return keras.optimizers.AdamW(lr, weight_decay=self.weight_decay)
        return keras.optimizers.Adam(lr)


def config_dict(config: TrainConfig) -> dict:
    d = asdict(config)
    d.pop("extra", None)
    return d
