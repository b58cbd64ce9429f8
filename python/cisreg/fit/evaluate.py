"""Per-split metrics of a fitted model, in the units the field reports."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..data.table import Dataset
from ..models.model import Model
from ..models.spec import SortSeq
from . import metrics

SPLITS = ("training", "validation", "test")


def evaluate(model: Model, data: Dataset, *, splits: tuple[str, ...] = SPLITS, n_threads: int | None = None,
             seed: int = 0, uncertainty: bool = True) -> dict[str, dict[str, Any]]:
    """NLL, I_var and I_pred (bits) per split; R^2 and Pearson r for continuous data.

    I_pred is estimated exactly as MAVE-NN does (see :mod:`cisreg.fit.metrics`):
    one observation per read, phi fuzzed by 0.01 sd, kNN entropies with k = 5, and
    an uncertainty from 25 random half-subsamples.
    """
    targets = model.targets_of(data)
    sortseq = isinstance(model.spec.measurement, SortSeq)
    out: dict[str, dict[str, Any]] = {}
    for split in splits:
        rows = data.indices(split)
        if len(rows) == 0:
            continue
        rng = np.random.default_rng([seed, SPLITS.index(split) if split in SPLITS else 9])
        nll, per_row = model.loss(data.codes, targets, rows, n_threads=n_threads, per_row=True)
        phi = model.x_to_phi(data.codes[rows], n_threads=n_threads)
        m: dict[str, Any] = {"sequences": int(len(rows))}
        if sortseq:
            counts = targets[rows]
            reads = float(counts.sum())
            m["reads"] = int(reads)
            m["nll_per_read_nats"] = nll / reads
            _safe(m, ("H_y_bits",), metrics.entropy_discrete, counts.sum(axis=0))
            _safe(m, ("I_var_bits",), metrics.i_var_sortseq, nll, counts)
            if reads >= 20:
                _safe(m, ("I_pred_bits", "dI_pred_bits"), metrics.i_pred_sortseq, phi, counts, rng=rng,
                      uncertainty=uncertainty)
            # does the mean bin increase with phi? (sign of the energies; see the design notes)
            ybar = (counts @ np.arange(counts.shape[1])) / np.maximum(counts.sum(axis=1), 1)
            m["phi_vs_mean_bin_r"] = _pearson(phi, ybar)
        else:
            y = targets[rows, 0]
            yhat = model.phi_to_yhat(phi)
            m["nll_per_datum_nats"] = nll / len(rows)
            _safe(m, ("R2", "pearson_r"), metrics.r2_pearson, yhat, y)
            if len(rows) >= 20:
                _safe(m, ("I_pred_bits", "dI_pred_bits"), metrics.i_pred_continuous, phi, y, rng=rng,
                      uncertainty=uncertainty)
                _safe(m, ("I_var_bits", "dI_var_bits"), metrics.i_var_continuous, y, per_row, rng=rng,
                      uncertainty=uncertainty)
                if len(np.unique(y)) < 0.1 * len(y):
                    m.setdefault("notes", []).append("y takes few distinct values: the kNN entropy behind I_var "
                                                     "and I_pred assumes a continuous y and is unreliable here")
        out[split] = m
    return out


def _safe(m: dict[str, Any], keys: tuple[str, ...], fn: Any, *args: Any, **kw: Any) -> None:
    """Store fn(...) under keys; a metric that cannot be computed becomes NaN with a note."""
    try:
        v = fn(*args, **kw)
    except (ValueError, FloatingPointError, ZeroDivisionError) as e:
        for k in keys:
            m[k] = math.nan
        m.setdefault("notes", []).append(f"{keys[0]}: not computed ({e})")
        return
    vals = v if isinstance(v, tuple) else (v,)
    for k, x in zip(keys, vals):
        m[k] = x


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])
