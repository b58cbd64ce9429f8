"""Why the 1-D k-th neighbour distances of the information metrics do not use a k-d tree.

The kNN entropies behind I_pred and I_var (``cisreg.training.metrics``) need, for every
value of a 1-D sample, the distance to its k-th nearest other value. ``metrics`` takes it
from the sorted sample (the k nearest others of a value and the value itself are k + 1
consecutive sorted values: one vectorised pass per window position, O(N k) after the sort).
This benchmark times that against ``scipy.spatial.cKDTree`` (``query(k=[k + 1])``, on one
thread and on every thread), on the same samples in the same run, and checks that both give
the same distances exactly. Samples of N uniform values with ties broken by tiny noise, as
the estimator sees them; k = 5 (MAVE-NN's and cisreg's default) and k = 20.

    python bench/bench_knn.py [--n 10000 100000 1000000] [--repeats 5] [--json PATH]

One JSON line per (method, N, k): ``ratio_vs_sorted`` is the method's time over the sorted
pass's (> 1: the k-d tree is slower).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np
from scipy.spatial import cKDTree

from _common import Reporter, median_iqr, time_call
from cisreg.training.metrics import _kth_gap_sorted


def sorted_gaps(x: np.ndarray, k: int) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    out = np.empty(x.size)
    out[order] = _kth_gap_sorted(x[order], k)
    return out


def tree_gaps(x: np.ndarray, k: int, workers: int) -> np.ndarray:
    pts = x[:, None]
    dist, _ = cKDTree(pts).query(pts, k=[k + 1], workers=workers)
    out: np.ndarray = dist[:, 0]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--k", type=int, nargs="+", default=[5, 20])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rep = Reporter(args.json)
    rng = np.random.default_rng(0)
    workers = os.cpu_count() or 1
    for n in args.n:
        x = rng.random(n) + 1e-10 * rng.random(n)
        for k in args.k:
            want = sorted_gaps(x, k)
            cases = {"sorted": lambda: sorted_gaps(x, k), "ckdtree_1_thread": lambda: tree_gaps(x, k, 1),
                     f"ckdtree_{workers}_threads": lambda: tree_gaps(x, k, workers)}
            base = None
            for name, fn in cases.items():
                same = bool(np.array_equal(fn(), want))
                med, iqr = median_iqr(time_call(fn, repeats=args.repeats))
                base = base if base is not None else med
                rep.emit({"bench": "knn_1d", "method": name, "n": n, "k": k, "median_s": med, "iqr_s": iqr,
                          "ratio_vs_sorted": med / base, "same_distances": same})
    rep.close()


if __name__ == "__main__":
    main()
