"""Loss + full gradient, an epoch, and phi of the built-in lac model, next to its baselines.

The lac model (75 bp, 2 sites, 4 states, sort-seq measurement with 10 bins x 50 hidden
units) on N random sequences with random counts. Every case is timed in the same process,
interleaved with its baselines, so that ratios are meaningful on a shared machine:

* ``loss_grad``: ``cisreg._core.loss_and_grad`` in float32 and float64, for each CPU kernel
  level this CPU runs (``auto`` and, on AVX-512 machines, the AVX2 copy ``x86-64-v3``), 1
  and 2 threads;
* ``loss_grad_fused``: the hand-fused float32 kernel of bench/baselines (compiled for
  ``-march=native`` and ``-march=x86-64-v3``) - the yardstick of the engine's speed;
* ``loss_grad_numpy``: the same computation in vectorised NumPy (on a subsample);
* ``epoch``: one epoch of ``cisreg.fit``'s training loop (shuffled minibatches of 10,000,
  Adam), and ``epoch_torch``: the same epoch in idiomatic PyTorch (if installed);
* ``phi``: phi alone (``cisreg._core.phi``), float32 and float64.

    python bench/bench_loss_grad.py [--quick] [--n N] [--repeats R] [--json PATH]

One JSON line per case (see bench/README.md).
"""

from __future__ import annotations

import argparse
import os
import sys

# The baselines are timed single-threaded, and idle BLAS worker threads would spin on the
# cores the kernels' threads use: pin BLAS to one thread before NumPy loads.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Reporter, median_iqr, record, time_call  # noqa: E402
from cisreg import _core  # noqa: E402
from cisreg.models import Model, preset  # noqa: E402
from cisreg.training.adam import Adam  # noqa: E402
from cisreg.training.loop import l2_vector, train_epoch  # noqa: E402


# --------------------------------------------------------------------------- NumPy baseline
class NumpyLossGrad:
    """Loss and gradient of a thermodynamic model with an MPA measurement, in NumPy."""

    def __init__(self, model: Model) -> None:
        spec, lay = model.spec, model.layout
        self.A = len(spec.alphabet)
        self.P = lay.size
        names = [s.name for s in spec.sites]
        self.sites = [(s.start, s.width, lay[f"E.{s.name}"].offset, lay[f"eps.{s.name}"].offset)
                      for s in spec.sites]
        states = spec.gpmap.states
        K, S = len(states), len(names)
        self.bound = np.zeros((K, S))            # logw = -dG @ bound.T - inter
        self.inter = []                          # (state, theta index)
        self.act_param = []                      # (state, theta index)
        self.act_const = np.zeros(K)
        for k, st in enumerate(states):
            for b in st.bound:
                self.bound[k, names.index(b)] = 1.0
            for i in st.interactions:
                self.inter.append((k, lay[i].offset))
            if isinstance(st.activity, str):
                self.act_param.append((k, lay[f"act.{st.activity}"].offset))
            else:
                self.act_const[k] = float(st.activity)
        self.tsat = lay["t_sat"].offset
        m = model.core.measurement
        self.Y, self.H, self.moff = m.n_bins, m.hidden, m.offset

    def __call__(self, theta: np.ndarray, codes: np.ndarray, counts: np.ndarray,
                 block: int = 4096) -> tuple[float, np.ndarray]:
        grad = np.zeros(self.P)
        loss = 0.0
        for i0 in range(0, codes.shape[0], block):
            loss += self._block(theta, codes[i0:i0 + block], counts[i0:i0 + block], grad)
        return loss, grad

    def _block(self, theta, codes, counts, grad) -> float:  # type: ignore[no-untyped-def]
        A, Y, H, mo = self.A, self.Y, self.H, self.moff
        n = codes.shape[0]
        dG = np.empty((n, len(self.sites)))
        flat = []
        for j, (st, w, eo, po) in enumerate(self.sites):
            idx = np.arange(w) * A + codes[:, st:st + w]
            flat.append(idx)
            dG[:, j] = theta[po] + theta[eo:eo + w * A][idx].sum(axis=1)
        logw = -dG @ self.bound.T
        for k, p in self.inter:
            logw[:, k] -= theta[p]
        alpha = self.act_const.copy()
        for k, p in self.act_param:
            alpha[k] += theta[p]
        m = logw.max(axis=1, keepdims=True)
        e = np.exp(logw - m)
        pst = e / e.sum(axis=1, keepdims=True)
        tsat = theta[self.tsat]
        phi = tsat * (pst @ alpha)
        a = theta[mo:mo + Y]
        b = theta[mo + Y:mo + Y + Y * H].reshape(Y, H)
        c = theta[mo + Y + Y * H:mo + Y + 2 * Y * H].reshape(Y, H)
        d = theta[mo + Y + 2 * Y * H:mo + Y + 3 * Y * H].reshape(Y, H)
        t = np.tanh(c[None] * phi[:, None, None] + d[None])
        u = a[None] + np.einsum("nyk,yk->ny", t, b)
        um = u.max(axis=1, keepdims=True)
        eu = np.exp(u - um)
        se = eu.sum(axis=1, keepdims=True)
        lse = um[:, 0] + np.log(se[:, 0])
        ntot = counts.sum(axis=1)
        loss = float((ntot * lse - (counts * u).sum(axis=1)).sum())
        du = ntot[:, None] * (eu / se) - counts
        grad[mo:mo + Y] += du.sum(axis=0)
        grad[mo + Y:mo + Y + Y * H] += np.einsum("ny,nyk->yk", du, t).ravel()
        s = du[:, :, None] * b[None] * (1.0 - t * t)
        grad[mo + Y + Y * H:mo + Y + 2 * Y * H] += np.einsum("nyk,n->yk", s, phi).ravel()
        grad[mo + Y + 2 * Y * H:mo + Y + 3 * Y * H] += s.sum(axis=0).ravel()
        dphi = np.einsum("nyk,yk->n", s, c)
        grad[self.tsat] += float((dphi * (pst @ alpha)).sum())
        for k, p in self.act_param:
            grad[p] += float((dphi * tsat * pst[:, k]).sum())
        dlogw = dphi[:, None] * pst * (tsat * alpha[None] - phi[:, None])
        for k, p in self.inter:
            grad[p] -= float(dlogw[:, k].sum())
        ddG = -dlogw @ self.bound
        for j, (_st, w, eo, po) in enumerate(self.sites):
            grad[po] += float(ddG[:, j].sum())
            grad[eo:eo + w * A] += np.bincount(flat[j].ravel(), weights=np.repeat(ddG[:, j], w), minlength=w * A)
        return loss


