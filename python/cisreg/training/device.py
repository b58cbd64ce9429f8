"""The fit loop on a CUDA device.

The one fit loop (:func:`cisreg.training.stepper.run_epochs`: early stopping on the validation
likelihood, divergence detection, checkpoints, interrupts) over :class:`CudaStepper`, which
does everything per minibatch on the device: the codes, targets and parameters are uploaded once per fit
(a :class:`cisreg._core.CudaSession`), an epoch's minibatches are one index array uploaded
once per epoch, and each minibatch is one call that runs the loss, the gradient and the
Adam step there; only the loss and a status word come back. The random choices
(initialisation, the order of the rows) are drawn on the host exactly as the CPU loop
draws them, so a CPU and a CUDA fit of one seed visit the same minibatches.

:func:`restart_runner` plugs into :func:`cisreg.training.loop.fit` (it has the signature of
the loop's per-restart function); :func:`fit_device` is a self-contained fit for callers
that do not go through ``cisreg.fit``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _core
from ..data.dataset import Dataset
from ..errors import InputError
from ..models.compile import initial_theta
from ..models.model import Model
from ..models.spec import ModelSpec
from .adam import Adam
from .result import FitResult, restart_summary
from .stepper import FitJob, StopFit, run_epochs

__all__ = ["EPOCH_SLOT", "VAL_SLOT", "CudaStepper", "fit_device", "open_session", "restart_runner",
           "train_epoch_device"]

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
    """One epoch on the device (:func:`cisreg.training.loop.train_epoch`'s semantics): the
    training rows in a random order, in minibatches of ``batch_size`` (each sorted), one
    Adam step each. Returns the summed loss and reads; raises the loop's stop exception on
    a non-finite loss, gradient or parameter."""
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
        loss, status = sess.train_step(EPOCH_SLOT, i, cnt, float(cnt))  # per row: see train_epoch
        if status & bad_input:
            raise InputError("the device found invalid codes, targets or weights in a minibatch")
        if status & stop:
            raise StopFit("diverged")
        tot += loss
        tot_reads += reads
    return tot, tot_reads


class CudaStepper:
    """The CUDA back end of the fit loop (:mod:`cisreg.training.stepper`): parameters, the best
    parameters and the Adam state live in the session; the host copies are brought up to
    date for checkpoints (:meth:`sync`)."""

    def __init__(self, sess: Any, model: Model, opt: Adam, amounts: np.ndarray, train: np.ndarray, val: np.ndarray,
                 l2: np.ndarray) -> None:
        self.sess, self.model, self.opt = sess, model, opt
        self.amounts, self.train, self.val, self.l2 = amounts, train, val, l2

    def start(self, best_theta: np.ndarray) -> None:
        sess, opt = self.sess, self.opt
        sess.adam_configure(opt.lr, opt.b1, opt.b2, opt.eps, np.ascontiguousarray(self.l2),
                            np.ascontiguousarray(opt.mask))
        sess.set_adam_state(opt.m, opt.v, opt.t)
        sess.set_theta(best_theta)
        sess.keep_best()
        sess.set_theta(self.model.theta)
        sess.set_rows(VAL_SLOT, np.ascontiguousarray(self.val, dtype=np.int64))

    def step_epoch(self, rng: np.random.Generator, batch_size: int) -> tuple[float, float]:
        return train_epoch_device(self.sess, self.amounts, self.train, rng, batch_size)

    def val_loss(self) -> float:
        return float(self.sess.loss_and_grad(slot=VAL_SLOT, want_grad=False)[0])

    def keep_best(self) -> None:
        self.sess.keep_best()

    def best(self) -> np.ndarray:
        out: np.ndarray = self.sess.get_best()
        return out

    def sync(self) -> None:
        self.model.theta[:] = self.sess.get_theta()
        m, v, t = self.sess.adam_state()
        self.opt.m[:] = m
        self.opt.v[:] = v
        self.opt.t = int(t)


def _fit_one_device(sess: Any, job: FitJob, restart: int, theta0: np.ndarray | None,
                    resume_state: dict[str, Any] | None = None, done: list[FitResult] | None = None) -> FitResult:
    """One restart on the device (:func:`cisreg.training.loop._fit_one`'s contract)."""
    from .loop import init_rows, l2_vector

    spec, data, targets, train, val, settings = job.spec, job.data, job.targets, job.train, job.val, job.settings
    rng = np.random.default_rng([settings["seed"], restart])
    model = Model(spec, theta0)
    if theta0 is None:  # the same start as the CPU loop draws
        init = init_rows(train)
        model.theta[:] = initial_theta(model.compiled, rng, targets=np.asarray(targets[init], dtype=np.float64),
                                       codes=np.asarray(data.codes[init]))
    lay = model.layout
    opt = Adam(lay.size, learning_rate=settings["learning_rate"], mask=lay.trainable_mask())  # host copy of the state
    amounts = job.row_amounts()
    stepper = CudaStepper(sess, model, opt, amounts, train, val, l2_vector(lay, settings["l2"]))
    return run_epochs(stepper, rng=rng, settings=settings, reads_val=float(amounts[val].sum()), restart=restart,
                      quiet=job.quiet, checkpoint_every=job.checkpoint_every, checkpoint_dir=job.checkpoint_dir,
                      resume_state=resume_state, on_epoch=job.on_epoch, done=done, n_train=len(train),
                      desc=", cuda")


def restart_runner(spec: ModelSpec, data: Dataset, targets: np.ndarray, settings: dict[str, Any], *,
                   device: int = 0) -> Callable[..., FitResult]:
    """A function with the signature of the CPU loop's per-restart fit (``_fit_one(job,
    restart, theta0, resume_state, done)``) that runs each restart on CUDA device
    ``device``; the data are uploaded on the first call and kept for the following restarts."""
    state: dict[str, Any] = {}

    def run(job: FitJob, restart: int, theta0: np.ndarray | None, resume_state: dict[str, Any] | None = None,
            done: list[FitResult] | None = None) -> FitResult:
        if "sess" not in state:
            state["sess"] = open_session(job.spec, job.data, job.targets, job.settings["dtype"], device=device)
        return _fit_one_device(state["sess"], job, restart, theta0, resume_state, done)

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
        res = run(FitJob(spec, data, targets, train, val, settings, quiet, on_epoch=on_epoch), r, theta0, None, runs)
        runs.append(res)
        if res.interrupted:
            break
    best = min(runs, key=lambda f: f.best_val_nll if math.isfinite(f.best_val_nll) else math.inf)
    best.wall_s = time.perf_counter() - t0
    best.settings = settings
    best.restarts = [restart_summary(i, f) for i, f in enumerate(runs)]
    best.interrupted = any(f.interrupted for f in runs)
    return best
