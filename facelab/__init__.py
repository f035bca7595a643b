"""facelab — face recognition, classical to deep, on one LFW protocol."""
import os as _os

# TensorFlow's BFC allocator on the CPU: it keeps and reuses the memory of a training step's large
# activations. Where glibc malloc maps and unmaps such blocks every step, BFC trains faster (page faults
# gone); where the kernel and C library make that cheap it changes nothing measurable. The ratios on
# the machines measured are printed from their records in reports/cpu/bench-cpu-allocator/README.md by
# benchmarks/bench_cpu_allocator.py --table (how: benchmarks/README.md). Read when TensorFlow first
# allocates, so this must run before that; an explicit setting of the variable wins.
_os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

__version__ = "0.1.0"
