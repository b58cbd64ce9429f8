"""The lac model in idiomatic PyTorch (CPU, float32, autograd): a baseline for the benchmarks.

    from baselines import torch_lac
    if torch_lac.available():
        loss, grad = torch_lac.loss_grad(codes, counts, theta, n_threads=1)    # grad: float64, cisreg layout
        seconds = torch_lac.epoch(codes, counts, theta, batch_size=10_000, n_threads=1)

The model is an ``nn.Module`` (``LacModel``) with one parameter tensor per block of cisreg's
layout; site energies are looked up with ``torch.gather`` from the integer codes, the state
probabilities come from ``torch.softmax``, the sort-seq NLL from ``torch.logsumexp``, and the
gradient from autograd. ``import torch`` is optional: without it ``available()`` is False and
the functions raise ``RuntimeError``.
"""

from __future__ import annotations

import time

import numpy as np

try:
    import torch
    from torch import nn
except ImportError:  # pragma: no cover - depends on the environment
    torch = None
    nn = None

# cisreg's layout of the lac preset (checked against cisreg by check_layout()).
LAYOUT: tuple[tuple[str, int, tuple[int, ...]], ...] = (
    ("E.CRP", 0, (26, 4)), ("eps.CRP", 104, ()), ("E.RNAP", 105, (41, 4)), ("eps.RNAP", 269, ()),
    ("dG_I", 270, ()), ("t_sat", 271, ()), ("mpa.a", 272, (10,)), ("mpa.b", 282, (10, 50)),
    ("mpa.c", 782, (10, 50)), ("mpa.d", 1282, (10, 50)),
)
P = 1782
L = 75
SITES = (("CRP", 1, 26), ("RNAP", 34, 41))  # name, window start, width
#: Blocks that cisreg's fit regularises with l2 (kinds "energy" and "measurement").
L2_BLOCKS = ("E.CRP", "E.RNAP", "mpa.a", "mpa.b", "mpa.c", "mpa.d")
#: Blocks cisreg does not train.
FROZEN = ("t_sat",)
#: Rows per forward/backward pass in loss_grad: the fastest of 250 ... 100,000 on the development
#: machine (a chunk's activations, ~10 kB per row, then stay in cache; 100,000 is ~3x slower).
DEFAULT_CHUNK = 1_000


def available() -> bool:
    """True when PyTorch can be imported."""
    return torch is not None


def _need_torch() -> None:
    if torch is None:
        raise RuntimeError("PyTorch is not installed; the torch baseline is unavailable")


def check_layout() -> None:
    """Raise if cisreg's lac preset does not have the layout this module was written for."""
    from cisreg.models import Model, preset

    m = Model(preset("lac"))
    got = tuple((b.name, b.offset, tuple(b.shape)) for b in m.layout)
    if got != LAYOUT or m.layout.size != P or m.spec.length != L:
        raise RuntimeError(f"cisreg's lac layout {got} differs from torch_lac.LAYOUT {LAYOUT}")
    sites = tuple((s.name, s.start, s.width) for s in m.spec.sites)
    if sites != SITES:
        raise RuntimeError(f"cisreg's lac sites {sites} differ from torch_lac.SITES {SITES}")


def _attr(name: str) -> str:
    return name.replace(".", "_")


