"""facelab — face recognition, classical to deep, on one LFW protocol."""
import os as _os

# TensorFlow's BFC allocator on the CPU: it keeps and reuses the memory of a training step's large
# activations, where glibc malloc maps and unmaps them every step (nearly a third of a CPU training run's time
# went to page faults here; benchmarks/bench_cpu_allocator.py). Read when TensorFlow first allocates, so
# this must run before that; an explicit setting of the variable wins.
_os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

__version__ = "0.1.0"
