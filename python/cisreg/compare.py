"""Mechanism comparison: fit candidate models to the same data and ask which one the
held-out data prefer, and how sure that is.

Every candidate is fitted with the same splits, seed and settings; the evidence is the
log-likelihood ratio on held-out sequences (the test split by default), per read and in
total, with a paired bootstrap interval over the held-out sequences. A held-out ratio
needs no penalty for extra parameters: a model with more freedom than the data support
does not predict new sequences better. Training AIC / BIC are reported alongside.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data.dataset import Dataset
from .errors import InputError
from .models.model import Model
from .training.result import FitResult

__all__ = ["Comparison", "compare"]


@dataclass
class Comparison:
    """What :func:`compare` returns.

    Attributes
    ----------
    table:
        One row per model, best first: parameters (those the fit trains: t_sat is
        fixed, so one fewer than ``n_params``), training / held-out NLL per read,
        I_var and I_pred (bits, with uncertainties), AIC, BIC, and the held-out
        log-likelihood ratio of the best model over this one with its interval.
    verdict:
        One line that states the preferred model and its evidence.
    fits:
        The FitResult of every model, by name.
    """

    table: Any
    verdict: str
    fits: dict[str, FitResult]
    split: str
    level: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        rows = self.table.replace({np.nan: None}).to_dict(orient="records")
        return {"split": self.split, "level": self.level, "verdict": self.verdict, "models": rows,
                "notes": list(self.notes)}


def _name_of(m: Any, i: int) -> str:
    from pathlib import Path

    from .models.presets import PRESETS

    if isinstance(m, str):
        return m if m in PRESETS and not Path(m).exists() else Path(m).stem
    if isinstance(m, Path):
        return m.stem
    return f"model_{i + 1}"


def paired_bootstrap(d: np.ndarray, reads: np.ndarray, *, n_boot: int, level: float,
                     rng: np.random.Generator) -> tuple[float, float]:
    """The ``level`` percentile interval of sum(d) / sum(reads) over resamples (with
    replacement) of the rows: the held-out NLL difference per read."""
    n = len(d)
    stats = np.empty(n_boot)
    p = np.full(n, 1.0 / n)
    for i in range(0, n_boot, 256):
        w = rng.multinomial(n, p, size=min(256, n_boot - i)).astype(np.float64)
        stats[i : i + len(w)] = (w @ d) / np.maximum(w @ reads, 1e-300)
    a = (1 - level) / 2
    lo, hi = np.quantile(stats, [a, 1 - a])
    return float(lo), float(hi)


def compare(data: Dataset, models: Sequence[Any], *, names: Sequence[str] | None = None, split: str = "test",
            level: float = 0.95, n_boot: int = 2000, seed: int = 0, n_threads: int | None = None,
            quiet: bool = True, uncertainty: bool = True, client: Any = None, **fit_kwargs: Any) -> Comparison:
    """Fit each candidate in ``models`` (model specs, built-in names, model-file paths or
    Models as starts) to ``data`` with the same settings (``fit_kwargs``: restarts,
    epochs, l2, ...; see :func:`cisreg.fit`) and compare them on the ``split`` rows.

    The verdict prefers the model with the lowest held-out NLL when its advantage over
    every other model is outside the ``level`` paired-bootstrap interval (``n_boot``
    resamples of the held-out sequences); otherwise it names the models the data cannot
    tell apart and prefers the one with the fewest parameters among them. With a
    dask.distributed ``client`` the candidates are fitted as its tasks, in parallel.
    """
    from .training.evaluate import evaluate
    from .training.loop import fit

    if len(models) < 2:
        raise InputError("compare needs at least two models")
    if not (0 < level < 1):
        raise InputError(f"level must lie strictly between 0 and 1, got {level!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 100:
        raise InputError(f"n_boot must be an integer >= 100, got {n_boot!r}")
    names = list(names) if names is not None else [_name_of(m, i) for i, m in enumerate(models)]
    if len(names) != len(models):
        raise InputError(f"{len(names)} names for {len(models)} models")
    seen: dict[str, int] = {}
    for i, n in enumerate(names):  # unique names: a, a_2, ...
        seen[n] = seen.get(n, 0) + 1
        if seen[n] > 1:
            names[i] = f"{n}_{seen[n]}"
    rows = data.indices(split)
    if len(rows) == 0:
        raise InputError(f"no {split} rows to compare the models on", source=data.source)
    fits: dict[str, FitResult] = {}
    per_row: dict[str, np.ndarray] = {}
    records = []
    reads_ref: np.ndarray | None = None
    train = data.indices("training")
    results: list[FitResult]
    if client is None:
        results = [fit(data, spec, seed=seed, n_threads=n_threads, quiet=quiet, **fit_kwargs) for spec in models]
    else:
        from .models.presets import resolve_spec
        from .training.loop import fit_task, result_from_dict

        if any(isinstance(m, Model) for m in models):
            raise InputError("with a client, give model specifications (not Models) to compare")
        specs = [resolve_spec(m) for m in models]
        data_f = client.scatter(data, hash=False)
        futs = [client.submit(fit_task, data_f, sp.to_dict(), {"seed": seed, **fit_kwargs}, pure=False)
                for sp in specs]
        results = [result_from_dict(sp, d) for sp, d in zip(specs, client.gather(futs))]
    for name, res in zip(names, results):
        model: Model = res.model
        targets = model.targets_of(data)
        amounts = model.spec.measurement.amounts(targets)
        if reads_ref is None:
            reads_ref, kind0 = amounts, model.spec.measurement.kind
        elif model.spec.measurement.kind != kind0 or not np.array_equal(amounts, reads_ref):
            raise InputError(f"model {name!r} measures the data differently ({model.spec.measurement.kind}) from "
                             f"{names[0]!r} ({kind0}): likelihoods are comparable only for the same measurements")
        _, nll_rows = model.loss(data.codes, targets, rows, n_threads=n_threads, per_row=True)
        nll_train = model.loss(data.codes, targets, train, n_threads=n_threads)
        per_row[name] = np.asarray(nll_rows, dtype=np.float64)
        k = int(model.layout.trainable_mask().sum())
        n_train = float(amounts[train].sum())
        ev = evaluate(model, data, splits=(split,), n_threads=n_threads, seed=seed, uncertainty=uncertainty)[split]
        rec: dict[str, Any] = {
            "model": name, "kind": model.spec.kind, "parameters": k,
            "train_nll_per_read": nll_train / max(n_train, 1e-300),
            f"{split}_nll_per_read": float(per_row[name].sum() / max(float(amounts[rows].sum()), 1e-300)),
            "AIC": 2 * k + 2 * nll_train, "BIC": k * math.log(max(n_train, 1.0)) + 2 * nll_train,
        }
        for key in ("I_var_bits", "I_pred_bits", "dI_pred_bits", "R2"):
            if key in ev:
                rec[key] = ev[key]
        records.append(rec)
        fits[name] = res
    import pandas as pd

    table = pd.DataFrame(records).sort_values(f"{split}_nll_per_read", kind="stable").reset_index(drop=True)
    best = str(table["model"].iloc[0])
    assert reads_ref is not None
    reads = reads_ref[rows]
    rng = np.random.default_rng([seed, 0xC0])
    llr, llr_read, lo_l, hi_l = [], [], [], []
    for name in table["model"]:
        d = per_row[name] - per_row[best]  # > 0: the best model explains this row better
        llr.append(float(d.sum()))
        llr_read.append(float(d.sum() / max(float(reads.sum()), 1e-300)))
        if name == best:
            lo_l.append(0.0)
            hi_l.append(0.0)
        else:
            lo, hi = paired_bootstrap(d, reads, n_boot=n_boot, level=level, rng=rng)
            lo_l.append(lo)
            hi_l.append(hi)
    table["llr_best_over_this_nats"] = llr
    table["llr_per_read"] = llr_read
    table["llr_per_read_lo"] = lo_l
    table["llr_per_read_hi"] = hi_l
    verdict = _verdict(table, best, split, level, len(rows), float(reads.sum()))
    return Comparison(table, verdict, fits, split, level)


def _verdict(table: Any, best: str, split: str, level: float, n_seq: int, n_reads: float) -> str:
    others = table.iloc[1:]
    tied = others[others["llr_per_read_lo"] <= 0.0]
    pct = f"{level:.0%}"
    where = f"on {n_seq:,} {split} sequences ({n_reads:,.0f} reads)"
    if tied.empty:
        r = others.iloc[0]
        return (f"{best} is preferred: its held-out log-likelihood exceeds the next model's ({r['model']}) by "
                f"{r['llr_best_over_this_nats']:.1f} nats ({r['llr_per_read']:+.2e} nats/read, {pct} interval "
                f"{r['llr_per_read_lo']:+.2e} to {r['llr_per_read_hi']:+.2e}) {where}")
    group = table[table["model"].isin([best, *tied["model"]])]
    simplest = str(group.sort_values("parameters", kind="stable")["model"].iloc[0])
    r = tied.iloc[0]
    return (f"the held-out data do not tell {', '.join(map(str, group['model']))} apart (best {best} over "
            f"{r['model']}: {r['llr_per_read']:+.2e} nats/read, {pct} interval {r['llr_per_read_lo']:+.2e} to "
            f"{r['llr_per_read_hi']:+.2e}, {where}); the simplest of them, {simplest} "
            f"({int(group.loc[group['model'] == simplest, 'parameters'].iloc[0])} parameters), suffices")
