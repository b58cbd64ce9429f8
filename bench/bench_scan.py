"""Variant-effect scans and sequence design, timed.

Cases, each one JSON line (fields of ``_common.record`` plus ``case``, ``variants``,
``per_variant_us``):

- ``scan``: ``cisreg.scan(model, wt, doubles=...)`` end to end (mutant codes, one engine
  call with details, the table), for the built-in lac model (75 bp, 4 states; the
  C(75,2)·9 + 225 = 25,200 single and double mutants) and, without --quick, the fold-bind
  protein model at 55 residues (536,085 + 1,045 mutants);
- ``scan_codes``: building the mutant code arrays only (vectorised numpy);
- ``scan_engine``: the one batched ``_core.phi(..., details=True)`` call only;
- ``scan_strings`` (the baseline of ``ratio_vs_baseline``): the same mutants as strings
  through ``Model.x_to_phi`` (encode + engine), as a script without ``cisreg.scan`` would;
- ``design``: ``cisreg.design`` with the default optimiser settings (lac, 3 mutations,
  target max and a numeric target), once per repeat with a fixed seed.

    python bench/bench_scan.py [--quick] [--repeats R] [--threads 1,2] [--json PATH]

The machine this was written on is shared (2 cores): compare numbers from one run.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cisreg
from _common import Reporter, record, time_call
from cisreg import _core
from cisreg.variants.mutants import check_wt, double_mutants, single_mutants


def _model(name: str, rng: np.random.Generator) -> cisreg.Model:
    spec = cisreg.preset("fold-bind").with_length(55) if name == "fold-bind" else cisreg.preset(name)
    m = cisreg.Model(spec, seed=0)
    lay = m.layout
    for b in lay:
        if b.kind in ("energy", "offset", "interaction"):
            lay.view(m.theta, b.name)[...] = rng.normal(0, 0.3, b.shape)
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the lac model only, fewer design repeats")
    ap.add_argument("--repeats", type=int, default=7, help="timed calls per case after one warm-up (default 7)")
    ap.add_argument("--threads", default="1,2", help="thread counts, comma-separated (default 1,2)")
    ap.add_argument("--json", default=None, help="also write the JSON lines to this file")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    rep = Reporter(a.json)
    level = _core.cpu_kernel_level()
    threads_list = [int(t) for t in a.threads.split(",")]

    for name in ("lac",) if a.quick else ("lac", "fold-bind"):
        model = _model(name, rng)
        L, A = model.spec.length, len(model.alphabet)
        wt = "".join(rng.choice(list(model.alphabet), L))
        states = len(model.state_names)
        for doubles in (False, True):
            n = L * (A - 1) + (math.comb(L, 2) * (A - 1) ** 2 if doubles else 0)
            wt_codes = check_wt(model, wt)

            def build() -> np.ndarray:
                parts = [wt_codes[None, :], single_mutants(wt_codes, A)[0]]
                if doubles:
                    parts.append(double_mutants(wt_codes, A)[0])
                return np.concatenate(parts)

            codes = build()
            strings = list(cisreg.decode(codes[1:], model.alphabet))
            common = dict(n=n, L=L, states=states, device="cpu", kernel_level=level, model=name,
                          doubles=doubles, variants=n)
            for threads in threads_list:
                t_str = time_call(lambda: model.x_to_phi(strings, n_threads=threads), a.repeats)
                base = float(np.median(t_str)) / n
                cases = {
                    "scan": lambda: cisreg.scan(model, wt, doubles=doubles, n_threads=threads),
                    "scan_codes": build,
                    "scan_engine": lambda: _core.phi(model.core, codes, model.theta, None, threads, True),
                    "scan_strings": lambda: model.x_to_phi(strings, n_threads=threads),
                }
                for case, fn in cases.items():
                    t = t_str if case == "scan_strings" else time_call(fn, a.repeats)
                    r = record("scan", threads=threads, times=t, baseline_per_seq=base, case=case, **common)
                    r["per_variant_us"] = r.pop("us_per_seq")
                    rep.emit(r)

    model = _model("lac", rng)
    wt = "".join(rng.choice(list(model.alphabet), 75))
    for target in ("max", 0.5):
        for threads in threads_list:
            res = {}

            def run() -> None:
                res["df"] = cisreg.design(model, wt, target=target, max_mutations=3, n=10, rng=0,
                                          n_threads=threads)

            t = time_call(run, 2 if a.quick else max(2, a.repeats // 2))
            df = res["df"]
            r = record("design", n=int(df.attrs["evaluated"]), L=75, states=4, device="cpu", kernel_level=level,
                       threads=threads, times=t, case="design", model="lac", target=target, max_mutations=3,
                       method=df.attrs["method"], best_phi=float(df["phi"].iloc[0]), phi_wt=df.attrs["phi_wt"])
            r["evaluated"] = r.pop("n")
            r.pop("seqs_per_s")
            r.pop("us_per_seq")
            if target != "max":
                r["max_abs_error"] = float(df["abs_error"].max())
            rep.emit(r)
    rep.close()


if __name__ == "__main__":
    main()
