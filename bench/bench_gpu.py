"""GPU benchmark: sequences per second of loss + gradient and of phi on a CUDA device, next
to the CPU kernels in the same run, and the full lac fit on the device.

One JSON object per line (bench/_common.py's records: bench, n, device, dtype, median_s,
seqs_per_s, ratio_vs_baseline = CPU time per sequence / this record's).

    python bench/bench_gpu.py                 # n = 1e6, 1e7, 1e8; float32 and float64; lac fit
    python bench/bench_gpu.py --quick         # n = 1e5, 1e6; no fit
    python bench/bench_gpu.py --json out.jsonl

The CPU baseline runs every thread of this machine on min(n, --cpu-rows) rows (its time is
scaled to n). The GPU times include the transfer of the results (the gradient, or phi)
back to the host, not the one-time upload of the data.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cisreg
from _common import Reporter, record, time_call
from cisreg import _core
from cisreg.devices import cuda_device_info
from cisreg.models import Model, preset


def lac_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random 75-bp sequences with one sort-seq read each (float32 targets, 10 bins)."""
    codes = rng.integers(0, 4, (n, 75), dtype=np.uint8)
    targets = np.zeros((n, 10), np.float32)
    targets[np.arange(n), rng.integers(0, 10, n)] = 1.0
    return codes, targets


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--sizes", default=None, help="comma-separated sequence counts (default 1e6,1e7,1e8)")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--cpu-rows", type=float, default=2e6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-fit", action="store_true")
    ap.add_argument("--cpu-fit", action="store_true", help="also time the lac fit on the CPU")
    args = ap.parse_args(argv)
    rep = Reporter(args.json)
    info = cuda_device_info()
    rep.emit({"bench": "gpu_info", **{k: (list(v) if isinstance(v, tuple) else v) for k, v in info.items()},
              "cpu_threads": cisreg.effective_n_threads(None), "cpu_level": _core.cpu_kernel_level()})
    if not cisreg.cuda_available():
        rep.emit({"bench": "gpu_skipped", "reason": info.get("error") or "cisreg.cuda_available() is False"})
        rep.close()
        return 0
    sizes = ([int(float(x)) for x in args.sizes.split(",")] if args.sizes
             else ([100_000, 1_000_000] if args.quick else [1_000_000, 10_000_000, 100_000_000]))
    dtypes = args.dtypes.split(",")
    nt = cisreg.effective_n_threads(None)
    rng = np.random.default_rng(0)
    m = Model(preset("lac"), seed=0)
    for n in sizes:
        t0 = time.perf_counter()
        codes, targets = lac_data(n, rng)
        gen_s = time.perf_counter() - t0
        n_cpu = int(min(n, args.cpu_rows))
        for dtype in dtypes:
            c, tg = codes[:n_cpu], targets[:n_cpu]
            cpu_t = time_call(lambda: _core.loss_and_grad(m.core, c, tg, m.theta, None, nt, dtype=dtype),
                              repeats=args.repeats)
            r_cpu = record("loss_grad", n=n, L=75, states=4, device="cpu", kernel_level=_core.cpu_kernel_level(),
                           threads=nt, times=cpu_t, n_timed=n_cpu, dtype=dtype)
            rep.emit(r_cpu)
            cpu_phi = time_call(lambda: _core.phi(m.core, c, m.theta, None, nt, dtype=dtype), repeats=args.repeats)
            r_cpu_phi = record("phi", n=n, L=75, states=4, device="cpu", kernel_level=_core.cpu_kernel_level(),
                               threads=nt, times=cpu_phi, n_timed=n_cpu, dtype=dtype)
            rep.emit(r_cpu_phi)
            t0 = time.perf_counter()
            s = _core.CudaSession(m.core, codes, targets, dtype=dtype)
            s.set_theta(m.theta)
            upload_s = time.perf_counter() - t0
            base = r_cpu["us_per_seq"] * 1e-6
            gpu_t = time_call(s.loss_and_grad, repeats=args.repeats)
            rep.emit(record("loss_grad", n=n, L=75, states=4, device="cuda", kernel_level=info.get("name", "cuda"),
                            threads=0, times=gpu_t, baseline_per_seq=base, dtype=dtype,
                            data_on_device=s.data_on_device, upload_s=upload_s, generate_s=gen_s))
            base_phi = r_cpu_phi["us_per_seq"] * 1e-6
            gpu_phi = time_call(s.phi, repeats=args.repeats)
            rep.emit(record("phi", n=n, L=75, states=4, device="cuda", kernel_level=info.get("name", "cuda"),
                            threads=0, times=gpu_phi, baseline_per_seq=base_phi, dtype=dtype,
                            data_on_device=s.data_on_device))
            # determinism at scale: two evaluations give the same bits
            l1, g1 = s.loss_and_grad()
            l2, g2 = s.loss_and_grad()
            rep.emit({"bench": "determinism", "n": n, "dtype": dtype, "identical": bool(l1 == l2 and
                                                                                       np.array_equal(g1, g2))})
            del s
            gc.collect()
        del codes, targets
        gc.collect()
    if not args.no_fit and not args.quick:
        data = cisreg.load_example("lac-sortseq")
        t0 = time.perf_counter()
        try:
            res = cisreg.fit(data, "lac", device="cuda", quiet=True)
            how = "cisreg.fit(device='cuda')"
        except TypeError:  # a cisreg.fit without the device setting
            from cisreg.training.device import fit_device

            res = fit_device(data, "lac", quiet=True)
            how = "cisreg.training.device.fit_device"
        gpu_fit = time.perf_counter() - t0
        rec = {"bench": "lac_fit", "device": "cuda", "entry": how, "wall_s": gpu_fit, "epochs": res.epochs_run,
               "best_val_nll": res.best_val_nll, "stop_reason": res.stop_reason, "n": len(data.codes)}
        if args.cpu_fit:
            t0 = time.perf_counter()
            cpu = cisreg.fit(data, "lac", quiet=True)
            rec.update(cpu_wall_s=time.perf_counter() - t0, cpu_epochs=cpu.epochs_run,
                       cpu_best_val_nll=cpu.best_val_nll, cpu_threads=nt)
        rep.emit(rec)
    rep.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
