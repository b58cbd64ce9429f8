"""The fitting loop: minibatch Adam with L2 regularisation, early stopping on the
validation likelihood, multi-start, divergence detection, checkpoints."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

import numpy as np

from .._threads import effective_n_threads
from ..data.dataset import Dataset
from ..errors import InputError
from ..models.compile import initial_theta
from ..models.model import Model, check_dtype
from ..models.spec import ModelSpec
from .adam import Adam
from .checkpoint import fingerprint, read_checkpoint
from .result import FitResult, restart_summary
from .stepper import CpuStepper, FitJob, StopFit, run_epochs

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_DTYPE", "DEFAULT_EPOCHS", "DEFAULT_L2", "DEFAULT_LEARNING_RATE",
           "DEFAULT_PATIENCE", "FitResult", "fit"]

#: Defaults chosen by measurement on the lac sort-seq data (see bench/bench_fit.py).
DEFAULT_BATCH_SIZE = 500
DEFAULT_LEARNING_RATE = 0.01
DEFAULT_EPOCHS = 300
DEFAULT_PATIENCE = 20
DEFAULT_L2 = 1e-4
#: Compute precision of the kernels during a fit (gradients accumulate in float64).
DEFAULT_DTYPE = "float32"




def fit(
    data: Dataset | pd.DataFrame,
    model: Model | ModelSpec,
    *,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    l2: float | dict[str, float] = DEFAULT_L2,
    patience: int = DEFAULT_PATIENCE,
    restarts: int = 1,
    seed: int = 0,
    n_threads: int | None = None,
    dtype: str = DEFAULT_DTYPE,
    device: str = "cpu",
    quiet: bool = False,
    checkpoint_every: int = 0,
    checkpoint_dir: str | Path | None = None,
    resume: str | Path | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    bootstrap: int = 0,
    laplace: bool = False,
    client: Any = None,
) -> FitResult:
    """Fit a model to a data set by maximum likelihood.

    Parameters
    ----------
    data:
        A :class:`~cisreg.data.Dataset` with training and validation rows.
    model:
        A :class:`~cisreg.models.Model` (its parameters are the start of the first
        restart), or a specification for random starts: a
        :class:`~cisreg.models.ModelSpec`, a model-file dict, a built-in name
        (``"lac"``) or the path of a JSON/TOML model file.
    epochs, batch_size, learning_rate:
        Adam settings; an epoch is one pass over the training rows in random
        minibatches of ``batch_size`` sequences.
    l2:
        L2 penalty per variant (row): the objective is the NLL plus l2 theta^2 / 2 per
        training row, so the same ``l2`` is the same prior for sort-seq, GE and counts at
        any sequencing depth. A number for every energy, pair-energy, bias and measurement
        parameter, or a dict by block kind (``"energy"``, ``"pair"``, ``"bias"``,
        ``"measurement"``, ``"interaction"``, ``"rate"``, ...) or block name (``"P.TF"``),
        the most specific key winning, unlisted blocks unpenalised.
    patience:
        Stop after this many epochs without a better validation likelihood; the
        best parameters are kept. (A validation split of more than VAL_MAX_ROWS
        = 10^6 rows is watched on 10^6 evenly spaced rows of it.)
    restarts:
        Number of initialisations; the best by validation likelihood is returned,
        and ``FitResult.restarts`` lists each one's physical parameters.
    seed:
        Seeds every random choice (initialisation, minibatches). The same seed
        gives the same result bit for bit, for any number of threads.
    dtype:
        Compute precision of the kernels, ``"float32"`` (default: about twice as fast,
        the same fit quality) or ``"float64"``; gradients accumulate in float64 either
        way, and the optimiser state is float64.
    device:
        ``"cpu"`` (default), ``"cuda"`` or ``"auto"`` (cuda when available): where the
        kernels run; on ``"cuda"`` the data, parameters and Adam state stay on the device for
        the whole fit (:mod:`cisreg.training.device`).
    checkpoint_every, checkpoint_dir, resume:
        Write a resumable checkpoint every N epochs into ``checkpoint_dir``;
        continue a fit from a checkpoint directory with ``resume``.
    bootstrap:
        Number of bootstrap refits (0: none) for standard errors and 95% intervals of
        every physical parameter (:func:`cisreg.training.uncertainty.bootstrap`).
    laplace:
        Also the Laplace (curvature) estimate (:func:`cisreg.training.uncertainty.laplace`).
        Both land in ``FitResult.uncertainty`` (and report.json), in the gauge of the
        library's reference sequence (the consensus of the training sequences).
    client:
        A dask.distributed Client: restarts and bootstrap refits run as its tasks (the
        same random starts, minibatches and resamples, so the same results as without).
    n_threads:
        Kernel threads: ``None`` (default) ``OMP_NUM_THREADS`` or every core available;
        ``-k`` all but ``k - 1``. Results do not depend on it, bit for bit; a call too
        small to pay for threads runs on one.
    quiet:
        No progress bar.
    on_epoch:
        Called after every epoch as ``on_epoch(epoch, {"train_nll": ..., "val_nll": ...})``
        (losses per read or measurement).

    Returns
    -------
    FitResult
        ``.model`` (the best parameters by validation likelihood), ``.history``,
        ``.best_epoch``, ``.stop_reason``, ``.restarts``, ``.uncertainty``, ``.settings``.
    """
    if not isinstance(data, Dataset):
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            from ..data.validate import from_dataframe

            data = from_dataframe(data)
        else:
            raise TypeError(f"data must be a cisreg Dataset (cisreg.read_table, cisreg.load_example) or a pandas "
                            f"DataFrame with MAVE-NN's columns, got {type(data).__name__}")
    if not isinstance(model, Model):
        from ..models.presets import resolve_spec

        model = resolve_spec(model)
        if model.length_from_data:  # "length": "auto": the data's
            model = model.with_length(data.length)
    spec = model.spec if isinstance(model, Model) else model
    start_theta = model.theta.copy() if isinstance(model, Model) else None
    _check_settings(epochs, batch_size, learning_rate, l2, patience, restarts)
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int | np.integer) or bootstrap < 0 or bootstrap == 1:
        raise InputError(f"bootstrap must be 0 (none) or an integer >= 2, got {bootstrap!r}")
    probe = Model(spec, start_theta)
    targets = probe.targets_of(data)
    if data.length != spec.length:
        raise InputError(f"the data's sequences have length {data.length}, the model expects {spec.length}; "
                         "set \"length\" in the model file", source=data.source)
    if data.alphabet != spec.alphabet:
        raise InputError(f"the data use alphabet {data.alphabet}, the model {spec.alphabet}", source=data.source)
    train = data.indices("training")
    val = data.indices("validation")
    if len(train) == 0:
        raise InputError("no training rows; add rows with set = training", source=data.source)
    if len(val) == 0:
        raise InputError("no validation rows, so early stopping is impossible; add rows with set = validation "
                         "(or drop the set column for a random 60/20/20 split)", source=data.source)
    amounts = spec.measurement.amounts(targets)
    if len(val) > VAL_MAX_ROWS:  # early stopping on evenly spaced rows: a pass over them costs little
        val = np.ascontiguousarray(val[:: -(-len(val) // VAL_MAX_ROWS)])
    for name, rows in (("training", train), ("validation", val)):
        if not float(amounts[rows].sum()) > 0:
            unit = getattr(spec.measurement, "unit", "read")
            raise InputError(f"the {name} rows hold no {unit}s (every row's {unit} count is 0), so the loss per "
                             f"{unit} is undefined; check the count columns the measurement uses", source=data.source)
    nt = effective_n_threads(n_threads)
    from ..devices import resolve_device

    dev = resolve_device(device)
    settings = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "l2": l2,
                "patience": patience, "restarts": restarts, "seed": seed, "n_threads": nt,
                "dtype": check_dtype(dtype), "device": dev}
    if checkpoint_every or resume is not None:
        settings["data_sha256"] = fingerprint(data, targets)
    t0 = time.perf_counter()
    resume_state = read_checkpoint(resume, spec, settings) if resume is not None else None
    runs: list[FitResult] = list(resume_state["finished"]) if resume_state else []
    first = resume_state["restart"] if resume_state else 0
    interrupted_outside = False
    if client is not None and restarts > 1 and not (checkpoint_every or resume is not None):
        runs = remote_restarts(client, spec, data, start_theta, restarts, settings)
        first = restarts  # all done
    fit_one: Callable[..., FitResult] = _fit_one
    if dev == "cuda":
        from .device import restart_runner

        fit_one = restart_runner(spec, data, targets, settings)
    job = FitJob(spec, data, targets, train, val, settings, quiet, checkpoint_every, checkpoint_dir, on_epoch,
                 amounts=amounts)
    for r in range(first, restarts):
        theta0 = start_theta if (r == 0 and start_theta is not None) else None
        try:
            res = fit_one(job, r, theta0, resume_state if r == first else None, runs)
        except KeyboardInterrupt:  # between restarts or while one was being set up
            if not runs:
                raise
            interrupted_outside = True
            break
        runs.append(res)
        if res.interrupted:
            break
    best = min(runs, key=lambda f: f.best_val_nll if math.isfinite(f.best_val_nll) else math.inf)
    best.wall_s = time.perf_counter() - t0
    best.settings = settings
    best.restarts = [restart_summary(i, f) for i, f in enumerate(runs)]
    best.interrupted = interrupted_outside or any(f.interrupted for f in runs)
    if interrupted_outside:
        best.stop_reason += "; interrupted before the remaining restarts"
    if (bootstrap or laplace) and not best.interrupted:
        _uncertainty(best, data, bootstrap, laplace, l2, nt, quiet, client)
    return best


def result_to_dict(res: FitResult) -> dict[str, Any]:
    """A FitResult as plain data (parameters, history, status) to send between processes."""
    return {"theta": res.model.theta.copy(), "history": res.history, "best_epoch": res.best_epoch,
            "epochs_run": res.epochs_run, "wall_s": res.wall_s, "stop_reason": res.stop_reason,
            "interrupted": res.interrupted, "diverged": res.diverged, "settings": res.settings}


def result_from_dict(spec: ModelSpec, d: dict[str, Any]) -> FitResult:
    res = FitResult(Model(spec, d["theta"]), d["history"], d["best_epoch"], d["epochs_run"], d["wall_s"],
                    d["stop_reason"], interrupted=d["interrupted"], diverged=d["diverged"])
    res.settings = d.get("settings", {})
    res.restarts = d.get("restarts", [])
    return res


def _restart_task(spec_dict: dict[str, Any], data: Dataset, theta0: np.ndarray | None, r: int,
                  settings: dict[str, Any], weights: np.ndarray | None = None) -> dict[str, Any]:
    """One restart (or bootstrap refit) on a worker; n_threads: the worker's own."""
    from ..models.spec import spec_from_dict

    spec = spec_from_dict(spec_dict)
    probe = Model(spec, theta0)
    targets = probe.targets_of(data)
    settings = {**settings, "n_threads": effective_n_threads(None)}
    job = FitJob(spec, data, targets, data.indices("training"), data.indices("validation"), settings, weights=weights)
    res = _fit_one(job, r, theta0)
    return result_to_dict(res)