def _levels() -> list[str]:
    """Kernel levels worth timing on this CPU: the auto choice and, on an AVX-512 machine,
    the AVX2 copy (what AVX2-only machines run)."""
    auto = _core.cpu_kernel_level()
    return [auto] + (["x86-64-v3"] if auto == "x86-64-v4" else [])


def _median(ts: list[float]) -> float:
    return median_iqr(ts)[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N = 100,000 instead of 1,000,000")
    ap.add_argument("--n", type=int, default=None, help="number of sequences (overrides --quick)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per case (after one warm-up)")
    ap.add_argument("--numpy-n", type=int, default=20_000, help="rows of the NumPy baseline subsample")
    ap.add_argument("--batch-size", type=int, default=10_000, help="minibatch of the epoch cases")
    ap.add_argument("--threads", type=str, default="1,2", help="comma-separated thread counts")
    ap.add_argument("--no-fused", action="store_true", help="skip the hand-fused baseline (needs g++)")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch epoch")
    ap.add_argument("--json", type=str, default=None, help="also write the JSON lines to this file")
    args = ap.parse_args(argv)

    N = args.n if args.n else (100_000 if args.quick else 1_000_000)
    threads = [int(s) for s in args.threads.split(",") if s]
    rng = np.random.default_rng(0)
    m = Model(preset("lac"))
    L, A, Y = m.spec.length, len(m.alphabet), m.core.measurement.n_bins
    codes = rng.integers(0, A, size=(N, L), dtype=np.uint8)
    counts = np.zeros((N, Y))
    counts[np.arange(N), rng.integers(0, Y, N)] = rng.integers(1, 4, N)
    counts += rng.poisson(0.1, (N, Y))
    theta = m.theta
    rep = Reporter(args.json)
    common = dict(n=N, L=L, states=len(m.state_names), device="cpu")

    # NumPy baseline on a subsample, checked against the kernel
    nb = min(args.numpy_n, N)
    ref = NumpyLossGrad(m)
    t_np = time_call(lambda: ref(theta, codes[:nb], counts[:nb]), repeats=max(3, args.repeats // 2))
    numpy_per_seq = _median(t_np) / nb
    l_np, g_np = ref(theta, codes[:nb], counts[:nb])
    l_k, g_k = _core.loss_and_grad(m.core, codes[:nb], counts[:nb], theta, None, 1)
    rep.emit(record("loss_grad_numpy", threads=1, times=t_np, n_timed=nb, baseline_per_seq=numpy_per_seq,
                    **{**common, "kernel_level": "numpy"}, numpy_rows=nb,
                    check_loss_rel=abs(l_k - l_np) / abs(l_np),
                    check_grad_rel=float(np.max(np.abs(g_k - g_np)) / np.max(np.abs(g_np)))))

    fused = {}
    if not args.no_fused:
        from baselines.fused import load_fused

        for level in _levels():
            f = load_fused(march="native" if level == _core.cpu_kernel_level() else level, quiet=True)
            if f is not None:
                fused[level] = f

    # loss + gradient: cisreg in both precisions and each level, interleaved with the fused kernel
    for level in _levels():
        for nt in threads:
            cases = {("cisreg", dt): (lambda dt=dt, nt=nt, level=level: _core.loss_and_grad(
                m.core, codes, counts, theta, None, nt, dtype=dt, isa=level)) for dt in ("float32", "float64")}
            if level in fused:
                cases[("fused", "float32")] = lambda nt=nt, level=level: fused[level](codes, counts, theta, None, nt)
            times = {k: [] for k in cases}
            for f in cases.values():
                f()  # warm-up
            for _ in range(args.repeats):
                for k, f in cases.items():
                    times[k] += time_call(f, repeats=1, warmup=0)
            fused_t = _median(times[("fused", "float32")]) if ("fused", "float32") in times else None
            for (impl, dt), ts in times.items():
                extra = {"ratio_vs_fused": _median(ts) / fused_t} if fused_t and impl == "cisreg" else {}
                rep.emit(record("loss_grad" if impl == "cisreg" else "loss_grad_fused", threads=nt, times=ts,
                                baseline_per_seq=numpy_per_seq, **common, kernel_level=level, dtype=dt, **extra))

    # an epoch of the fit loop at batch 10,000 vs loss + gradient over the same rows
    train = np.arange(N, dtype=np.int64)
    amounts = counts.sum(axis=1)
    l2 = l2_vector(m.layout, 1e-4)
    for nt in threads:
        for dt in ("float32", "float64"):
            full = time_call(lambda dt=dt, nt=nt: _core.loss_and_grad(m.core, codes, counts, theta, None, nt,
                                                                      dtype=dt), repeats=args.repeats)
            work = m.copy()
            opt = Adam(work.layout.size, learning_rate=1e-4, mask=work.layout.trainable_mask())
            grad = np.empty(work.layout.size)
            erng = np.random.default_rng(1)
            ep = time_call(lambda dt=dt, nt=nt: train_epoch(work, codes, counts, amounts, train, erng, args.batch_size,
                                                            opt, grad, l2, nt, dt),
                           repeats=max(2, args.repeats // 2))
            rep.emit(record("epoch", threads=nt, times=ep, baseline_per_seq=numpy_per_seq, **common,
                            kernel_level=_core.cpu_kernel_level(), dtype=dt, batch_size=args.batch_size,
                            ratio_vs_full_gradient=_median(ep) / _median(full)))
    if not args.no_torch:
        from baselines import torch_lac

        if torch_lac.available():
            tt = [torch_lac.epoch(codes, counts, theta, batch_size=args.batch_size, n_threads=1) for _ in range(2)]
            rep.emit(record("epoch_torch", threads=1, times=tt, baseline_per_seq=numpy_per_seq, **common,
                            kernel_level="torch", dtype="float32", batch_size=args.batch_size))

    # phi alone
    for level in _levels():
        for nt in threads:
            for dt in ("float32", "float64"):
                t = time_call(lambda dt=dt, nt=nt, level=level: _core.phi(m.core, codes, theta, None, nt, dtype=dt,
                                                                          isa=level), repeats=args.repeats)
                rep.emit(record("phi", threads=nt, times=t, baseline_per_seq=None, **common, kernel_level=level,
                                dtype=dt))
    rep.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