if torch is not None:

    class LacModel(nn.Module):
        """Thermodynamic lac model (CRP, RNAP, 4 states) with the sort-seq (MPA) measurement."""

        def __init__(self, theta: np.ndarray | None = None) -> None:
            super().__init__()
            for name, _, shape in LAYOUT:
                self.register_parameter(_attr(name), nn.Parameter(torch.zeros(shape)))
            if theta is not None:
                self.set_theta(theta)

        # -- parameters in cisreg's flat layout
        def set_theta(self, theta: np.ndarray) -> None:
            theta = np.asarray(theta, dtype=np.float64)
            if theta.shape != (P,):
                raise ValueError(f"theta must have shape [{P}], got {theta.shape}")
            with torch.no_grad():
                for name, off, shape in LAYOUT:
                    n = int(np.prod(shape))
                    getattr(self, _attr(name)).copy_(torch.from_numpy(theta[off:off + n].reshape(shape)))

        def get_theta(self) -> np.ndarray:
            out = np.zeros(P)
            for name, off, shape in LAYOUT:
                n = int(np.prod(shape))
                out[off:off + n] = getattr(self, _attr(name)).detach().double().numpy().ravel()
            return out

        def grad_vector(self) -> np.ndarray:
            out = np.zeros(P)
            for name, off, shape in LAYOUT:
                g = getattr(self, _attr(name)).grad
                if g is not None:
                    out[off:off + int(np.prod(shape))] = g.double().numpy().ravel()
            return out

        # -- forward
        def phi(self, x: torch.Tensor) -> torch.Tensor:
            """Activity phi [B] of integer codes x [B, 75]."""
            x = x.long()
            dg = []
            for name, start, width in SITES:
                E = getattr(self, f"E_{name}")                                    # [w, 4]
                idx = x[:, start:start + width, None]                            # [B, w, 1]
                e = torch.gather(E.expand(x.shape[0], width, 4), 2, idx)          # E[l, x_l]
                dg.append(getattr(self, f"eps_{name}") + e.sum((1, 2)))
            dg_crp, dg_rnap = dg
            zero = torch.zeros_like(dg_crp)
            logw = torch.stack([zero, -dg_crp, -dg_rnap, -dg_crp - dg_rnap - self.dG_I], 1)
            p = torch.softmax(logw, 1)                                           # free, CRP, RNAP, CRP+RNAP
            return self.t_sat * (p[:, 2] + p[:, 3])

        def forward(self, x: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
            """Summed NLL of counts [B, 10] given codes x [B, 75]."""
            phi = self.phi(x)
            t = torch.tanh(phi[:, None, None] * self.mpa_c + self.mpa_d)           # [B, 10, 50]
            u = self.mpa_a + torch.einsum("byk,yk->by", t, self.mpa_b)            # [B, 10]
            return (counts.sum(1) * torch.logsumexp(u, 1) - (counts * u).sum(1)).sum()

else:  # pragma: no cover
    LacModel = None  # type: ignore[assignment,misc]


class _Threads:
    """Set torch's intra-op thread count for a block of code, then restore it."""

    def __init__(self, n: int) -> None:
        self.n = int(n)

    def __enter__(self) -> None:
        self.prev = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.prev)


def loss_grad(codes: np.ndarray, counts: np.ndarray, theta: np.ndarray, n_threads: int = 1,
              rows: np.ndarray | None = None, chunk: int = DEFAULT_CHUNK) -> tuple[float, np.ndarray]:
    """Summed NLL over the rows (default all) and its gradient, as float64 in cisreg's layout.

    Computed in float32 by autograd, in chunks of ``chunk`` rows whose gradients accumulate in
    the parameters' ``.grad`` (the usual gradient accumulation); the loss is summed in float64.
    """
    _need_torch()
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    if rows is not None:
        codes, counts = codes[rows], counts[rows]
    x = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.uint8))
    n = torch.from_numpy(np.ascontiguousarray(counts, dtype=np.float32))
    with _Threads(n_threads):
        model = LacModel(theta)
        loss = 0.0
        for i in range(0, x.shape[0], chunk):
            part = model(x[i:i + chunk], n[i:i + chunk])
            part.backward()
            loss += float(part.detach())
        return loss, model.grad_vector()


def epoch(codes: np.ndarray, counts: np.ndarray, theta: np.ndarray, batch_size: int = 10_000,
          n_threads: int = 1, lr: float = 0.01, l2: float = 1e-4, seed: int = 0,
          theta_out: np.ndarray | None = None) -> float:
    """One epoch of Adam over shuffled minibatches; returns its wall time in seconds.

    Each step minimises (NLL of the batch) / (reads in the batch) + l2/2 * |theta_reg|^2 over the
    trainable blocks (t_sat frozen), as cisreg's fit does (its defaults: lr 0.01, l2 1e-4). The
    time covers the loop (shuffle, batch gather, forward, backward, step), not the conversion
    of the arrays to tensors. ``theta_out`` (float64 [1782]), if given, receives the parameters.
    """
    _need_torch()
    if batch_size < 1 or n_threads < 1:
        raise ValueError("batch_size and n_threads must be >= 1")
    x = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.uint8))
    n = torch.from_numpy(np.ascontiguousarray(counts, dtype=np.float32))
    with _Threads(n_threads):
        model = LacModel(theta)
        for name in FROZEN:
            getattr(model, _attr(name)).requires_grad_(False)
        params = [p for p in model.parameters() if p.requires_grad]
        reg = [getattr(model, _attr(name)) for name in L2_BLOCKS]
        opt = torch.optim.Adam(params, lr=lr)
        gen = torch.Generator().manual_seed(seed)
        t0 = time.perf_counter()
        perm = torch.randperm(x.shape[0], generator=gen)
        for i in range(0, x.shape[0], batch_size):
            idx = perm[i:i + batch_size]
            xb, nb = x[idx], n[idx]
            reads = float(nb.sum())
            if reads == 0:
                continue
            opt.zero_grad(set_to_none=True)
            loss = model(xb, nb) / reads
            if l2:
                loss = loss + 0.5 * l2 * sum((p * p).sum() for p in reg)
            loss.backward()
            opt.step()
        wall = time.perf_counter() - t0
        if theta_out is not None:
            theta_out[:] = model.get_theta()
    return wall
