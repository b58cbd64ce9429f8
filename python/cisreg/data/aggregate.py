"""How the rows of one sequence become one row: the rules every reader and store share.

:func:`cisreg.from_dataframe` (and so every table reader and :func:`cisreg.read_barcodes`)
and the stores (:func:`cisreg.data.store.save_store`, ``cisreg convert``) aggregate
duplicate sequences with these functions, so that a table and a store of the same rows
hold the same values, bit for bit:

* count columns (``ct_*``): summed;
* ``y``: the mean; ``dy``: sqrt(sum of dy^2) / n, the error of that mean;
* other numeric columns: summed when every finite value is a whole number (read counts,
  e.g. MPRA ``dna_1`` / ``rna_1``), else the mean of the values that are not NaN;
* text columns: the value of the first occurrence.

Groups are summed in row order (``np.bincount``); the aggregated row keeps the split of
the sequence's first occurrence (decided by the callers).
"""

from __future__ import annotations

import numpy as np

__all__ = ["aggregate", "describe", "extra_rule", "group_sums", "is_whole"]

#: The rules: "sum", "mean", "error_of_mean" (for dy), "nanmean", "first".
RULES = ("sum", "mean", "error_of_mean", "nanmean", "first")


def is_whole(v: np.ndarray) -> bool:
    """Whether every finite value of ``v`` is a whole number."""
    v = np.asarray(v)
    if v.dtype.kind in "iub":
        return True
    fin = v[np.isfinite(v)]
    return bool(np.array_equal(fin, np.floor(fin)))


def extra_rule(v: np.ndarray, whole: bool | None = None) -> str:
    """The rule of an extra column: "sum" (whole numbers), "nanmean" (other numbers) or
    "first" (text). ``whole``: already known (a store decides it while streaming)."""
    if np.asarray(v).dtype.kind not in "fiub":
        return "first"
    return "sum" if (is_whole(v) if whole is None else whole) else "nanmean"


def group_sums(v: np.ndarray, group_of: np.ndarray, n: int) -> np.ndarray:
    """Sums of ``v`` [N] or [N, k] over the groups ``group_of`` [N] (values in [0, n)), in row
    order: [n] or [n, k], float64."""
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 1:
        return np.bincount(group_of, weights=a, minlength=n)
    out = np.empty((n, a.shape[1]))
    for j in range(a.shape[1]):  # a loop over columns, not rows
        out[:, j] = np.bincount(group_of, weights=a[:, j], minlength=n)
    return out


def aggregate(rule: str, v: np.ndarray, group_of: np.ndarray, n: int, *, first: np.ndarray | None = None
              ) -> np.ndarray:
    """One column's values [N] (or [N, k] for counts) aggregated over the groups by ``rule``.
    ``first`` [n]: the row of each group's first occurrence (rule "first")."""
    if rule == "first":
        if first is None:
            raise ValueError("rule 'first' needs the first row of each group")
        picked: np.ndarray = np.asarray(v)[first]
        return picked
    if rule == "sum":
        return group_sums(v, group_of, n)
    sizes = np.bincount(group_of, minlength=n).astype(np.float64)
    if rule == "mean":
        return group_sums(v, group_of, n) / (sizes if np.ndim(v) == 1 else sizes[:, None])
    if rule == "error_of_mean":
        a = np.asarray(v, dtype=np.float64)
        out: np.ndarray = np.sqrt(group_sums(a * a, group_of, n)) / sizes
        return out
    if rule == "nanmean":
        a = np.asarray(v, dtype=np.float64)
        nan = np.isnan(a)
        total = group_sums(np.where(nan, 0.0, a), group_of, n)
        k = group_sums((~nan).astype(np.float64), group_of, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean: np.ndarray = total / k
        return mean
    raise ValueError(f"unknown aggregation rule {rule!r}; one of {RULES}")


def describe(rules: dict[str, str]) -> str:
    """How the extra columns were aggregated, for the loader's note ("summed dna_1; ...")."""
    words = {"sum": "summed", "nanmean": "averaged", "first": "kept the first"}
    parts = []
    for rule in ("sum", "nanmean", "first"):
        cols = [c for c, r in rules.items() if r == rule]
        if cols:
            parts.append(f"{words[rule]} {', '.join(cols)}; ")
    return "".join(parts)
