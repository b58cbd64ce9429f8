"""The fit loop on a CUDA device.

The same loop as :mod:`cisreg.fit.loop` (epochs of shuffled minibatches, Adam, L2, early
stopping on the validation likelihood, divergence detection, checkpoints), with everything
per minibatch on the device: the codes, targets and parameters are uploaded once per fit
(a :class:`cisreg._core.CudaSession`), an epoch's minibatches are one index array uploaded
once per epoch, and each minibatch is one call that runs the loss, the gradient and the
Adam step there; only the loss and a status word come back. The random choices
(initialisation, the order of the rows) are drawn on the host exactly as the CPU loop
draws them, so a CPU and a CUDA fit of one seed visit the same minibatches.

:func:`restart_runner` plugs into :func:`cisreg.fit.loop.fit` (it has the signature of
the loop's per-restart function); :func:`fit_device` is a self-contained fit for callers
that do not go through ``cisreg.fit``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import _core
from ..data.dataset import Dataset
from ..errors import InputError
from ..models.compile import initial_theta
from ..models.model import Model
from ..models.spec import ModelSpec
from .adam import Adam
from .checkpoint import write_checkpoint
from .result import FitResult, restart_summary

__all__ = ["EPOCH_SLOT", "VAL_SLOT", "fit_device", "open_session", "restart_runner", "train_epoch_device"]

#: Row-index slots of the session: the epoch's minibatches, the validation rows.
EPOCH_SLOT = 0
VAL_SLOT = 1



def open_session(spec: ModelSpec, data: Dataset, targets: np.ndarray, dtype: str, *, device: int = 0,
                 residency: str = "auto") -> Any:
    """Upload a data set for fits of ``spec`` (codes, targets) to CUDA device ``device``."""
    probe = Model(spec)
    return _core.CudaSession(probe.core, np.ascontiguousarray(data.codes), np.ascontiguousarray(targets),
                             dtype=dtype, device=device, residency=residency)


def _stop_bits() -> int:
    S = _core.CudaSession
    return int(S.STATUS_NONFINITE_LOSS | S.STATUS_NONFINITE_GRAD | S.STATUS_NONFINITE_THETA)


def train_epoch_device(sess: Any, amounts: np.ndarray, train: np.ndarray, rng: np.random.Generator,
                       batch_size: int) -> tuple[float, float]:
    """One epoch on the device (:func:`cisreg.fit.loop.train_epoch`'s semantics): the
    training rows in a random order, in minibatches of ``batch_size`` (each sorted), one
    Adam step each. Returns the summed loss and reads; raises the loop's stop exception on
    a non-finite loss, gradient or parameter."""
    from .loop import _Stop

    perm = rng.permutation(train)
    n = len(perm)
    starts = range(0, n, batch_size)
    for i in starts:  # sorted within each minibatch: the kernels read the codes in memory order
        perm[i : i + batch_size].sort()
    order = np.ascontiguousarray(perm, dtype=np.int64)
    sess.set_rows(EPOCH_SLOT, order)  # one upload per epoch
    stop = _stop_bits()
    bad_input = int(_core.CudaSession.STATUS_BAD_INPUT)
    tot, tot_reads = 0.0, 0.0
    for i in starts:
        cnt = min(batch_size, n - i)
        reads = float(amounts[order[i : i + cnt]].sum())
        if reads == 0:
            continue
        loss, status = sess.train_step(EPOCH_SLOT, i, cnt, reads)
        if status & bad_input:
            raise InputError("the device found invalid codes, targets or weights in a minibatch")
        if status & stop:
            raise _Stop("diverged")
        tot += loss
        tot_reads += reads
    return tot, tot_reads


def _fit_one_device(sess, spec, data, targets, train, val, theta0, restart, settings, quiet, checkpoint_every,  # type: ignore[no-untyped-def]
                    checkpoint_dir, resume_state, on_epoch, done) -> FitResult:
    from .loop import _Stop, improves, init_rows, l2_vector

    meas = spec.measurement
    rng = np.random.default_rng([settings["seed"], restart])
    model = Model(spec, theta0)
    if theta0 is None:  # the same start as the CPU loop draws
        init = init_rows(train)
        model.theta[:] = initial_theta(model.compiled, rng, targets=np.asarray(targets[init], dtype=np.float64),
                                       codes=np.asarray(data.codes[init]))
    lay = model.layout
    l2 = l2_vector(lay, settings["l2"])
    opt = Adam(lay.size, learning_rate=settings["learning_rate"], mask=lay.trainable_mask())  # host copy of the state
    amounts = meas.amounts(targets)
    reads_val = float(amounts[val].sum())
    history: dict[str, list[float]] = {"train_nll": [], "val_nll": []}
    best_theta = model.theta.copy()
    best_val, best_epoch, bad, start_epoch = math.inf, 0, 0, 0
    if resume_state is not None:
        model.theta[:] = resume_state["theta"]
        best_theta = resume_state["best_theta"].copy()
        opt.load_state(resume_state)
        rng.bit_generator.state = resume_state["rng"]
        history = resume_state["history"]
        best_val, best_epoch, bad = resume_state["best_val"], resume_state["best_epoch"], resume_state["bad"]
        start_epoch = resume_state["epoch"]
    finished = bool(resume_state["stopped"]) if resume_state is not None else False
    sess.adam_configure(opt.lr, opt.b1, opt.b2, opt.eps, np.ascontiguousarray(l2), np.ascontiguousarray(opt.mask))
    sess.set_adam_state(opt.m, opt.v, opt.t)
    sess.set_theta(best_theta)
    sess.keep_best()
    sess.set_theta(model.theta)
    sess.set_rows(VAL_SLOT, np.ascontiguousarray(val, dtype=np.int64))
    bs = min(settings["batch_size"], len(train))
    stop_reason = resume_state["stop_reason"] if finished else "max_epochs"
    interrupted = diverged = False
    epoch = start_epoch
    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(total=settings["epochs"], initial=start_epoch, desc=f"fit (restart {restart + 1}, cuda)",
                   unit="epoch", leave=False, disable=None)

    def pull_state() -> None:  # the device's theta, best theta and Adam state into the host objects
        model.theta[:] = sess.get_theta()
        best_theta[:] = sess.get_best()
        m, v, t = sess.adam_state()
        opt.m[:] = m
        opt.v[:] = v
        opt.t = int(t)

    try:
        while epoch < settings["epochs"] and not finished:
            tot, tot_reads = train_epoch_device(sess, amounts, train, rng, bs)
            epoch += 1
            val_nll = sess.loss_and_grad(slot=VAL_SLOT, want_grad=False)[0] / reads_val
            if not math.isfinite(val_nll):
                raise _Stop("diverged")
            history["train_nll"].append(tot / max(tot_reads, 1.0))
            history["val_nll"].append(val_nll)
            if improves(val_nll, best_val):
                best_val, best_epoch, bad = val_nll, epoch, 0
                sess.keep_best()
            else:
                bad += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(train=f"{history['train_nll'][-1]:.4f}", val=f"{val_nll:.4f}")
            if on_epoch is not None:
                on_epoch(epoch, {"train_nll": history["train_nll"][-1], "val_nll": val_nll})
            stop = bad >= settings["patience"] or epoch >= settings["epochs"]
            if bad >= settings["patience"]:
                stop_reason = "early_stopping"
            if checkpoint_every and checkpoint_dir is not None and (epoch % checkpoint_every == 0 or stop):
                pull_state()
                write_checkpoint(Path(checkpoint_dir), model, best_theta, opt, rng, history, best_val,
                                 best_epoch, bad, epoch, restart, settings, bad >= settings["patience"],
                                 stop_reason, done)
            if stop:
                break
    except _Stop:
        diverged = True
        stop_reason = (f"diverged at epoch {epoch + 1} (non-finite loss or parameters); the best parameters so "
                       f"far were kept. Lower the learning rate (now {settings['learning_rate']}) or raise l2")
    except KeyboardInterrupt:
        interrupted = True
        stop_reason = f"interrupted at epoch {epoch}; the best parameters so far were kept"
    finally:
        if bar is not None:
            bar.close()
    model.theta[:] = sess.get_best()
    return FitResult(model, history, best_epoch, epoch, 0.0, stop_reason, interrupted=interrupted,
                     diverged=diverged)


def restart_runner(spec: ModelSpec, data: Dataset, targets: np.ndarray, settings: dict[str, Any], *,
                   device: int = 0) -> Callable[..., FitResult]:
    """A function with the signature of the CPU loop's per-restart fit that runs each
    restart on CUDA device ``device``; the data are uploaded on the first call and kept for
    the following restarts."""
    state: dict[str, Any] = {}

    def run(spec, data, targets, train, val, theta0, restart, settings, quiet, checkpoint_every,  # type: ignore[no-untyped-def]
            checkpoint_dir, resume_state, on_epoch, done) -> FitResult:
        if "sess" not in state:
            state["sess"] = open_session(spec, data, targets, settings["dtype"], device=device)
        return _fit_one_device(state["sess"], spec, data, targets, train, val, theta0, restart, settings, quiet,
                               checkpoint_every, checkpoint_dir, resume_state, on_epoch, done)

    return run


def fit_device(data: Dataset, model: Model | ModelSpec | str, *, epochs: int = 300, batch_size: int = 500,
               learning_rate: float = 0.01, l2: float | dict[str, float] = 1e-4, patience: int = 20,
               restarts: int = 1, seed: int = 0, dtype: str = "float32", quiet: bool = False, device: int = 0,
               on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> FitResult:
    """Fit ``model`` to ``data`` on CUDA device ``device`` (the settings of
    :func:`cisreg.fit`, without checkpoints; ``cisreg.fit(..., device="cuda")`` is the same
    loop with all of them)."""
    from ..models.model import check_dtype
    from ..models.presets import resolve_spec
    from .loop import _check_settings

    if not _core.cuda_available():
        from ..devices import resolve_device

        resolve_device("cuda")  # raises, saying why
    if not isinstance(model, Model):
        model = resolve_spec(model)
        if model.length_from_data:
            model = model.with_length(data.length)
    spec = model.spec if isinstance(model, Model) else model
    start_theta = model.theta.copy() if isinstance(model, Model) else None
    _check_settings(epochs, batch_size, learning_rate, l2, patience, restarts)
    targets = Model(spec, start_theta).targets_of(data)
    train, val = data.indices("training"), data.indices("validation")
    if len(train) == 0 or len(val) == 0:
        raise InputError("fit_device needs training and validation rows", source=data.source)
    settings = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "l2": l2,
                "patience": patience, "restarts": restarts, "seed": seed, "n_threads": 1,
                "dtype": check_dtype(dtype), "device": "cuda"}
    t0 = time.perf_counter()
    run = restart_runner(spec, data, targets, settings, device=device)
    runs: list[FitResult] = []
    for r in range(restarts):
        theta0 = start_theta if (r == 0 and start_theta is not None) else None
        res = run(spec, data, targets, train, val, theta0, r, settings, quiet, 0, None, None, on_epoch, runs)
        runs.append(res)
        if res.interrupted:
            break
    best = min(runs, key=lambda f: f.best_val_nll if math.isfinite(f.best_val_nll) else math.inf)
    best.wall_s = time.perf_counter() - t0
    best.settings = settings
    best.restarts = [restart_summary(i, f) for i, f in enumerate(runs)]
    best.interrupted = any(f.interrupted for f in runs)
    return best
