"""Loss + gradient throughput of the kinetic activator + RNAP model (escape flux) with
both solvers — King-Altman network and per-sequence linear solve — next to the
thermodynamic lac model, in the same run, on random sequences.

    python bench/bench_kinetic.py [--quick] [--repeats R] [--json PATH]

Prints one JSON line per case; ratio_vs_baseline = (time per sequence of the
thermodynamic lac model, 1 thread) / (time per sequence of the case).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

import cisreg
from _common import Reporter, median_iqr, record, time_call
from cisreg import _core


def _data(model, n, rng):
    L, Y = model.spec.length, model.spec.measurement.bins
    codes = rng.integers(0, 4, (n, L), dtype=np.uint8)
    counts = np.zeros((n, Y))
    counts[np.arange(n), rng.integers(0, Y, n)] = 1.0
    return codes, counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="100,000 sequences instead of 1,000,000")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    n = 100_000 if a.quick else 1_000_000
    rng = np.random.default_rng(0)
    rep = Reporter(a.json)
    level = _core.cpu_kernel_level()

    lac = cisreg.Model(cisreg.preset("lac"), seed=0)
    spec = cisreg.preset("activator-rnap-kinetic")
    ka = cisreg.Model(spec, seed=0)
    d = spec.to_dict()
    d["kinetic"]["solver"] = "linear"
    lin = cisreg.Model(cisreg.spec_from_dict(d), ka.theta.copy())

    codes_l, counts_l = _data(lac, n, rng)
    codes_k, counts_k = _data(ka, n, rng)
    baseline = None
    for threads in (1, 2):
        c = lac.compiled
        t = time_call(lambda: _core.loss_and_grad(c.network, c.measurement, codes_l, counts_l, lac.theta, None,
                                                  threads), a.repeats)
        if baseline is None:
            baseline = median_iqr(t)[0] / n
        rep.emit(record("loss_grad_thermodynamic_lac", n=n, L=75, states=4, device="cpu", kernel_level=level,
                        threads=threads, times=t, baseline_per_seq=baseline, solver="network"))
        k = ka.compiled
        t = time_call(lambda: _core.loss_and_grad(k.network, k.measurement, codes_k, counts_k, ka.theta, None,
                                                  threads), a.repeats)
        rep.emit(record("loss_grad_kinetic_activator_rnap", n=n, L=spec.length, states=4, device="cpu",
                        kernel_level=level, threads=threads, times=t, baseline_per_seq=baseline,
                        solver="king-altman", nodes=k.network.n_nodes))
        kin = lin.compiled.kinetic
        t = time_call(lambda: kin.loss_and_grad(lin.theta, codes_k, counts_k, None, threads, True, False),
                      a.repeats)
        rep.emit(record("loss_grad_kinetic_activator_rnap", n=n, L=spec.length, states=4, device="cpu",
                        kernel_level=level, threads=threads, times=t, baseline_per_seq=baseline, solver="linear"))
    rep.close()


if __name__ == "__main__":
    main()
