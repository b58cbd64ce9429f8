"""Thread-count resolution (scikit-learn's semantics), device queries and the CPU kernel
level."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

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


def cpu_kernel_levels() -> list[str]:
    """The CPU instruction-set copies of the kernels that this CPU can run, lowest first
    (``"scalar"``, the one-row reference; ``"generic"``; ``"x86-64-v3"``: AVX2 + FMA;
    ``"x86-64-v4"``: AVX-512). Every copy computes the same results to rounding."""
    here = _core.cpu_kernel_level()
    out = []
    for level in _core.kernel_levels():
        try:
            _core.set_cpu_kernel_level(level)
        except ValueError:
            continue
        finally:
            _core.set_cpu_kernel_level(here)
        out.append(level)
    return out


@contextmanager
def kernel_level(level: str) -> Iterator[str]:
    """Run every CPU kernel inside the ``with`` block with the instruction-set copy ``level``
    (one of :func:`cpu_kernel_levels`), e.g. to check a result on the AVX2 copy of an
    AVX-512 machine. The setting is process-wide: do not use it while other threads run
    kernels. Yields the level that ran before."""
    before = _core.set_cpu_kernel_level(level)
    try:
        yield before
    finally:
        _core.set_cpu_kernel_level(before)
