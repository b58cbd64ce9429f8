"""One model fitted to data partitioned across Dask workers.

Each partition (a table, a directory written by ``cisreg convert``, or a Dataset) is
loaded once, on a worker, and stays there. Every optimiser step sends the parameters to
the workers; each computes the loss and gradient of its rows with the C++ kernels; the
client adds them up in partition order and steps the optimiser. The kernels' results do
not depend on thread counts, and the sum's order is fixed, so a fit with a client is bit
for bit the serial fit over the same partitions (``client=None``).

Minibatch Adam: an epoch has S = ceil(N_train / batch_size) steps; partition p
contributes ceil(n_p / S) of its training rows (in its own random order, seeded by
(seed, epoch, p)) to each step, so every row is visited once per epoch. Full-batch
L-BFGS (scipy) uses every training row at each evaluation. Early stopping (Adam) or the
reported history (L-BFGS) uses the validation rows of all partitions.
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..training.stepper import HostState

__all__ = ["fit_partitioned"]

# per-process caches (on a worker: the partitions it holds, the models it has compiled)
_TARGETS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_MODELS: dict[str, Any] = {}


def _load_partition(p: Any, seed: int, read: dict[str, Any]) -> Any:
    from pathlib import Path

    from ..data.dataset import Dataset

    if isinstance(p, Dataset):
        return p
    path = Path(p)
    if path.is_dir():
        from ..data import store

        return store.open_store(path)
    from ..data.readers import read_table

    return read_table(path, seed=seed, **read)


def _model(spec_json: str) -> Any:
    m = _MODELS.get(spec_json)
    if m is None:
        import json

        from ..models import Model, spec_from_dict

        m = Model(spec_from_dict(json.loads(spec_json)))
        if len(_MODELS) > 16:
            _MODELS.clear()
        _MODELS[spec_json] = m
    return m


def _targets(part: Any, model: Any) -> Any:
    t = _TARGETS.get(part)
    if t is None:
        t = model.targets_of(part)
        _TARGETS[part] = t
    return t


def _info(part: Any, spec_json: str) -> dict[str, Any]:
    model = _model(spec_json)
    t = _targets(part, model)
    amounts = model.spec.measurement.amounts(t)
    tr, va = part.indices("training"), part.indices("validation")
    return {"n": part.n, "length": part.length, "alphabet": part.alphabet, "train": len(tr), "val": len(va),
            "train_reads": float(amounts[tr].sum()), "val_reads": float(amounts[va].sum()), "source": part.source}


def _rows(part: Any, which: str, seed: int, p: int, epoch: int, step: int, per_step: int) -> np.ndarray:
    if which == "val":
        out: np.ndarray = part.indices("validation")
        return out
    tr: np.ndarray = part.indices("training")
    if which == "train":
        return tr
    perm: np.ndarray = np.random.default_rng([seed, epoch, p]).permutation(tr)
    chosen: np.ndarray = np.sort(perm[step * per_step : (step + 1) * per_step])
    return chosen


def _partition_loss(part: Any, spec_json: str, theta: np.ndarray, which: str, seed: int, p: int, epoch: int, step: int,
          per_step: int, n_threads: int | None, dtype: str) -> tuple[float, np.ndarray, float, int]:
    """Loss (summed NLL), gradient, reads and number of one partition's selected rows."""
    model = _model(spec_json)
    t = _targets(part, model)
    rows = _rows(part, which, seed, p, epoch, step, per_step)
    if len(rows) == 0:
        return 0.0, np.zeros(theta.size), 0.0, 0
    model.theta[:] = theta
    grad = which != "val"
    out = model.loss(part.codes, t, rows, n_threads=n_threads, grad=grad, dtype=dtype)
    loss, g = (out if grad else (out, np.zeros(theta.size)))
    reads = float(model.spec.measurement.amounts(t[rows]).sum())
    return float(loss), np.asarray(g, dtype=np.float64), reads, len(rows)


def _init_theta(part: Any, spec_json: str, seed: int) -> np.ndarray:
    from ..models.compile import initial_theta

    model = _model(spec_json)
    t = _targets(part, model)
    tr: np.ndarray = part.indices("training")
    out: np.ndarray = initial_theta(model.compiled, np.random.default_rng([seed, 0]), targets=t[tr],
                                    codes=part.codes[tr])
    return out


