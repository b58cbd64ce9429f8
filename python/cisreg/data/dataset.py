"""The :class:`Dataset`: a validated, encoded MPRA / sort-seq data set.

The table schema is MAVE-NN's: a sequence column ``x``; measurements either as count
columns ``ct_0 .. ct_{Y-1}`` (sort-seq bins) or as one continuous column ``y`` (with an
optional per-row error ``dy``); and an optional ``set`` column assigning each row to the
training, validation or test set. Every other column (MPRA input/output counts such as
``dna_1``, ``rna_1``, barcodes, annotations) is kept in ``Dataset.extra`` and read with
:meth:`Dataset.columns`; a table with neither count columns nor ``y`` is a Dataset of kind
``"table"``. Readers (:mod:`cisreg.data.readers`) and validation (:mod:`cisreg.data.validate`) build
Datasets; nothing else does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cisreg.errors import InputError

__all__ = ["SET_VALUES", "SPLIT_NAMES", "Dataset", "sequence_column"]

SPLIT_NAMES: tuple[str, ...] = ("training", "validation", "test")

_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))

#: Accepted spellings (lower case) of the values of the ``set`` column.
SET_VALUES: dict[str, int] = {
    "training": 0,
    "train": 0,
    "validation": 1,
    "valid": 1,
    "val": 1,
    "test": 2,
}

@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated, encoded MPRA / sort-seq data set.

    Attributes
    ----------
    x : numpy.ndarray
        Upper-case sequences, str array [N], one per unique sequence, in file
        order of first occurrence.
    codes : numpy.ndarray
        uint8 array [N, L], C-contiguous; the code of a letter is its index in
        ``alphabet``.
    alphabet : str
        The letters in code order, ``"ACGT"`` or ``"ACGU"``.
    counts : numpy.ndarray or None
        Sort-seq read counts, float64 [N, Y] (float32 in a memory-mapped store,
        exact for counts below 2^24), C-contiguous, integer-valued,
        non-negative, no row all zero; ``None`` for other data.
    y : numpy.ndarray or None
        Continuous measurements, float64 [N] (or float32), finite; ``None``
        for other data.
    split : numpy.ndarray
        int8 [N]: 0 = training, 1 = validation, 2 = test.
    source : str
        Where the data came from (a file path or ``"<DataFrame>"``).
    notes : tuple of str
        Human-readable notes on what the loader changed (duplicates
        aggregated, lower case upper-cased, random split assigned, ...).
    extra : dict of str to numpy.ndarray
        Every other column of the table, aligned with the rows: numeric
        columns as float64 [N] (float32 or float64 in a store; empty cells
        NaN), others as object arrays of str [N]. Read numeric ones with
        :meth:`columns`.
    dy : numpy.ndarray or None
        Per-row measurement error of ``y`` (a ``dy`` column), float64 [N],
        finite and > 0; ``None`` when the table has none.
    """

    x: np.ndarray
    codes: np.ndarray
    alphabet: str
    counts: np.ndarray | None
    y: np.ndarray | None
    split: np.ndarray
    source: str
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    dy: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.codes.shape[0] if getattr(self.codes, "ndim", 0) == 2 else -1
        problems = []
        if self.codes.dtype != np.uint8 or self.codes.ndim != 2:
            problems.append("codes must be a uint8 array [N, L]")
        elif not self.codes.flags.c_contiguous:
            problems.append("codes must be C-contiguous")
        if self.counts is not None and self.y is not None:
            problems.append("at most one of counts and y may be given")
        if self.counts is not None and (
            self.counts.dtype not in _FLOATS
            or self.counts.ndim != 2
            or self.counts.shape[0] != n
            or not self.counts.flags.c_contiguous
        ):
            problems.append("counts must be a C-contiguous float64 array [N, Y]")
        for name in ("y", "dy"):
            v = getattr(self, name)
            if v is not None and (
                getattr(v, "dtype", None) not in _FLOATS or v.shape != (n,)
            ):
                problems.append(f"{name} must be a float64 array [N]")
        if self.dy is not None and self.y is None:
            problems.append("dy needs y")
        extra: Any = self.extra  # annotated a dict; checked as given
        if not isinstance(extra, dict):
            problems.append("extra must be a dict of column name -> array [N]")
        else:
            for name, v in self.extra.items():
                if not isinstance(name, str) or np.shape(v) != (n,):
                    problems.append(
                        f"extra column {name!r} must be an array [N]"
                    )
        if self.split.dtype != np.int8 or self.split.shape != (n,):
            problems.append("split must be an int8 array [N]")
        if np.shape(self.x) != (n,):
            problems.append("x must be an array [N]")
        if problems:
            raise InputError(
                "inconsistent Dataset: " + "; ".join(problems)
                + "; build Datasets with read_table or from_dataframe",
                source=self.source,
            )

    @property
    def kind(self) -> str:
        """``"sortseq"`` for count data, ``"continuous"`` for ``y`` data,
        ``"table"`` for neither (e.g. MPRA input/output count columns, read
        with :meth:`columns`)."""
        if self.counts is not None:
            return "sortseq"
        return "continuous" if self.y is not None else "table"

    @property
    def column_names(self) -> list[str]:
        """Names :meth:`columns` accepts: ``y`` and ``dy`` when present, then
        the numeric extra columns, in table order."""
        names = [c for c in ("y", "dy") if getattr(self, c) is not None]
        return names + [
            k for k, v in self.extra.items() if _is_numeric(v)
        ]

    def columns(self, names: Any) -> np.ndarray:
        """Return numeric columns as one float64 array.

        Parameters
        ----------
        names : str or sequence of str
            Column names: numeric extra columns of the table (e.g. MPRA
            ``dna_1``, ``rna_1``), or ``"y"`` / ``"dy"``.

        Returns
        -------
        numpy.ndarray
            float64 [N, len(names)], C-contiguous, a new array.

        Raises
        ------
        InputError
            Naming the missing or non-numeric column(s) and listing the
            available ones.
        """
        if isinstance(names, str):
            names = [names]
        names = list(names)
        missing = [c for c in names if self._column(c) is None]
        if missing:
            textual = [c for c in missing if c in self.extra]
            what = (
                f"column(s) {', '.join(map(repr, textual))} are not numeric"
                if textual and len(textual) == len(missing)
                else f"no column {', '.join(map(repr, missing))} in the data"
            )
            raise InputError(
                f"{what}; numeric columns available: {self.column_names}"
                + (f" (text columns: {sorted(k for k in self.extra if k not in self.column_names)})"
                   if any(not _is_numeric(v) for v in self.extra.values()) else "")
                + ". Rename the column in the table or in the model file",
                source=self.source,
            )
        out = np.empty((self.n, len(names)), dtype=np.float64)
        for j, c in enumerate(names):
            out[:, j] = self._column(c)
        return out

    def _column(self, name: str) -> np.ndarray | None:
        if name in ("y", "dy") and getattr(self, name) is not None:
            return getattr(self, name)  # type: ignore[no-any-return]
        v = self.extra.get(name)
        return v if v is not None and _is_numeric(v) else None

    @property
    def n(self) -> int:
        """Number of (unique) sequences."""
        return int(self.codes.shape[0])

    @property
    def length(self) -> int:
        """Sequence length L."""
        return int(self.codes.shape[1])

    @property
    def n_bins(self) -> int | None:
        """Number of sort-seq bins Y, or ``None`` for continuous data."""
        return None if self.counts is None else int(self.counts.shape[1])

    def indices(self, split: str) -> np.ndarray:
        """Return the sorted row indices of one split.

        Parameters
        ----------
        split : str
            ``"training"`` (or ``"train"``), ``"validation"`` (or ``"val"``,
            ``"valid"``) or ``"test"``; case-insensitive.

        Returns
        -------
        numpy.ndarray
            int64 array, sorted, C-contiguous.
        """
        key = split.strip().lower() if isinstance(split, str) else None
        if key not in SET_VALUES:
            raise InputError(
                f"unknown split {split!r}; use 'training', 'validation' or "
                "'test'",
                source="argument split",
            )
        rows = np.flatnonzero(self.split == SET_VALUES[key])
        return np.ascontiguousarray(rows, dtype=np.int64)

    def subset(self, rows: Any) -> Dataset:
        """Return a new Dataset holding only some rows.

        Parameters
        ----------
        rows : array_like of int or bool
            Row indices (in the order wanted) or a boolean mask of length N.

        Returns
        -------
        Dataset
            A copy with the selected rows; ``source`` and ``notes`` are kept.
        """
        idx = np.asarray(rows)
        if idx.dtype == bool:
            if idx.shape != (self.n,):
                raise InputError(
                    f"a boolean mask must have shape ({self.n},), got "
                    f"{idx.shape}",
                    source="argument rows",
                )
            idx = np.flatnonzero(idx)
        elif idx.size == 0:
            idx = np.zeros(0, dtype=np.int64)
        elif idx.dtype.kind not in "ui" or idx.ndim != 1:
            raise InputError(
                "rows must be a 1-D array of integer indices or a boolean "
                f"mask, got dtype {idx.dtype} and shape {idx.shape}",
                source="argument rows",
            )
        else:
            out = np.flatnonzero((idx < -self.n) | (idx >= self.n))
            if out.size:
                raise InputError(
                    f"row index {int(idx[out[0]])} is out of range for a "
                    f"Dataset of {self.n} rows",
                    source="argument rows",
                )
        return Dataset(
            x=self.x[idx],
            codes=np.ascontiguousarray(self.codes[idx]),
            alphabet=self.alphabet,
            counts=None
            if self.counts is None
            else np.ascontiguousarray(self.counts[idx]),
            y=None if self.y is None else np.ascontiguousarray(self.y[idx]),
            split=np.ascontiguousarray(self.split[idx]),
            source=self.source,
            notes=self.notes,
            extra={k: v[idx] for k, v in self.extra.items()},
            dy=None if self.dy is None else np.ascontiguousarray(self.dy[idx]),
        )

    def __repr__(self) -> str:
        what = (
            f"n_bins={self.n_bins}" if self.counts is not None
            else "y" if self.y is not None else "no y"
        )
        if self.extra:
            what += f", columns={list(self.extra)}"
        sizes = np.bincount(self.split, minlength=3)
        return (
            f"Dataset({self.kind}, n={self.n}, length={self.length}, {what}, "
            f"training/validation/test={sizes[0]}/{sizes[1]}/{sizes[2]}, "
            f"source={self.source!r})"
        )


def _is_numeric(v: Any) -> bool:
    return getattr(v, "dtype", np.dtype(object)).kind in "fiub"


def sequence_column(x_col: str, columns: Any, source: str | None) -> str:
    """The column of a table that holds the sequences: ``x_col``; or, when ``x_col`` is the
    default ``"x"`` and the table has no such column, a column ``"sequence"`` (the column
    that ``cisreg design`` writes), so that one command's output feeds the next."""
    names = [str(c) for c in columns]
    if x_col in names:
        return x_col
    if x_col == "x" and "sequence" in names:
        return "sequence"
    from ..errors import InputError

    raise InputError(f"no sequence column {x_col!r}; columns found: {names}. Rename the sequence column to "
                     f"{x_col!r} or name it (x_col= in Python, --x-col on the command line)", source=source)
