"""Cost of each kind of site (layer 1) and the protein fold + bind fit.

For each site kind (additive, neighbor, pairwise, sliding on one and on both strands) and
sequence length L in {9, 55, 75}, one site over the whole sequence (sliding sites: a motif
of width min(8, L) sliding over all of it), a two-state model and a small GE measurement
(3 hidden units, so that the site dominates), on N random DNA sequences: microseconds per
sequence of loss + gradient and of phi, float32, 1 thread, with the additive site of the
same length as the baseline in the same run (ratio_vs_baseline = additive time / this
time). Then, with --fold-bind, the built-in fold-bind model fitted to the GB1 deep
mutational scan (530,737 variants x 55 residues; Olson et al. 2014, as distributed with
MAVE-NN, MIT licence), fetched once with `pip download --no-deps mavenn` into --cache.

    python bench/bench_sites.py [--quick] [--repeats R] [--fold-bind] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cisreg
from _common import Reporter, median_iqr, record, time_call
from cisreg import _core


def site(kind: str, L: int) -> dict:
    w = min(8, L)
    if kind == "additive":
        return {"name": "s", "start": 0, "width": L}
    if kind in ("neighbor", "pairwise"):
        return {"name": "s", "start": 0, "width": L, "energy": kind}
    strands = "both" if kind == "sliding_both" else "forward"
    return {"name": "s", "width": w, "slide": {"start": 0, "stop": L, "strands": strands}}


def model(kind: str, L: int) -> cisreg.Model:
    d = {"alphabet": "dna", "length": L, "sites": [site(kind, L)],
         "thermodynamic": {"states": [{"name": "free"}, {"name": "b", "bound": ["s"], "activity": 1}]},
         "measurement": {"type": "ge", "hidden": 3}}
    m = cisreg.Model(d, seed=0)
    rng = np.random.default_rng(1)
    for b in m.layout:
        if b.kind in ("energy", "pair"):
            m.layout.view(m.theta, b.name)[...] = rng.normal(0, 0.3, b.shape)
    return m


def gb1(cache: Path) -> Path:
    """The GB1 data set from the MAVE-NN wheel (downloaded once)."""
    out = cache / "gb1_data.csv.gz"
    if out.exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(cache), "mavenn"],
                   check=True)
    wheel = next(cache.glob("mavenn-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        out.write_bytes(z.read("mavenn/examples/datasets/gb1_data.csv.gz"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N = 20,000 instead of 200,000")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--fold-bind", action="store_true", help="also fit fold-bind to GB1 (downloads MAVE-NN's wheel)")
    ap.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "cisreg-bench"))
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    N = 20_000 if a.quick else 200_000
    rep = Reporter(a.json)
    level = _core.cpu_kernel_level()
    rng = np.random.default_rng(0)
    for L in (9, 55, 75):
        codes = rng.integers(0, 4, (N, L), dtype=np.uint8)
        y = rng.normal(size=(N, 1))
        base = None
        for kind in ("additive", "neighbor", "pairwise", "sliding_forward", "sliding_both"):
            m = model(kind, L)
            t = time_call(lambda m=m: _core.loss_and_grad(m.core, codes, y, m.theta, None, 1, dtype="float32"),
                          repeats=a.repeats)
            per = median_iqr(t)[0] / N
            base = per if kind == "additive" else base
            s = m.spec.sites[0]
            rep.emit(record("site_loss_grad", n=N, L=L, states=2, device="cpu", kernel_level=level, threads=1,
                            times=t, baseline_per_seq=base, dtype="float32", kind=kind, width=s.width,
                            pairs=len(s.pairs()), placements=s.n_configs, params=m.layout.size))
            t = time_call(lambda m=m: _core.phi(m.core, codes, m.theta, None, 1, dtype="float32"), repeats=a.repeats)
            rep.emit(record("site_phi", n=N, L=L, states=2, device="cpu", kernel_level=level, threads=1, times=t,
                            baseline_per_seq=None, dtype="float32", kind=kind, width=s.width, pairs=len(s.pairs()),
                            placements=s.n_configs))
    if a.fold_bind:
        import pandas as pd

        t0 = time.perf_counter()
        df = pd.read_csv(gb1(Path(a.cache)))
        data = cisreg.from_dataframe(df[["x", "y", "set"]], alphabet="protein", source="gb1")
        t_load = time.perf_counter() - t0
        r = cisreg.fit(data, "fold-bind", quiet=True)
        ev = cisreg.evaluate(r.model, data, splits=("test",))["test"]
        rep.emit({"bench": "fit_fold_bind_gb1", "n": data.n, "L": data.length, "params": r.model.layout.size,
                  "threads": r.settings["n_threads"], "dtype": r.settings["dtype"], "load_s": t_load,
                  "fit_s": r.wall_s, "epochs": r.epochs_run, "stop_reason": r.stop_reason, "test_R2": ev["R2"],
                  "test_I_pred_bits": ev["I_pred_bits"], "kernel_level": level})
    rep.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