def fit_task(data: Dataset, spec_dict: dict[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """A whole fit on a worker (its own kernel threads), returned as plain data."""
    from ..models.spec import spec_from_dict

    res = fit(data, spec_from_dict(spec_dict), quiet=True, **kwargs)
    d = result_to_dict(res)
    d["restarts"] = res.restarts
    return d


def remote_restarts(client: Any, spec: ModelSpec, data: Dataset, start_theta: np.ndarray | None, restarts: int,
                    settings: dict[str, Any]) -> list[FitResult]:
    """The restarts of a fit as tasks of a Dask client: the same random starts and
    minibatches as in this process, so the same results."""
    spec_dict = spec.to_dict()
    data_f = client.scatter(data, hash=False)
    futs = [client.submit(_restart_task, spec_dict, data_f, start_theta if r == 0 else None, r, settings,
                          pure=False) for r in range(restarts)]
    return [result_from_dict(spec, d) for d in client.gather(futs)]


def _uncertainty(best: FitResult, data: Dataset, B: int, lap: bool, l2: Any, nt: int, quiet: bool,
                 client: Any = None) -> None:
    from .report import consensus_sequence
    from .uncertainty import bootstrap, laplace

    x_ref = consensus_sequence(data)
    try:
        if lap:
            best.uncertainty["laplace"] = laplace(best.model, data, l2=l2, n_threads=nt, gauge="wt", x_wt=x_ref)
        if B:
            best.uncertainty["bootstrap"] = bootstrap(best, data, B, gauge="wt", x_wt=x_ref, quiet=quiet,
                                                      client=client)
    except KeyboardInterrupt:
        best.interrupted = True
        best.stop_reason += "; interrupted while estimating uncertainties"


def train_epoch(model: Model, codes: np.ndarray, targets: np.ndarray, amounts: np.ndarray, train: np.ndarray,
                rng: np.random.Generator, batch_size: int, opt: Adam, grad: np.ndarray | None, l2: np.ndarray,
                n_threads: int, dtype: str, weights: np.ndarray | None = None) -> tuple[float, float]:
    """One epoch: the training rows in a random order, in minibatches of ``batch_size``
    (index arrays: nothing is copied), one Adam step per minibatch on the loss per row
    (variant) plus ``l2`` [P] times theta (minibatches without reads are skipped). With
    row ``weights`` [N] (a bootstrap resample) each row's loss and reads count that many
    times; ``amounts`` must then be weighted already.
    The whole epoch runs in the core (``_core.adam_epoch``: one return to Python per epoch,
    the same steps as one kernel call per minibatch, bit for bit). Updates ``model.theta``
    and ``opt`` in place; returns the summed loss and reads. Raises StopFit on a non-finite
    loss, gradient or parameter. ``grad`` is unused (kept for callers of the old loop)."""
    from .. import _core

    perm = rng.permutation(train)
    mask = np.ascontiguousarray(opt.mask).view(np.uint8)
    loss, reads, t, status = _core.adam_epoch(
        model.core, codes, targets, model.theta, opt.m, opt.v, opt.t, perm.astype(np.int64, copy=False), batch_size,
        np.ascontiguousarray(amounts, dtype=np.float64), l2, learning_rate=opt.lr, beta1=opt.b1, beta2=opt.b2,
        eps=opt.eps, mask=mask, weights=weights, n_threads=n_threads, dtype=dtype)
    opt.t = int(t)
    if status != "complete":
        raise StopFit("diverged")
    return float(loss), float(reads)


#: Early stopping watches at most this many validation rows (evenly spaced): the validation
#: loss after every epoch then costs at most a few percent of an epoch, however large the
#: validation split (its full metrics are computed by evaluate, after the fit).
VAL_MAX_ROWS = 1_000_000

#: At most this many training rows (evenly spaced) inform the initialisation, so that a
#: fit of 10^8 sequences does not copy all its training codes and targets.
INIT_MAX_ROWS = 1_000_000


def init_rows(train: np.ndarray) -> np.ndarray:
    """The training rows the initialisation looks at: all of them up to INIT_MAX_ROWS,
    else every k-th."""
    if len(train) <= INIT_MAX_ROWS:
        return train
    out: np.ndarray = train[:: -(-len(train) // INIT_MAX_ROWS)]
    return out


#: Block kinds an l2 given as one number applies to.
L2_KINDS = ("energy", "pair", "bias", "measurement")


def l2_vector(layout: Any, l2: float | dict[str, float]) -> np.ndarray:
    """The per-parameter L2 strength [P] of a fit's ``l2`` setting."""
    out = np.zeros(layout.size)
    for b in layout:
        if isinstance(l2, dict):
            v = l2.get(b.name, l2.get(b.kind, 0.0))
        else:
            v = l2 if b.kind in L2_KINDS else 0.0
        out[b.offset : b.stop] = v
    return out


def _check_settings(epochs: int, batch_size: int, lr: float, l2: Any, patience: int, restarts: int) -> None:
    for name, v, lo in (("epochs", epochs, 1), ("batch_size", batch_size, 1), ("patience", patience, 1),
                        ("restarts", restarts, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise InputError(f"{name} must be an integer >= {lo}, got {v!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise InputError(f"learning_rate must be a positive number, got {lr!r}")
    vals = l2.values() if isinstance(l2, dict) else [l2]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0 for v in vals):
        raise InputError(f"l2 must be a number >= 0 or a dict of them by block kind or name, got {l2!r}")


def _fit_one(job: FitJob, restart: int, theta0: np.ndarray | None, resume_state: dict[str, Any] | None = None,
             done: list[FitResult] | None = None) -> FitResult:
    """One restart of a fit on the CPU: from ``theta0``, or (None) a start drawn from the
    restart's generator; continuing ``resume_state`` (a checkpoint) if given; ``done``: the
    restarts already finished (written into checkpoints)."""
    spec, data, targets, train, val, settings = job.spec, job.data, job.targets, job.train, job.val, job.settings
    rng = np.random.default_rng([settings["seed"], restart])
    model = Model(spec, theta0)
    if theta0 is None:  # a start drawn from this restart's generator, not Model's default seed
        init = init_rows(train)
        model.theta[:] = initial_theta(model.compiled, rng, targets=np.asarray(targets[init], dtype=np.float64),
                                       codes=np.asarray(data.codes[init]))
    lay = model.layout
    opt = Adam(lay.size, learning_rate=settings["learning_rate"], mask=lay.trainable_mask())
    amounts = job.row_amounts()  # reads (or measurements) per row, to normalise the loss
    reads_val = float(amounts[val].sum())
    weights = job.weights
    if weights is not None:  # a resample: rows of weight 0 are left out, the others count w times
        train = train[weights[train] > 0]
        amounts = amounts * weights
    stepper = CpuStepper(model, opt, data.codes, targets, amounts, train, val, l2_vector(lay, settings["l2"]),
                         settings["n_threads"], settings["dtype"], weights)
    return run_epochs(stepper, rng=rng, settings=settings, reads_val=reads_val, restart=restart, quiet=job.quiet,
                      checkpoint_every=job.checkpoint_every, checkpoint_dir=job.checkpoint_dir,
                      resume_state=resume_state, on_epoch=job.on_epoch, done=done, n_train=len(train))
