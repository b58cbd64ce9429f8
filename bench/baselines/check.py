"""Correctness checks of the baselines against cisreg's kernel (cisreg._core.loss_and_grad).

For each baseline (the fused C++ kernel for each -march given, and PyTorch when installed)
and each case -- the default theta of Model(preset("lac")), and that theta with N(0, 0.3) and
N(0, 1) noise added to every trainable parameter (energies, offsets, dG_I, measurement), each
over all rows and over a random, unsorted subset of rows -- prints one JSON line with the
relative loss difference, the gradient difference max|g - g_ref| / max|g_ref| (and the same
measure within the worst block of the layout), and whether loss_rel and grad_rel are below --tol.
The fused kernel's tanh / exp / log are also checked against float64 NumPy on dense grids.
Exit status 1 if any check fails.

    python bench/baselines/check.py [--n 20000] [--march native,x86-64-v3] [--threads 1,2] [--no-torch]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # idle BLAS threads would compete with the kernels
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from baselines import torch_lac  # noqa: E402
from baselines.fused import load_fused  # noqa: E402
from cisreg import _core  # noqa: E402
from cisreg.models import Model, preset  # noqa: E402


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random codes and counts as bench/bench_loss_grad.py draws them."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(n, 75), dtype=np.uint8)
    counts = np.zeros((n, 10))
    counts[np.arange(n), rng.integers(0, 10, n)] = rng.integers(1, 4, n)
    counts += rng.poisson(0.1, (n, 10))
    return codes, counts


def thetas(model: Model, seed: int = 1) -> dict[str, np.ndarray]:
    """The preset's theta, and copies with N(0, sd) noise on every trainable parameter; sd = 1
    gives site energies of sd ~ 5-6, saturated state probabilities and a wide range of phi."""
    base = model.theta.copy()
    mask = model.layout.trainable_mask()
    out = {"default": base}
    for i, sd in enumerate((0.3, 1.0)):
        out[f"perturbed_sd{sd}"] = base + np.random.default_rng(seed + i).normal(0.0, sd, base.size) * mask
    return out


def compare(loss: float, grad: np.ndarray, ref_loss: float, ref_grad: np.ndarray,
            layout) -> dict:  # type: ignore[no-untyped-def]
    """loss_rel, grad_rel (max|g - g_ref| / max|g_ref|), and the worst block by the same measure
    within each block of the layout, over blocks whose max|g_ref| is at least 1e-6 of the overall
    (smaller ones are zero to float32 precision: at the preset's theta, dG_I = 0 and the CRP
    energies do not change phi, so their exact gradient is 0)."""
    gmax = max(float(np.max(np.abs(ref_grad))), 1e-300)
    out = {"loss_rel": abs(loss - ref_loss) / max(abs(ref_loss), 1e-300),
           "grad_rel": float(np.max(np.abs(grad - ref_grad))) / gmax}
    worst, name = 0.0, None
    for b in layout:
        s = slice(b.offset, b.offset + b.size)
        bmax = float(np.max(np.abs(ref_grad[s])))
        if bmax >= 1e-6 * gmax:
            rel = float(np.max(np.abs(grad[s] - ref_grad[s]))) / bmax
            if rel >= worst:
                worst, name = rel, b.name
    out["grad_rel_worst_block"], out["worst_block"] = worst, name
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="rows (default 20,000)")
    ap.add_argument("--subset", type=int, default=7_777, help="rows of the random subset (default 7,777)")
    ap.add_argument("--march", default="native,x86-64-v3", help="comma-separated -march values for the fused kernel")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts for the fused kernel")
    ap.add_argument("--tol", type=float, default=1e-5, help="largest accepted loss_rel and grad_rel (default 1e-5)")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    args = ap.parse_args(argv)

    model = Model(preset("lac"))
    core = model.core
    codes, counts = make_data(args.n)
    subset = np.random.default_rng(2).permutation(args.n)[: min(args.subset, args.n)]  # unsorted
    cases = [(tn, th, rn, r) for tn, th in thetas(model).items() for rn, r in (("all", None), ("subset", subset))]
    ref = {(tn, rn): _core.loss_and_grad(core, codes, counts, th, r, 1) for tn, th, rn, r in cases}
    ok_all = True

    def emit(rec: dict) -> None:
        nonlocal ok_all
        ok_all &= bool(rec.get("ok", True))
        print(json.dumps(rec), flush=True)

    for march in [s for s in args.march.split(",") if s]:
        fused = load_fused(march, quiet=True)
        if fused is None:
            emit({"check": "fused_loss_grad", "march": march, "skipped": "not available (see stderr)"})
            continue
        grid = {"tanh": np.linspace(-12, 12, 2_400_001, dtype=np.float32),
                "exp": np.linspace(-87, 0, 870_001, dtype=np.float32),
                "log": np.linspace(1, 11, 1_000_001, dtype=np.float32)}
        exact = {"tanh": np.tanh, "exp": np.exp, "log": np.log}
        for fn, x in grid.items():
            y = fused.math(fn, x).astype(np.float64)
            want = exact[fn](x.astype(np.float64))
            err = np.abs(y - want) / (want if fn == "exp" else 1.0)
            kind = "max_rel_err" if fn == "exp" else "max_abs_err"
            emit({"check": f"fused_{fn}", "march": march, "lanes": fused.lanes, "range": [float(x[0]), float(x[-1])],
                  kind: float(err.max()), "ok": bool(err.max() < 1e-6)})
        for tn, th, rn, r in cases:
            ref_loss, ref_grad = ref[(tn, rn)]
            for nt in [int(s) for s in args.threads.split(",") if s]:
                loss, grad = fused(codes, counts, th, rows=r, n_threads=nt)
                c = compare(loss, grad, ref_loss, ref_grad, model.layout)
                emit({"check": "fused_loss_grad", "march": march, "lanes": fused.lanes, "theta": tn, "rows": rn,
                      "n": args.n if r is None else len(r), "threads": nt, **c,
                      "ok": c["loss_rel"] < args.tol and c["grad_rel"] < args.tol})

    if args.no_torch:
        pass
    elif not torch_lac.available():
        emit({"check": "torch_loss_grad", "skipped": "PyTorch is not installed"})
    else:
        torch_lac.check_layout()
        for tn, th, rn, r in cases:
            ref_loss, ref_grad = ref[(tn, rn)]
            loss, grad = torch_lac.loss_grad(codes, counts, th, n_threads=1, rows=r)
            c = compare(loss, grad, ref_loss, ref_grad, model.layout)
            emit({"check": "torch_loss_grad", "torch": torch_lac.torch.__version__, "theta": tn, "rows": rn,
                  "n": args.n if r is None else len(r), "threads": 1, **c,
                  "ok": c["loss_rel"] < args.tol and c["grad_rel"] < args.tol})
    return 0 if ok_all else 1


if __name__ == "__main__":
    raise SystemExit(main())
