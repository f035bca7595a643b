"""facelab — face recognition, classical to deep, on one LFW protocol."""
import os as _os

# TensorFlow's BFC allocator on the CPU: it keeps and reuses the memory of a training step's large
# activations. Where glibc malloc maps and unmaps such blocks every step, BFC trained 1.33x faster (a 2-core
# machine whose malloc faulted 5.9 million pages in 30 steps); where the kernel and C library make that
# cheap it changes nothing (0.98x and 1.02x on two newer machines, about 12,000 faults). A default that
# saves a quarter of the time on some laptops and costs nothing measurable on others: benchmarks/README.md,
# reports/cpu/bench-cpu-allocator/. Read when TensorFlow first allocates, so this must run before that;
# an explicit setting of the variable wins.
_os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

__version__ = "0.1.0"
