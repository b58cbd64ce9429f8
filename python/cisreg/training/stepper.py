"""The one fit loop, over a stepper.

A stepper is what a back end gives the loop: one epoch of Adam steps, the validation loss,
and a kept copy of the best parameters. The loop around it (history, early stopping on the
validation likelihood, divergence, checkpoints, interrupts, the progress bar) is written
once, here, for every back end:

- :class:`CpuStepper`: the epoch in the core (``_core.adam_epoch``), parameters and Adam
  state in host arrays;
- ``cisreg.training.device.CudaStepper``: a CUDA session, state on the device;
- ``cisreg.scaleout.dataparallel``'s stepper: partitions on Dask workers, reduced here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..models.model import Model
from .adam import Adam
from .checkpoint import write_checkpoint
from .result import FitResult

__all__ = ["CpuStepper", "FitJob", "HostState", "Stepper", "StopFit", "improves", "run_epochs"]


@dataclass
class FitJob:
    """Everything one restart of a fit needs besides its number and start: the model
    specification, the data and its targets, the training and validation rows, the fit's
    settings (cisreg.fit's, as a dict), and what the caller wants reported along the way."""

    spec: Any
    data: Any
    targets: np.ndarray
    train: np.ndarray
    val: np.ndarray
    settings: dict[str, Any]
    quiet: bool = True
    checkpoint_every: int = 0
    checkpoint_dir: str | Path | None = None
    on_epoch: Callable[[int, dict[str, float]], None] | None = None
    weights: np.ndarray | None = None  # bootstrap row weights
    amounts: np.ndarray | None = None  # spec.measurement.amounts(targets), if the caller has it

    def row_amounts(self) -> np.ndarray:
        """Reads (or measurements) per row, to normalise the loss (one pass over the targets,
        kept for the following restarts)."""
        if self.amounts is None:
            self.amounts = self.spec.measurement.amounts(self.targets)
        return self.amounts


class StopFit(Exception):
    """Raised by a stepper on a non-finite loss, gradient or parameter."""


def improves(val_nll: float, best_val: float) -> bool:
    """Whether a validation NLL beats the best so far by more than rounding (relative 1e-6):
    the early-stopping test of the fit loop."""
    return val_nll < best_val - 1e-6 * abs(best_val if math.isfinite(best_val) else 1.0)


class Stepper(Protocol):
    """What the fit loop needs of a back end. ``model.theta`` and ``opt`` are the host copies
    of the parameters and the Adam state; they are current after :meth:`sync`."""

    model: Model
    opt: Adam

    def start(self, best_theta: np.ndarray) -> None:
        """Take the host state (model.theta, opt, and the best parameters so far) as the start."""

    def step_epoch(self, rng: np.random.Generator, batch_size: int) -> tuple[float, float]:
        """One epoch of minibatches in an order drawn from ``rng``: the summed training loss and
        reads; raises StopFit on a non-finite loss, gradient or parameter."""
        ...

    def val_loss(self) -> float:
        """The summed NLL of the validation rows at the current parameters."""
        ...

    def keep_best(self) -> None:
        """Keep the current parameters as the best."""

    def best(self) -> np.ndarray:
        """The kept best parameters."""
        ...

    def sync(self) -> None:
        """Bring the current parameters and Adam state into model.theta and opt."""


class HostState:
    """For steppers whose parameters and Adam state are host arrays (model.theta, opt): the
    best parameters are a host copy, and there is nothing to sync."""

    model: Model
    _best: np.ndarray

    def start(self, best_theta: np.ndarray) -> None:
        self._best = np.array(best_theta, dtype=np.float64)

    def keep_best(self) -> None:
        self._best[:] = self.model.theta

    def best(self) -> np.ndarray:
        return self._best

    def sync(self) -> None:
        pass


class CpuStepper(HostState):
    """The CPU back end: each epoch one call of the core (``cisreg.training.loop.train_epoch``)."""

    def __init__(self, model: Model, opt: Adam, codes: np.ndarray, targets: np.ndarray, amounts: np.ndarray,
                 train: np.ndarray, val: np.ndarray, l2: np.ndarray, n_threads: int, dtype: str,
                 weights: np.ndarray | None = None) -> None:
        self.model, self.opt = model, opt
        self.codes, self.targets, self.amounts = codes, targets, amounts
        self.train, self.val, self.l2 = train, val, l2
        self.nt, self.dtype, self.weights = n_threads, dtype, weights
        self.start(model.theta)

    def step_epoch(self, rng: np.random.Generator, batch_size: int) -> tuple[float, float]:
        from .loop import train_epoch

        return train_epoch(self.model, self.codes, self.targets, self.amounts, self.train, rng, batch_size, self.opt,
                           None, self.l2, self.nt, self.dtype, self.weights)

    def val_loss(self) -> float:
        return float(self.model.loss(self.codes, self.targets, self.val, n_threads=self.nt, dtype=self.dtype))


def run_epochs(stepper: Stepper, *, rng: np.random.Generator, settings: dict[str, Any], reads_val: float,
               restart: int = 0, quiet: bool = True, checkpoint_every: int = 0,
               checkpoint_dir: str | Path | None = None, resume_state: dict[str, Any] | None = None,
               on_epoch: Callable[[int, dict[str, float]], None] | None = None, done: list[FitResult] | None = None,
               n_train: int | None = None, desc: str = "") -> FitResult:
    """Epochs of ``stepper`` until ``settings["patience"]`` epochs pass without a better
    validation likelihood or ``settings["epochs"]`` are run; the best parameters are kept.
    Writes a checkpoint every ``checkpoint_every`` epochs (and at the end) into
    ``checkpoint_dir``; continues from ``resume_state`` (cisreg.training.checkpoint). A
    divergence or an interrupt ends the fit with the best parameters so far and says so in
    the result. Returns the FitResult (wall time 0: the caller times the whole fit)."""
    model, opt = stepper.model, stepper.opt
    theta = model.theta
    history: dict[str, list[float]] = {"train_nll": [], "val_nll": []}
    best_theta = theta.copy()
    best_val, best_epoch, bad, start_epoch = math.inf, 0, 0, 0
    if resume_state is not None:
        theta[:] = resume_state["theta"]
        best_theta = resume_state["best_theta"].copy()
        opt.load_state(resume_state)
        rng.bit_generator.state = resume_state["rng"]
        history = resume_state["history"]
        best_val, best_epoch, bad = resume_state["best_val"], resume_state["best_epoch"], resume_state["bad"]
        start_epoch = resume_state["epoch"]
    finished = bool(resume_state["stopped"]) if resume_state is not None else False
    stepper.start(best_theta)
    bs = settings["batch_size"] if n_train is None else min(settings["batch_size"], n_train)
    stop_reason = resume_state["stop_reason"] if (finished and resume_state is not None) else "max_epochs"
    interrupted = diverged = False
    epoch = start_epoch
    bar = None
    if not quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=settings["epochs"], initial=start_epoch, desc=f"fit (restart {restart + 1}{desc})",
                   unit="epoch", leave=False, disable=None)  # disable=None: no bar when stderr is not a terminal
    try:
        while epoch < settings["epochs"] and not finished:
            tot, tot_reads = stepper.step_epoch(rng, bs)
            epoch += 1
            val_nll = stepper.val_loss() / reads_val
            if not math.isfinite(val_nll):
                raise StopFit("diverged")
            history["train_nll"].append(tot / max(tot_reads, 1.0))
            history["val_nll"].append(val_nll)
            if improves(val_nll, best_val):
                best_val, best_epoch, bad = val_nll, epoch, 0
                stepper.keep_best()
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
                # only early stopping is final; a fit that ran out of epochs may be resumed with more
                stepper.sync()
                write_checkpoint(Path(checkpoint_dir), model, stepper.best(), opt, rng, history, best_val,
                                 best_epoch, bad, epoch, restart, settings, bad >= settings["patience"],
                                 stop_reason, done if done is not None else [])
            if stop:
                break
    except StopFit:
        diverged = True
        stop_reason = (f"diverged at epoch {epoch + 1} (non-finite loss or parameters); the best parameters so "
                       f"far were kept. Lower the learning rate (now {settings['learning_rate']}) or raise l2")
    except KeyboardInterrupt:
        interrupted = True
        stop_reason = f"interrupted at epoch {epoch}; the best parameters so far were kept"
    finally:
        if bar is not None:
            bar.close()
    theta[:] = stepper.best()
    return FitResult(model, history, best_epoch, epoch, 0.0, stop_reason, interrupted=interrupted,
                     diverged=diverged)
