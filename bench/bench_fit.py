"""Time the full lac promoter fit with the default settings (the README's main job).

Prints one JSON line: wall seconds, epochs, test I_pred (bits) and dG_I (kcal/mol),
so later changes can be compared on the same machine; and, measured in the same run, the
kernel's loss + full-gradient time per training row (same precision and threads), so that
``fit_vs_kernel_product`` = fit seconds / (epochs run x training rows x that time) says how
close the whole fit comes to the kernel's cost (the fit-speed target: at most 1.5).

    python bench/bench_fit.py [--threads N] [--seed S] [--restarts R] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

import cisreg
from _common import Reporter
from cisreg import _core


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--restarts", type=int, default=1)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    rep = Reporter(a.json)
    t0 = time.perf_counter()
    data = cisreg.load_example("lac-sortseq")
    t_load = time.perf_counter() - t0
    res = cisreg.fit(data, cisreg.preset("lac"), seed=a.seed, n_threads=a.threads, restarts=a.restarts, quiet=True)
    t1 = time.perf_counter()
    ev = cisreg.evaluate(res.model, data, splits=("test",), seed=a.seed)["test"]
    t_eval = time.perf_counter() - t1
    # the kernel's cost per training row: loss + full gradient over the training rows
    model, train = res.model, np.ascontiguousarray(data.indices("training"))
    targets = model.targets_of(data)
    ts = []
    for _ in range(5):
        t2 = time.perf_counter()
        model.loss(data.codes, targets, train, n_threads=res.settings["n_threads"], grad=True,
                   dtype=res.settings["dtype"])
        ts.append(time.perf_counter() - t2)
    per_row = statistics.median(ts) / len(train)
    product = res.epochs_run * len(train) * per_row
    rep.emit({
        "bench": "fit_lac_sortseq", "n": data.n, "L": data.length, "states": 4, "device": "cpu",
        "kernel_level": _core.cpu_kernel_level(), "threads": res.settings["n_threads"],
        "restarts": a.restarts, "seed": a.seed, "load_s": t_load, "fit_s": res.wall_s, "evaluate_s": t_eval,
        "epochs": res.epochs_run, "best_epoch": res.best_epoch, "stop_reason": res.stop_reason,
        "val_nll_per_read": res.best_val_nll, "test_I_pred_bits": ev["I_pred_bits"],
        "test_dI_pred_bits": ev["dI_pred_bits"], "test_I_var_bits": ev["I_var_bits"],
        "dG_I_kcal_mol": res.model.get_theta(units="kcal/mol")["interactions"]["dG_I"],
        "batch_size": res.settings["batch_size"], "learning_rate": res.settings["learning_rate"],
        "kernel_us_per_row": per_row * 1e6, "epochs_x_rows_x_kernel_s": product,
        "fit_vs_kernel_product": res.wall_s / product,
    })
    rep.close()


if __name__ == "__main__":
    main()
