"""How processes that run at once share this machine's CPU cores.

BLAS (OpenBLAS, MKL), OpenMP and TensorFlow each start one thread per core in every process, and BLAS
threads spin while they wait for work. Two processes on two cores then keep four threads busy: two View 2
comparisons of ``lbp`` and ``lbp+jb`` (three folds) run side by side on a 2-core machine took 128 s with
the default threads and 54 s with one thread each, the same numbers. Each library reads these variables
when it starts, so they are set before a process starts (or before it imports numpy)."""
from __future__ import annotations

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")


def cores() -> int:
    """CPU cores this process may run on (its affinity where the system says, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def thread_share(processes: int) -> dict[str, str]:
    """Environment giving each of ``processes`` processes running at once its share of the cores (at least one)."""
    threads = str(max(1, cores() // max(1, processes)))
    return dict.fromkeys(THREAD_VARIABLES, threads)