class _Partitions:
    """The partitions, held on workers (futures) or in this process."""

    def __init__(self, parts: Sequence[Any], client: Any, seed: int, read: dict[str, Any]) -> None:
        self.client = client
        if client is None:
            self.handles = [_load_partition(p, seed, read) for p in parts]
        else:
            self.handles = [client.submit(_load_partition, p, seed, read, pure=False) for p in parts]

    def map(self, fn: Any, *args: Any, per_part: Any = None) -> list[Any]:
        """fn(part, *args, *per_part(p)) for every partition, results in partition order."""
        extra = [per_part(p) if per_part else () for p in range(len(self.handles))]
        if self.client is None:
            return [fn(h, *args, *e) for h, e in zip(self.handles, extra)]
        futs = [self.client.submit(fn, h, *args, *e, pure=False) for h, e in zip(self.handles, extra)]
        return list(self.client.gather(futs))


def _total(results: list[tuple[float, np.ndarray, float, int]], size: int) -> tuple[float, np.ndarray, float, int]:
    """Sum of (loss, grad, reads, rows) in partition order: a fixed order, whatever the cluster."""
    loss, reads, n = 0.0, 0.0, 0
    g = np.zeros(size)
    for lo, gr, re, k in results:
        loss += lo
        g += gr
        reads += re
        n += k
    return loss, g, reads, n


class _PartitionStepper(HostState):
    """The data-parallel back end of the fit loop (cisreg.training.stepper): each Adam step sums
    the partitions' minibatch gradients in partition order; the epoch's row order comes from
    (seed, epoch, partition), not from the loop's generator."""

    def __init__(self, parts: _Partitions, spec_json: str, model: Any, opt: Any, l2: np.ndarray, steps: int,
                 per: list[int], seed: int, n_threads: int | None, dtype: str) -> None:
        self.parts, self.spec_json, self.model, self.opt, self.l2 = parts, spec_json, model, opt, l2
        self.steps, self.per, self.seed, self.nt, self.dtype = steps, per, seed, n_threads, dtype
        self.epoch = 0
        self.start(model.theta)

    def step_epoch(self, rng: np.random.Generator, batch_size: int) -> tuple[float, float]:
        from ..training.stepper import StopFit

        theta, P = self.model.theta, self.model.theta.size
        tot, tot_reads = 0.0, 0.0
        for k in range(self.steps):
            loss, g, reads, n_rows = _total(self.parts.map(
                _partition_loss, self.spec_json, theta, "batch", self.seed,
                per_part=lambda p, k=k: (p, self.epoch, k, self.per[p], self.nt, self.dtype)), P)
            if reads == 0:
                continue
            if not (math.isfinite(loss) and np.all(np.isfinite(g))):
                raise StopFit("diverged")
            g /= n_rows  # per row (variant), as cisreg.training.loop.train_epoch
            g += self.l2 * theta
            self.opt.step(theta, g)
            tot += loss
            tot_reads += reads
        self.epoch += 1
        return tot, tot_reads

    def val_loss(self) -> float:
        loss, _, _, _ = _total(self.parts.map(_partition_loss, self.spec_json, self.model.theta, "val", self.seed, 0, 0,
                                           0, 0, self.nt, self.dtype, per_part=None), self.model.theta.size)
        return loss


