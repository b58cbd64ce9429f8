"""Thread-count resolution (scikit-learn's semantics) and device queries."""

from __future__ import annotations

import os

from . import _core


def effective_n_threads(n_threads: int | None = None) -> int:
    """Resolve a user's ``n_threads`` to a positive count.

    ``None``: ``OMP_NUM_THREADS`` if set, else the cores available to this process.
    A negative value ``-k`` means all cores but ``k - 1``. Zero is an error. Without
    OpenMP the result is always 1.
    """
    if not _core.has_openmp():
        return 1
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        ncpu = os.cpu_count() or 1
    if n_threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        try:
            return max(1, int(env.split(",")[0]))
        except ValueError:
            return max(1, min(_core.max_threads(), ncpu))
    if isinstance(n_threads, bool) or not isinstance(n_threads, int):
        raise TypeError(f"n_threads must be an integer or None, got {n_threads!r}")
    if n_threads == 0:
        raise ValueError("n_threads=0 is not allowed; use None for all cores or a positive count")
    if n_threads < 0:
        return max(1, ncpu + 1 + n_threads)
    return n_threads


def cuda_available() -> bool:
    """Whether this build of cisreg can run kernels on a CUDA device."""
    return bool(_core.cuda_available())
