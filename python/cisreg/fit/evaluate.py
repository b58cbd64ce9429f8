"""Per-split metrics of a fitted model, in the units the field reports."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.dataset import Dataset
from ..models.model import Model

__all__ = ["SPLITS", "evaluate"]

SPLITS = ("training", "validation", "test")


def evaluate(model: Model, data: Dataset, *, splits: tuple[str, ...] = SPLITS, n_threads: int | None = None,
             seed: int = 0, uncertainty: bool = True) -> dict[str, dict[str, Any]]:
    """NLL, I_var and I_pred (bits) per split, and what the measurement process adds
    (R^2 and Pearson r for continuous data, the sign check of sort-seq data).

    I_pred is estimated exactly as MAVE-NN does (see :mod:`cisreg.fit.metrics`): one
    observation per read, phi fuzzed by 0.01 sd, kNN entropies with k = 5, and an
    uncertainty from 25 random half-subsamples.
    """
    targets = model.targets_of(data)
    out: dict[str, dict[str, Any]] = {}
    for split in splits:
        rows = data.indices(split)
        if len(rows) == 0:
            continue
        rng = np.random.default_rng([seed, SPLITS.index(split) if split in SPLITS else 9])
        nll, per_row = model.loss(data.codes, targets, rows, n_threads=n_threads, per_row=True)
        phi = model.x_to_phi(data.codes[rows], n_threads=n_threads)
        m: dict[str, Any] = {"sequences": len(rows)}
        m.update(model.spec.measurement.metrics(model, phi, targets[rows], nll, per_row, rng, uncertainty))
        out[split] = m
    return out
