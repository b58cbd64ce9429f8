"""Resumable checkpoints of a fit: checkpoint.npz (arrays) + checkpoint.json (state), each
written atomically and carrying the same generation (restart, epoch), checked on resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..data.dataset import Dataset
from ..errors import InputError
from ..models.model import Model
from ..models.spec import ModelSpec
from .adam import Adam
from .result import FitResult

__all__ = ["CHECKPOINT_FORMAT", "RESUME_FIXED", "fingerprint", "read_checkpoint", "write_checkpoint"]

CHECKPOINT_FORMAT = "cisreg-checkpoint"


def write_checkpoint(d: Path, model: Model, best_theta: np.ndarray, opt: Adam, rng: np.random.Generator,
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


def fingerprint(data: Dataset, targets: np.ndarray) -> str:
    """SHA-256 of the sequences, measurements and split: what a checkpoint was fitted to."""
    import hashlib

    h = hashlib.sha256()
    for a in (data.codes, targets, data.split):
        h.update(str(a.shape).encode())
        step = max(1, (1 << 26) // max(1, a[:1].nbytes))  # in pieces: no copy of a memory-mapped store
        for i in range(0, max(len(a), 1), step):
            h.update(np.ascontiguousarray(a[i : i + step]).reshape(-1).view(np.uint8).data)
    return h.hexdigest()


#: Settings that must not change when a fit is resumed (epochs and patience may). A
#: checkpoint without "dtype" was written when float64 was the only precision.
RESUME_FIXED = ("data_sha256", "seed", "batch_size", "learning_rate", "l2", "restarts", "dtype")
_RESUME_DEFAULTS = {"dtype": "float64"}


def read_checkpoint(d: str | Path, spec: ModelSpec, settings: dict[str, Any]) -> dict[str, Any]:
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
    old: dict[str, Any] = meta["settings"] if isinstance(meta.get("settings"), dict) else {}
    changed = [k for k in RESUME_FIXED if old.get(k, _RESUME_DEFAULTS.get(k)) != settings.get(k)]
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
        out: dict[str, Any] = {"best_val": float(meta["best_val"]), "best_epoch": int(meta["best_epoch"]),
                               "bad": int(meta["bad"]),
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
        assert isinstance(fin, list)  # n_fin checked above
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
