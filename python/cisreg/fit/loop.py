"""The fitting loop: minibatch Adam with L2 regularisation, early stopping on the
validation likelihood, multi-start, divergence detection, checkpoints."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._threads import effective_n_threads
from ..data.table import Dataset
from ..errors import InputError
from ..models.compile import initial_theta
from ..models.model import Model
from ..models.spec import ModelSpec, SortSeq
from .adam import Adam

#: Defaults chosen by measurement on the lac sort-seq data (see bench/bench_fit.py).
DEFAULT_BATCH_SIZE = 500
DEFAULT_LEARNING_RATE = 0.01
DEFAULT_EPOCHS = 300
DEFAULT_PATIENCE = 20
DEFAULT_L2 = 1e-4


@dataclass(repr=False)
class FitResult:
    """What :func:`fit` returns: the best model and how it was found."""

    model: Model
    history: dict[str, list[float]]
    best_epoch: int
    epochs_run: int
    wall_s: float
    stop_reason: str
    restarts: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    diverged: bool = False

    @property
    def best_val_nll(self) -> float:
        """Validation NLL per read of the returned parameters (those of ``best_epoch``)."""
        h = self.history["val_nll"]
        return h[self.best_epoch - 1] if h and 1 <= self.best_epoch <= len(h) else math.nan

    def __repr__(self) -> str:
        status = "interrupted" if self.interrupted else ("diverged" if self.diverged else "complete")
        return (f"FitResult({status}, {self.epochs_run} epochs, best epoch {self.best_epoch}, validation NLL "
                f"{self.best_val_nll:.5g}, {len(self.restarts) or 1} restart(s), {self.wall_s:.1f} s; "
                f"model={self.model!r})")


class _Stop(Exception):
    pass


def _reads(targets: np.ndarray, rows: np.ndarray, sortseq: bool) -> float:
    return float(targets[rows].sum()) if sortseq else float(len(rows))


def fit(
    data: Dataset,
    model: Model | ModelSpec,
    *,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    l2: float = DEFAULT_L2,
    patience: int = DEFAULT_PATIENCE,
    restarts: int = 1,
    seed: int = 0,
    n_threads: int | None = None,
    quiet: bool = False,
    checkpoint_every: int = 0,
    checkpoint_dir: str | Path | None = None,
    resume: str | Path | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
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
        L2 penalty on energies and measurement parameters, per read.
    patience:
        Stop after this many epochs without a better validation likelihood; the
        best parameters are kept.
    restarts:
        Number of initialisations; the best by validation likelihood is returned,
        and ``FitResult.restarts`` lists each one's physical parameters.
    seed:
        Seeds every random choice (initialisation, minibatches). The same seed
        gives the same result bit for bit, for any number of threads.
    checkpoint_every, checkpoint_dir, resume:
        Write a resumable checkpoint every N epochs into ``checkpoint_dir``;
        continue a fit from a checkpoint directory with ``resume``.
    """
    if not isinstance(data, Dataset):
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            from ..data.table import from_dataframe

            data = from_dataframe(data)
        else:
            raise TypeError(f"data must be a cisreg Dataset (cisreg.read_table, cisreg.load_example) or a pandas "
                            f"DataFrame with MAVE-NN's columns, got {type(data).__name__}")
    if not isinstance(model, Model):
        from ..models.presets import resolve_spec

        model = resolve_spec(model)
    spec = model.spec if isinstance(model, Model) else model
    start_theta = model.theta.copy() if isinstance(model, Model) else None
    _check_settings(epochs, batch_size, learning_rate, l2, patience, restarts)
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
    nt = effective_n_threads(n_threads)
    settings = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "l2": l2,
                "patience": patience, "restarts": restarts, "seed": seed, "n_threads": nt}
    if checkpoint_every or resume is not None:
        settings["data_sha256"] = _fingerprint(data, targets)
    t0 = time.perf_counter()
    resume_state = _read_checkpoint(resume, spec, settings) if resume is not None else None
    runs: list[FitResult] = list(resume_state["finished"]) if resume_state else []
    first = resume_state["restart"] if resume_state else 0
    interrupted_outside = False
    for r in range(first, restarts):
        theta0 = start_theta if (r == 0 and start_theta is not None) else None
        try:
            res = _fit_one(spec, data, targets, train, val, theta0, r, settings, quiet, checkpoint_every,
                           checkpoint_dir, resume_state if r == first else None, on_epoch, runs)
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
    best.restarts = [_restart_summary(i, f) for i, f in enumerate(runs)]
    best.interrupted = interrupted_outside or any(f.interrupted for f in runs)
    if interrupted_outside:
        best.stop_reason += "; interrupted before the remaining restarts"
    return best


