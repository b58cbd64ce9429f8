"""Time an epoch of the fit loop against the kernel's full-gradient time, in one run.

The lac model (CRP + RNAP, 10-bin sort-seq) on N random 75-bp sequences. For each thread
count (1 and the default, all cores) it times: the full gradient over the N rows (the
floor an epoch can reach), an epoch of the loop in the core (``train_epoch`` ->
``_core.adam_epoch``: one return to Python per epoch), the same with every kernel call on
every thread (``epoch_core_every_call_threaded``: the thread policy before calls needed a
minimum of work per thread) and an epoch of the loop it replaced (one kernel call and one
Adam step in Python per minibatch), at batch sizes 500 (the default) and 10,000. With
``--compete`` a CPU-bound process runs for the duration of the measurements (a busy laptop,
a shared node). One JSON line per measurement: ``ratio_vs_full_gradient`` is the epoch's
time over the full gradient's at the same thread count and in the same conditions
(``ratio_vs_1_thread_full_gradient``: over one thread's).

    python bench/bench_epoch.py [--n 1000000] [--repeats 3] [--compete] [--json PATH]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np

import cisreg
from _common import Reporter, median_iqr, time_call
from cisreg import _core
from cisreg.training.adam import Adam
from cisreg.training.loop import l2_vector, train_epoch


def _spin(stop: object) -> None:  # pragma: no cover - a child process
    x = 0
    while not stop.is_set():  # type: ignore[attr-defined]
        for _ in range(100_000):
            x += 1


def python_epoch(model, codes, targets, amounts, train, rng, batch_size, opt, grad, l2, n_threads, dtype):
    """The loop as it ran in Python: one kernel call and one Adam step per minibatch."""
    theta = model.theta
    perm = rng.permutation(train)
    for i in range(0, len(perm), batch_size):
        rows = np.sort(perm[i : i + batch_size])
        model.loss(codes, targets, rows, n_threads=n_threads, grad=True, grad_out=grad, dtype=dtype)
        reads = float(amounts[rows].sum())
        if reads == 0 or not math.isfinite(grad[0]):
            continue
        grad /= reads
        grad += l2 * theta
        opt.step(theta, grad)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--compete", action="store_true", help="run a CPU-bound process during the measurements")
    ap.add_argument("--skip-python", action="store_true", help="do not time the old Python loop")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    model = cisreg.Model(cisreg.preset("lac"), seed=1)
    codes = rng.integers(0, 4, (a.n, 75), dtype=np.uint8)
    targets = rng.poisson(0.5, (a.n, 10)).astype(np.float64)
    targets[:, 0] += 1.0
    amounts = targets.sum(axis=1)
    train = np.arange(a.n, dtype=np.int64)
    l2 = l2_vector(model.layout, 1e-4)
    grad = np.empty(model.theta.size)
    rep = Reporter(a.json)
    stop = mp.Event()
    spinner = None
    if a.compete:
        spinner = mp.Process(target=_spin, args=(stop,), daemon=True)
        spinner.start()
    common = {"n": a.n, "L": 75, "states": 4, "device": "cpu", "kernel_level": _core.cpu_kernel_level(),
              "dtype": a.dtype, "competing_process": a.compete}
    try:
        full: dict[int, float] = {}
        for nt in sorted({1, cisreg.effective_n_threads(None)}):
            t = time_call(lambda nt=nt: model.loss(codes, targets, None, n_threads=nt, grad=True, grad_out=grad,
                                                   dtype=a.dtype), repeats=a.repeats)
            med, iqr = median_iqr(t)
            full[nt] = med
            rep.emit({"bench": "full_gradient", **common, "threads": nt, "median_s": med, "iqr_s": iqr,
                      "ratio_vs_full_gradient": 1.0, "ratio_vs_1_thread_full_gradient": med / full[1]})
            for bs in (500, 10_000):
                loops = [("core", train_epoch)] + ([] if a.skip_python else [("python", python_epoch)])
                if nt > 1:  # every minibatch on every thread: the policy before the work threshold
                    loops.append(("core_every_call_threaded", train_epoch))
                for name, fn in loops:
                    before = _core.set_min_thread_work(0) if name.endswith("every_call_threaded") else None
                    work = cisreg.Model(model.spec, model.theta.copy())
                    opt = Adam(work.theta.size, learning_rate=1e-4, mask=work.layout.trainable_mask())
                    erng = np.random.default_rng(1)
                    t = time_call(lambda fn=fn, work=work, opt=opt, erng=erng, nt=nt, bs=bs: fn(
                        work, codes, targets, amounts, train, erng, bs, opt, grad, l2, nt, a.dtype),
                        repeats=a.repeats)
                    if before is not None:
                        _core.set_min_thread_work(before)
                    med, iqr = median_iqr(t)
                    rep.emit({"bench": f"epoch_{name}", **common, "threads": nt, "batch_size": bs, "median_s": med,
                              "iqr_s": iqr, "ratio_vs_full_gradient": med / full[nt],
                              "ratio_vs_1_thread_full_gradient": med / full[1]})
    finally:
        stop.set()
        if spinner is not None:
            spinner.join(timeout=5)
    rep.close()


if __name__ == "__main__":
    main()
