"""Time the baselines and cisreg's kernel in one run on the same data (loss + full gradient).

Cases (one JSON line each): cisreg._core.loss_and_grad (float64) and the fused float32 kernel
for each -march given, each for each thread count; PyTorch loss + gradient over all rows and
one PyTorch Adam epoch (batch 10,000), on one thread. Data as in bench/bench_loss_grad.py:
N random 75-bp sequences, counts of 1-3 in one random bin plus Poisson(0.1) noise per bin.

    python bench/baselines/time_baselines.py [--n 1000000] [--repeats 5] [--threads 1,2]
        [--march native,x86-64-v3] [--torch-repeats 3] [--no-torch] [--json PATH]

Times are wall-clock seconds of one call after one untimed warm-up call; ``median_s`` and
``min_s`` over the repeats, ``us_per_seq`` = median / N. On a shared machine, compare cases of
one run and rerun when ``iqr_s`` is large.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # idle BLAS threads would compete with the kernels
    os.environ.setdefault(_var, "1")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from baselines import torch_lac  # noqa: E402
from baselines.check import make_data  # noqa: E402
from baselines.fused import load_fused  # noqa: E402
from cisreg import _core  # noqa: E402
from cisreg.models import Model, preset  # noqa: E402


def timed(fn, repeats: int, warmup: int = 1) -> list[float]:  # type: ignore[no-untyped-def]
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def summary(times: list[float], n: int) -> dict:
    xs = sorted(times)
    med = statistics.median(xs)
    iqr = 0.0
    if len(xs) >= 2:
        q = statistics.quantiles(xs, n=4, method="inclusive")
        iqr = q[2] - q[0]
    return {"median_s": med, "min_s": xs[0], "iqr_s": iqr, "repeats": len(xs), "us_per_seq": med / n * 1e6,
            "us_per_seq_min": xs[0] / n * 1e6}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="sequences (default 1,000,000)")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per kernel case (default 5)")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--march", default="native,x86-64-v3", help="comma-separated -march values of the fused kernel")
    ap.add_argument("--torch-repeats", type=int, default=3, help="timed PyTorch loss+grad calls and epochs (default 3)")
    ap.add_argument("--batch-size", type=int, default=10_000, help="PyTorch epoch minibatch (default 10,000)")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    ap.add_argument("--json", default=None, help="also write the JSON lines to this file")
    args = ap.parse_args(argv)

    N = args.n
    threads = [int(s) for s in args.threads.split(",") if s]
    codes, counts = make_data(N)
    model = Model(preset("lac"))
    theta = model.theta.copy()
    core = model.core
    lines: list[dict] = []

    def emit(rec: dict) -> None:
        lines.append(rec)
        print(json.dumps(rec), flush=True)

    common = {"n": N, "L": 75, "states": 4}
    for nt in threads:
        t = timed(lambda nt=nt: _core.loss_and_grad(core, codes, counts, theta, None, nt), args.repeats)
        emit({"bench": "loss_grad", "impl": "cisreg", "dtype": "float64", "kernel_level": _core.cpu_kernel_level(),
              "threads": nt, **common, **summary(t, N)})
    for march in [s for s in args.march.split(",") if s]:
        fused = load_fused(march)
        if fused is None:
            emit({"bench": "loss_grad", "impl": "fused", "march": march, "skipped": "not available (see stderr)"})
            continue
        for nt in threads:
            t = timed(lambda f=fused, nt=nt: f(codes, counts, theta, n_threads=nt), args.repeats)
            emit({"bench": "loss_grad", "impl": "fused", "dtype": "float32", "march": march, "lanes": fused.lanes,
                  "threads": nt, **common, **summary(t, N)})

    if not args.no_torch:
        if not torch_lac.available():
            emit({"bench": "loss_grad", "impl": "torch", "skipped": "PyTorch is not installed"})
        else:
            ver = torch_lac.torch.__version__
            t = timed(lambda: torch_lac.loss_grad(codes, counts, theta, n_threads=1), args.torch_repeats)
            emit({"bench": "loss_grad", "impl": "torch", "dtype": "float32", "torch": ver, "threads": 1,
                  "chunk": torch_lac.DEFAULT_CHUNK, **common, **summary(t, N)})
            ep = [torch_lac.epoch(codes, counts, theta, batch_size=args.batch_size, n_threads=1, seed=i)
                  for i in range(args.torch_repeats + 1)][1:]
            emit({"bench": "epoch", "impl": "torch", "dtype": "float32", "torch": ver, "threads": 1,
                  "batch_size": args.batch_size, "optimizer": "Adam", **common, **summary(ep, N)})
    if args.json:
        with open(args.json, "w") as f:
            f.writelines(json.dumps(rec) + "\n" for rec in lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
