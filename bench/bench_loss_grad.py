"""Loss + full gradient of the built-in lac model (sort-seq / MPA measurement).

Times ``cisreg._core.loss_and_grad`` over N random 75-bp sequences with 1 and 2
threads, and a plain NumPy implementation of the same computation (forward and a
hand-derived backward, vectorised over rows) on a subsample, as the baseline.
One JSON line per case; see bench/README.md.

    python bench/bench_loss_grad.py [--quick] [--repeats R] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import sys

# The NumPy baseline is timed single-threaded, and idle BLAS worker threads would otherwise
# spin on the cores the kernel's threads use: pin BLAS to one thread before NumPy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS_BLAS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Reporter, record, time_call  # noqa: E402

import cisreg  # noqa: E402
from cisreg import _core  # noqa: E402
from cisreg.models import Model, preset  # noqa: E402


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
        m = model.compiled.measurement
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
        # forward: site energies, state weights, phi
        dG = np.empty((n, len(self.sites)))
        flat = []
        for j, (st, w, eo, po) in enumerate(self.sites):
            idx = np.arange(w) * A + codes[:, st:st + w]         # [n, w]
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
        z = e.sum(axis=1, keepdims=True)
        pst = e / z                                             # state probabilities [n, K]
        tsat = theta[self.tsat]
        phi = tsat * (pst @ alpha)
        # MPA forward
        a = theta[mo:mo + Y]
        b = theta[mo + Y:mo + Y + Y * H].reshape(Y, H)
        c = theta[mo + Y + Y * H:mo + Y + 2 * Y * H].reshape(Y, H)
        d = theta[mo + Y + 2 * Y * H:mo + Y + 3 * Y * H].reshape(Y, H)
        t = np.tanh(c[None] * phi[:, None, None] + d[None])    # [n, Y, H]
        u = a[None] + np.einsum("nyk,yk->ny", t, b)
        um = u.max(axis=1, keepdims=True)
        eu = np.exp(u - um)
        se = eu.sum(axis=1, keepdims=True)
        lse = um[:, 0] + np.log(se[:, 0])
        ntot = counts.sum(axis=1)
        loss = float((ntot * lse - (counts * u).sum(axis=1)).sum())
        # MPA backward
        du = ntot[:, None] * (eu / se) - counts                 # [n, Y]
        grad[mo:mo + Y] += du.sum(axis=0)
        grad[mo + Y:mo + Y + Y * H] += np.einsum("ny,nyk->yk", du, t).ravel()
        s = du[:, :, None] * b[None] * (1.0 - t * t)            # [n, Y, H]
        grad[mo + Y + Y * H:mo + Y + 2 * Y * H] += np.einsum("nyk,n->yk", s, phi).ravel()
        grad[mo + Y + 2 * Y * H:mo + Y + 3 * Y * H] += s.sum(axis=0).ravel()
        dphi = np.einsum("nyk,yk->n", s, c)
        # network backward
        grad[self.tsat] += float((dphi * (pst @ alpha)).sum())
        for k, p in self.act_param:
            grad[p] += float((dphi * tsat * pst[:, k]).sum())
        dlogw = dphi[:, None] * pst * (tsat * alpha[None] - phi[:, None])
        for k, p in self.inter:
            grad[p] -= float(dlogw[:, k].sum())
        ddG = -dlogw @ self.bound                               # [n, S]
        for j, (st, w, eo, po) in enumerate(self.sites):
            grad[po] += float(ddG[:, j].sum())
            grad[eo:eo + w * A] += np.bincount(flat[j].ravel(), weights=np.repeat(ddG[:, j], w),
                                               minlength=w * A)
        return loss


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N = 100,000 instead of 1,000,000")
    ap.add_argument("--n", type=int, default=None, help="number of sequences (overrides --quick)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per case (after one warm-up)")
    ap.add_argument("--numpy-n", type=int, default=20_000, help="rows of the NumPy baseline subsample")
    ap.add_argument("--threads", type=str, default="1,2", help="comma-separated thread counts")
    ap.add_argument("--json", type=str, default=None, help="also write the JSON lines to this file")
    args = ap.parse_args(argv)

    N = args.n if args.n else (100_000 if args.quick else 1_000_000)
    rng = np.random.default_rng(0)
    m = Model(preset("lac"))
    L, A, Y = m.spec.length, len(m.alphabet), m.compiled.measurement.n_bins
    codes = rng.integers(0, A, size=(N, L), dtype=np.uint8)
    counts = np.zeros((N, Y))
    counts[np.arange(N), rng.integers(0, Y, N)] = rng.integers(1, 4, N)
    counts += rng.poisson(0.1, (N, Y))
    theta = m.theta
    net, meas = m.compiled.network, m.compiled.measurement
    level = _core.cpu_kernel_level()
    states = len(m.state_names)
    rep = Reporter(args.json)
    common = dict(n=N, L=L, states=states, device="cpu", kernel_level=level)

    # NumPy baseline on a subsample, and a cross-check of its result against the kernel.
    nb = min(args.numpy_n, N)
    ref = NumpyLossGrad(m)
    t_np = time_call(lambda: ref(theta, codes[:nb], counts[:nb]), repeats=args.repeats)
    base_per_seq = sorted(t_np)[len(t_np) // 2] / nb
    l_np, g_np = ref(theta, codes[:nb], counts[:nb])
    l_k, g_k = _core.loss_and_grad(net, meas, codes[:nb], counts[:nb], theta, None, 1)
    rel = float(np.max(np.abs(g_k - g_np)) / max(np.max(np.abs(g_np)), 1e-300))
    rep.emit(record("loss_grad_numpy", threads=1, times=t_np, n_timed=nb, baseline_per_seq=base_per_seq,
                    **{**common, "kernel_level": "numpy"}, numpy_rows=nb,
                    check_loss_rel=abs(l_k - l_np) / abs(l_np), check_grad_rel=rel))

    for nt in [int(s) for s in args.threads.split(",") if s]:
        t = time_call(lambda: _core.loss_and_grad(net, meas, codes, counts, theta, None, nt),
                      repeats=args.repeats)
        rep.emit(record("loss_grad", threads=nt, times=t, baseline_per_seq=base_per_seq, **common))
    rep.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