def _check_settings(epochs: int, batch_size: int, lr: float, l2: float, patience: int, restarts: int) -> None:
    for name, v, lo in (("epochs", epochs, 1), ("batch_size", batch_size, 1), ("patience", patience, 1),
                        ("restarts", restarts, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise InputError(f"{name} must be an integer >= {lo}, got {v!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise InputError(f"learning_rate must be a positive number, got {lr!r}")
    if not (isinstance(l2, (int, float)) and math.isfinite(l2) and l2 >= 0):
        raise InputError(f"l2 must be a number >= 0, got {l2!r}")


def _fit_one(spec, data, targets, train, val, theta0, restart, settings, quiet, checkpoint_every,
             checkpoint_dir, resume_state, on_epoch, done) -> FitResult:  # type: ignore[no-untyped-def]
    sortseq = isinstance(spec.measurement, SortSeq)
    rng = np.random.default_rng([settings["seed"], restart])
    model = Model(spec, theta0)
    if theta0 is None:  # a start drawn from this restart's generator, not Model's default seed
        model.theta[:] = initial_theta(model.compiled, rng, counts=data.counts[train] if sortseq else None,
                                       y=None if sortseq else data.y[train], codes=data.codes[train])
    lay = model.layout
    reg = lay.kind_mask("energy", "measurement")
    opt = Adam(lay.size, learning_rate=settings["learning_rate"], mask=lay.trainable_mask())
    nt = settings["n_threads"]
    reads_val = _reads(targets, val, sortseq)
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
    bs = min(settings["batch_size"], len(train))
    grad = np.empty(lay.size)
    stop_reason = resume_state["stop_reason"] if finished else "max_epochs"
    interrupted = diverged = False
    epoch = start_epoch
    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(total=settings["epochs"], initial=start_epoch, desc=f"fit (restart {restart + 1})",
                   unit="epoch", leave=False, disable=None)  # disable=None: no bar when stderr is not a terminal
    theta = model.theta
    try:
        while epoch < settings["epochs"] and not finished:
            perm = rng.permutation(train)
            tot, tot_reads = 0.0, 0.0
            for i in range(0, len(perm), bs):
                rows = np.sort(perm[i : i + bs])
                loss, _ = _loss_grad(model, data.codes, targets, rows, nt, grad)
                reads = _reads(targets, rows, sortseq)
                if reads == 0:
                    continue
                if not (math.isfinite(loss) and np.all(np.isfinite(grad))):
                    raise _Stop("diverged")
                grad /= reads
                grad[reg] += settings["l2"] * theta[reg]
                opt.step(theta, grad)
                if not np.all(np.isfinite(theta)):
                    raise _Stop("diverged")
                tot += loss
                tot_reads += reads
            epoch += 1
            val_nll = model.loss(data.codes, targets, val, n_threads=nt) / reads_val
            if not math.isfinite(val_nll):
                raise _Stop("diverged")
            history["train_nll"].append(tot / max(tot_reads, 1.0))
            history["val_nll"].append(val_nll)
            if val_nll < best_val - 1e-6 * abs(best_val if math.isfinite(best_val) else 1.0):
                best_val, best_epoch, bad = val_nll, epoch, 0
                best_theta[:] = theta
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
                _write_checkpoint(Path(checkpoint_dir), model, best_theta, opt, rng, history, best_val,
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
    theta[:] = best_theta
    return FitResult(model, history, best_epoch, epoch, 0.0, stop_reason, interrupted=interrupted,
                     diverged=diverged)


def _loss_grad(model: Model, codes: np.ndarray, targets: np.ndarray, rows: np.ndarray, nt: int,
               grad: np.ndarray) -> tuple[float, np.ndarray]:
    from .. import _core

    c = model.compiled
    if c.kinetic is not None and c.kinetic.use_linear:
        loss, g = c.kinetic.loss_and_grad(model.theta, codes, targets, rows, nt, True, False)
        grad[:] = g
        return loss, grad
    loss, _ = _core.loss_and_grad(c.network, c.measurement, codes, targets, model.theta, rows, nt, True, grad)
    return loss, grad


def _restart_summary(r: int, f: FitResult) -> dict[str, Any]:
    th = f.model.get_theta(units="kcal/mol")
    kt = f.model.get_theta()
    return {"restart": r, "best_val_nll": f.best_val_nll, "best_epoch": f.best_epoch, "epochs": f.epochs_run,
            "stop_reason": f.stop_reason, "interactions_kcal_mol": th["interactions"],
            "offsets_kcal_mol": th["offsets"], "interactions_kT": kt["interactions"], "log_rates": kt["log_rates"],
            "_energies": {k: v.to_numpy() for k, v in kt["energies"].items()}}


# ------------------------------------------------------------------ checkpoints

CHECKPOINT_FORMAT = "cisreg-checkpoint"


def _write_checkpoint(d: Path, model: Model, best_theta: np.ndarray, opt: Adam, rng: np.random.Generator,
                      history: dict[str, list[float]], best_val: float, best_epoch: int, bad: int, epoch: int,
                      restart: int, settings: dict[str, Any], stopped: bool, stop_reason: str,
                      done: list[FitResult]) -> None:
    """Checkpoint = checkpoint.npz (arrays) + checkpoint.json (state), each written
    atomically; both carry the same generation (restart, epoch), checked on resume."""
    from ..models.io import atomic_write_bytes, npz_bytes, save_model

    d.mkdir(parents=True, exist_ok=True)
    save_model(model, d / "model", metadata={"checkpoint": True}, theta=best_theta)
    P = model.layout.size
    finished_theta = np.stack([f.model.theta for f in done]) if done else np.zeros((0, P))
    arrays = {"theta": model.theta, "best_theta": best_theta, **opt.state(),
              "generation": np.array([float(restart), float(epoch)]), "finished_theta": finished_theta}
    atomic_write_bytes(d / "checkpoint.npz", npz_bytes(arrays))
    meta = {"format": CHECKPOINT_FORMAT, "epoch": epoch, "restart": restart, "best_val": best_val,
            "best_epoch": best_epoch, "bad": bad, "history": history, "settings": settings,
            "rng": rng.bit_generator.state, "spec": model.spec.to_dict(), "stopped": stopped,
            "stop_reason": stop_reason,
            "finished": [{"history": f.history, "best_epoch": f.best_epoch, "epochs_run": f.epochs_run,
                          "stop_reason": f.stop_reason, "diverged": f.diverged} for f in done]}
    atomic_write_bytes(d / "checkpoint.json", json.dumps(meta).encode())


def _fingerprint(data: Dataset, targets: np.ndarray) -> str:
    """SHA-256 of the sequences, measurements and split: what a checkpoint was fitted to."""
    import hashlib

    h = hashlib.sha256()
    for a in (data.codes, targets, data.split):
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


#: Settings that must not change when a fit is resumed (epochs and patience may).
RESUME_FIXED = ("data_sha256", "seed", "batch_size", "learning_rate", "l2", "restarts")


def _read_checkpoint(d: str | Path, spec: ModelSpec, settings: dict[str, Any]) -> dict[str, Any]:
    from ..models.io import read_json_checked, read_npz_checked

    d = Path(d)
    src = str(d)
    if not (d / "checkpoint.json").exists():
        raise InputError("no checkpoint.json here; pass the checkpoint directory (DIR/checkpoint of a fit run "
                         "with --checkpoint-every)", source=src)
    try:
        meta = read_json_checked(d / "checkpoint.json")
    except InputError as e:
        raise InputError(f"unreadable checkpoint: {e}", source=src) from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise InputError("not a cisreg checkpoint (checkpoint.json lacks \"format\": \"cisreg-checkpoint\")",
                         source=src)
    if meta.get("spec") != spec.to_dict():
        raise InputError("the checkpoint was written for a different model specification", source=src)
    old = meta.get("settings") if isinstance(meta.get("settings"), dict) else {}
    changed = [k for k in RESUME_FIXED if old.get(k) != settings.get(k)]
    if changed:
        what = ", ".join("the data" if k == "data_sha256" else f"{k} ({old.get(k)!r} -> {settings.get(k)!r})"
                         for k in changed)
        raise InputError(f"cannot resume: {what} differ from the checkpointed fit; resume with the same data and "
                         "settings (only epochs and patience may change), or start a new fit", source=src)
    restarts = int(settings["restarts"])
    P = Model(spec).layout.size
    fin = meta.get("finished")
    n_fin = len(fin) if isinstance(fin, list) else -1
    if not 0 <= n_fin <= int(settings["restarts"]):
        raise InputError("damaged checkpoint (its list of finished restarts is unusable); start the fit again",
                         source=src)
    arrays = read_npz_checked(d / "checkpoint.npz", {"theta": (P,), "best_theta": (P,), "adam_m": (P,),
                                                     "adam_v": (P,), "adam_t": (), "generation": (2,),
                                                     "finished_theta": (n_fin, P)})
    try:
        hist = meta["history"]
        if not isinstance(hist, dict) or set(hist) != {"train_nll", "val_nll"}:
            raise ValueError("history must hold train_nll and val_nll")
        history = {k: [float(x) for x in v] for k, v in hist.items()}
        out = {"best_val": float(meta["best_val"]), "best_epoch": int(meta["best_epoch"]), "bad": int(meta["bad"]),
               "epoch": int(meta["epoch"]), "restart": int(meta["restart"])}
        rng = np.random.default_rng()
        rng.bit_generator.state = meta["rng"]  # validates the generator state
        if not 0 <= out["restart"] < restarts:
            raise ValueError(f"restart {out['restart']} is outside the {restarts} restart(s) asked for")
        if not (0 <= out["best_epoch"] <= out["epoch"] and out["bad"] >= 0 and len(history["val_nll"]) == out["epoch"]
                and int(arrays["adam_t"]) >= 0):
            raise ValueError("epoch counters are inconsistent")
        if list(arrays["generation"]) != [float(out["restart"]), float(out["epoch"])]:
            raise ValueError("checkpoint.npz and checkpoint.json come from different epochs (a write was cut "
                             "short)")
        if n_fin != out["restart"]:
            raise ValueError("the number of finished restarts does not match the current restart")
        out["stopped"] = bool(meta.get("stopped", False))
        out["stop_reason"] = str(meta.get("stop_reason", "max_epochs"))
        finished = []
        for i, f in enumerate(fin):
            m = Model(spec, arrays["finished_theta"][i])
            h = {k: [float(x) for x in f["history"][k]] for k in ("train_nll", "val_nll")}
            finished.append(FitResult(m, h, int(f["best_epoch"]), int(f["epochs_run"]), 0.0, str(f["stop_reason"]),
                                      diverged=bool(f["diverged"])))
        out["finished"] = finished
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise InputError(f"damaged checkpoint ({type(e).__name__}: {str(e)[:200]}); start the fit again without "
                         "--resume", source=src) from None
    return {**arrays, **out, "rng": meta["rng"], "history": history}
