"""Per-split metrics of a fitted model, in the units the field reports."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.dataset import Dataset
from ..models.model import Model

__all__ = ["SPLITS", "evaluate"]

SPLITS = ("training", "validation", "test")
#: Splits larger than this get their information metrics (kNN estimates, one observation
#: per read) from an evenly spaced subsample of at least this many rows; the NLL of all
#: rows is reported too.
METRICS_MAX_ROWS = 1_000_000


def evaluate(model: Model, data: Dataset, *, splits: tuple[str, ...] = SPLITS, n_threads: int | None = None,
             seed: int = 0, uncertainty: bool = True) -> dict[str, dict[str, Any]]:
    """NLL, I_var and I_pred (bits) per split, and what the measurement process adds
    (R^2 and Pearson r for continuous data, the sign check of sort-seq data).

    I_pred is estimated exactly as MAVE-NN does (see :mod:`cisreg.training.metrics`): one
    observation per read, phi fuzzed by 0.01 sd, kNN entropies with k = 5, and an
    uncertainty from 25 random half-subsamples. A split of more than METRICS_MAX_ROWS
    rows is evaluated on an evenly spaced subsample of at least that many rows (with a
    random offset), and ``nll_all_rows_nats`` gives the NLL of all its rows.
    """
    targets = model.targets_of(data)
    out: dict[str, dict[str, Any]] = {}
    for split in splits:
        rows = data.indices(split)
        if len(rows) == 0:
            continue
        rng = np.random.default_rng([seed, SPLITS.index(split) if split in SPLITS else 9])
        m: dict[str, Any] = {"sequences": len(rows)}
        if len(rows) > METRICS_MAX_ROWS:  # a library of 10^7+: the information metrics on a subsample
            nll_all = model.loss(data.codes, targets, rows, n_threads=n_threads)
            step = len(rows) // METRICS_MAX_ROWS
            rows = np.ascontiguousarray(rows[int(rng.integers(step)) :: step])
            m["metrics_rows"] = len(rows)
            m["nll_all_rows_nats"] = float(nll_all)
            m["notes"] = [f"I_var, I_pred and R^2 were estimated on {len(rows)} evenly spaced rows of this split"]
        nll, per_row = model.loss(data.codes, targets, rows, n_threads=n_threads, per_row=True)
        phi = model.x_to_phi(data.codes[rows], n_threads=n_threads)
        mm = model.spec.measurement.metrics(model, phi, np.asarray(targets[rows], dtype=np.float64), nll, per_row,
                                            rng, uncertainty)
        mm["phi_sd"] = float(np.std(phi))  # 0: a sequence-blind model (see report.degenerate_reason)
        if "notes" in m and "notes" in mm:
            mm["notes"] = m["notes"] + mm["notes"]
        m.update(mm)
        out[split] = m
    return out