def fit_partitioned(partitions: Sequence[Any], model: Any, *, client: Any = None, method: str = "adam",
                    epochs: int | None = None, batch_size: int | None = None, learning_rate: float | None = None,
                    l2: float | dict[str, float] | None = None, patience: int | None = None, maxiter: int = 500,
                    seed: int = 0, n_threads: int | None = None, dtype: str | None = None, quiet: bool = True,
                    read: dict[str, Any] | None = None) -> Any:
    """Fit ``model`` (a spec, built-in name, model file or Model as the start) to data in
    ``partitions`` (tables, `cisreg convert` directories or Datasets; each with its own
    training / validation / test rows), on the workers of ``client`` or, without one, in
    this process. ``method``: ``"adam"`` (minibatches, early stopping on the validation
    likelihood; the defaults of :func:`cisreg.fit`) or ``"lbfgs"`` (full batch, scipy's
    L-BFGS-B, at most ``maxiter`` iterations). Returns a :class:`~cisreg.FitResult`."""
    import json

    from ..models.model import Model, check_dtype
    from ..models.presets import resolve_spec
    from ..training import loop
    from ..training.adam import Adam
    from ..training.result import FitResult

    if method not in ("adam", "lbfgs"):
        raise InputError(f"method must be 'adam' or 'lbfgs', got {method!r}")
    if not partitions:
        raise InputError("no partitions")
    epochs = loop.DEFAULT_EPOCHS if epochs is None else epochs
    batch_size = loop.DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    lr = loop.DEFAULT_LEARNING_RATE if learning_rate is None else learning_rate
    l2 = loop.DEFAULT_L2 if l2 is None else l2
    patience = loop.DEFAULT_PATIENCE if patience is None else patience
    dtype = check_dtype(loop.DEFAULT_DTYPE if dtype is None else dtype)
    loop._check_settings(epochs, batch_size, lr, l2, patience, 1)
    start = model.theta.copy() if isinstance(model, Model) else None
    spec = model.spec if isinstance(model, Model) else resolve_spec(model)
    spec_json = json.dumps(spec.to_dict(), sort_keys=True)
    t0 = time.perf_counter()
    parts = _Partitions(partitions, client, seed, read or {})
    info = parts.map(_info, spec_json)
    for i, d in enumerate(info):
        if d["length"] != spec.length or d["alphabet"] != spec.alphabet:
            raise InputError(f"partition {i} ({d['source']}): sequences of length {d['length']} over "
                             f"{d['alphabet']}, the model expects {spec.length} over {spec.alphabet}")
    n_train = sum(d["train"] for d in info)
    train_reads = sum(d["train_reads"] for d in info)
    val_reads = sum(d["val_reads"] for d in info)
    if n_train == 0 or train_reads == 0:
        raise InputError("the partitions hold no training rows")
    if val_reads == 0 and method == "adam":
        raise InputError("the partitions hold no validation rows, so early stopping is impossible")
    m = Model(spec, start if start is not None else parts.map(_init_theta, spec_json, seed)[0])
    lay = m.layout
    P = lay.size
    l2v = loop.l2_vector(lay, l2)
    mask = lay.trainable_mask()
    theta = m.theta

    def val_nll(th: np.ndarray) -> float:
        loss, _, reads, _n = _total(parts.map(_partition_loss, spec_json, th, "val", seed, 0, 0, 0, 0, n_threads, dtype,
                                          per_part=None), P)
        return loss / reads if reads else math.nan

    history: dict[str, list[float]] = {"train_nll": [], "val_nll": []}
    best_epoch, epoch = 0, 0
    stop_reason, diverged = "max_epochs", False
    if method == "adam":
        from ..training.stepper import run_epochs

        opt = Adam(P, learning_rate=lr, mask=mask)
        steps = max(1, math.ceil(n_train / batch_size))
        per = [max(1, math.ceil(d["train"] / steps)) for d in info]
        stepper = _PartitionStepper(parts, spec_json, m, opt, l2v, steps, per, seed, n_threads, dtype)
        settings = {"epochs": epochs, "batch_size": batch_size, "learning_rate": lr, "patience": patience}
        fr = run_epochs(stepper, rng=np.random.default_rng(seed), settings=settings, reads_val=val_reads,
                        quiet=quiet)
        history, best_epoch, epoch = fr.history, fr.best_epoch, fr.epochs_run
        stop_reason, diverged = fr.stop_reason, fr.diverged
    else:
        from scipy.optimize import minimize

        idx = np.flatnonzero(mask)
        lam = l2v * n_train  # the penalty per variant (row), as in the minibatch steps

        def f(x: np.ndarray) -> tuple[float, np.ndarray]:
            th = theta.copy()
            th[idx] = x
            loss, g, _, _n = _total(parts.map(_partition_loss, spec_json, th, "train", seed, 0, 0, 0, 0, n_threads,
                                          dtype), P)
            return (loss + 0.5 * float(np.sum(lam[idx] * x * x))) / train_reads, (g[idx] + lam[idx] * x) / train_reads

        def cb(x: np.ndarray) -> None:
            th = theta.copy()
            th[idx] = x
            history["train_nll"].append(f(x)[0])
            history["val_nll"].append(val_nll(th) if val_reads else math.nan)

        res = minimize(f, theta[idx], jac=True, method="L-BFGS-B", callback=cb,
                       options={"maxiter": maxiter, "gtol": 1e-10, "ftol": 1e-15})
        theta[idx] = res.x
        epoch = best_epoch = int(res.nit)
        stop_reason = "converged" if res.success else f"stopped: {res.message}"
    out = FitResult(m, history, best_epoch, epoch, time.perf_counter() - t0, stop_reason, diverged=diverged)
    out.settings = {"method": method, "epochs": epochs, "batch_size": batch_size, "learning_rate": lr, "l2": l2,
                    "patience": patience, "seed": seed, "dtype": dtype, "partitions": len(info),
                    "n_threads": n_threads}
    return out
