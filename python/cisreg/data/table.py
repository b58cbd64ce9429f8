"""Reading MPRA / sort-seq tables into a validated :class:`Dataset`.

The table schema is MAVE-NN's: a sequence column ``x``; measurements either as
count columns ``ct_0 .. ct_{Y-1}`` (sort-seq bins) or as one continuous column
``y``; and an optional ``set`` column assigning each row to the training,
validation or test set.

Every check runs before any data leaves the loader, and every problem is
reported as an :class:`~cisreg.errors.InputError` naming the file, the 0-based
data row and the column, and saying what to do.
"""

from __future__ import annotations

import gzip
import importlib.resources
import math
import os
import re
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cisreg.data.alphabet import resolve_alphabet
from cisreg.data.encode import _encode, decode, encode
from cisreg.errors import DataWarning, InputError

__all__ = [
    "Dataset",
    "read_table",
    "from_dataframe",
    "load_example",
    "example_path",
    "EXAMPLES",
    "SPLIT_NAMES",
]

#: Names of the split codes: ``split == 0`` is training, and so on.
SPLIT_NAMES: tuple[str, ...] = ("training", "validation", "test")

#: Accepted spellings (lower case) of the values of the ``set`` column.
_SET_VALUES: dict[str, int] = {
    "training": 0,
    "train": 0,
    "validation": 1,
    "valid": 1,
    "val": 1,
    "test": 2,
}

#: Bundled example data sets: name -> file in ``cisreg/data/bundled``.
EXAMPLES: dict[str, str] = {"lac-sortseq": "lac_sortseq.csv.gz"}


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
        Sort-seq read counts, float64 [N, Y], C-contiguous, integer-valued,
        non-negative, no row all zero; ``None`` for continuous data.
    y : numpy.ndarray or None
        Continuous measurements, float64 [N], finite; ``None`` for sort-seq
        data.
    split : numpy.ndarray
        int8 [N]: 0 = training, 1 = validation, 2 = test.
    source : str
        Where the data came from (a file path or ``"<DataFrame>"``).
    notes : tuple of str
        Human-readable notes on what the loader changed (duplicates
        aggregated, lower case upper-cased, random split assigned, ...).
    """

    x: np.ndarray
    codes: np.ndarray
    alphabet: str
    counts: np.ndarray | None
    y: np.ndarray | None
    split: np.ndarray
    source: str
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = self.codes.shape[0] if getattr(self.codes, "ndim", 0) == 2 else -1
        problems = []
        if self.codes.dtype != np.uint8 or self.codes.ndim != 2:
            problems.append("codes must be a uint8 array [N, L]")
        elif not self.codes.flags.c_contiguous:
            problems.append("codes must be C-contiguous")
        if (self.counts is None) == (self.y is None):
            problems.append("exactly one of counts and y must be given")
        if self.counts is not None and (
            self.counts.dtype != np.float64
            or self.counts.ndim != 2
            or self.counts.shape[0] != n
            or not self.counts.flags.c_contiguous
        ):
            problems.append("counts must be a C-contiguous float64 array [N, Y]")
        if self.y is not None and (
            self.y.dtype != np.float64 or self.y.shape != (n,)
        ):
            problems.append("y must be a float64 array [N]")
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
        """``"sortseq"`` for count data, ``"continuous"`` for ``y`` data."""
        return "sortseq" if self.counts is not None else "continuous"

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
        if key not in _SET_VALUES:
            raise InputError(
                f"unknown split {split!r}; use 'training', 'validation' or "
                "'test'",
                source="argument split",
            )
        rows = np.flatnonzero(self.split == _SET_VALUES[key])
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
        )

    def __repr__(self) -> str:
        what = (
            f"n_bins={self.n_bins}" if self.counts is not None else "y"
        )
        sizes = np.bincount(self.split, minlength=3)
        return (
            f"Dataset({self.kind}, n={self.n}, length={self.length}, {what}, "
            f"training/validation/test={sizes[0]}/{sizes[1]}/{sizes[2]}, "
            f"source={self.source!r})"
        )


# --------------------------------------------------------------------------
# reading files


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _choose_delimiter(path: Path, gz: bool) -> tuple[str, str]:
    """Pick the delimiter from the extension, else from the header line.

    Returns the delimiter and how it was chosen (for error messages).
    """
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(".csv"):
        return ",", "from its .csv extension"
    if name.endswith(".tsv"):
        return "\t", "from its .tsv extension"
    opener = gzip.open if gz else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as fh:
            header = fh.readline()
    except (OSError, EOFError):
        header = ""
    if header.count("\t") > header.count(","):
        return "\t", "from its header line"
    return ",", "from its header line"


_TOKENIZE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def read_table(
    path: str | os.PathLike[str],
    *,
    x_col: str = "x",
    y_col: str = "y",
    count_prefix: str = "ct_",
    set_col: str = "set",
    alphabet: str = "dna",
    seed: int = 0,
    split: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> Dataset:
    """Read a CSV or TSV table (optionally gzipped) into a :class:`Dataset`.

    Parameters
    ----------
    path : str or path-like
        The file. ``.csv`` is read comma-separated and ``.tsv``
        tab-separated (each optionally followed by ``.gz``); for any other
        name the delimiter is sniffed from the header line. Gzip compression
        is detected from the file's content.
    x_col : str, default "x"
        Name of the sequence column.
    y_col : str, default "y"
        Name of the continuous measurement column.
    count_prefix : str, default "ct_"
        Prefix of the sort-seq count columns ``ct_0 .. ct_{Y-1}``.
    set_col : str, default "set"
        Name of the optional column assigning rows to ``training``,
        ``validation`` or ``test``.
    alphabet : str, default "dna"
        ``"dna"``/``"ACGT"`` or ``"rna"``/``"ACGU"``.
    seed : int, default 0
        Seed of the random split used when there is no ``set`` column.
    split : tuple of 3 floats, default (0.6, 0.2, 0.2)
        Training, validation and test fractions of that random split.

    Returns
    -------
    Dataset

    Raises
    ------
    InputError
        For a missing or empty file, a wrong delimiter, a missing column or
        any invalid value; the message names the file, the 0-based data row
        and the column, and what to do.

    Warns
    -----
    DataWarning
        When duplicate sequences were aggregated.

    See Also
    --------
    from_dataframe : the checks and conversions applied to the table.
    """
    df, source, read_as = _read_frame(path)
    return _from_dataframe(
        df,
        x_col=x_col,
        y_col=y_col,
        count_prefix=count_prefix,
        set_col=set_col,
        alphabet=alphabet,
        seed=seed,
        split=split,
        source=source,
        read_as=read_as,
        stacklevel=3,
    )



def _read_frame(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, str, str]:
    """Read a CSV/TSV (optionally gzipped) as strings; (frame, source, how it was read)."""
    p = Path(path)
    source = str(path)
    if not p.exists():
        raise InputError(
            "file not found; check the path and the working directory",
            source=source,
        )
    if p.is_dir():
        raise InputError(
            "is a directory, not a file; pass the path of a CSV or TSV table",
            source=source,
        )
    if p.stat().st_size == 0:
        raise InputError(
            "the file is empty; expected a header line and data rows",
            source=source,
        )
    gz = _is_gzip(p)
    sep, how = _choose_delimiter(p, gz)
    try:
        # header=None: the header line is read as data, so pandas neither renames
        # repeated names (set -> set.1) nor takes the first column as an index when a
        # row has one field too many; both become errors below.
        raw = pd.read_csv(
            p,
            sep=sep,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            compression="gzip" if gz else None,
            encoding="utf-8-sig",
            engine="c",
        )
        df = raw.iloc[1:].reset_index(drop=True)
        df.columns = [str(c) for c in raw.iloc[0].tolist()]
    except pd.errors.EmptyDataError:
        raise InputError(
            "the file is empty; expected a header line and data rows",
            source=source,
        ) from None
    except pd.errors.ParserError as exc:
        match = _TOKENIZE.search(str(exc))
        if match:
            expected, line, saw = (int(g) for g in match.groups())
            raise InputError(
                f"line {line} of the file has {saw} fields but the header has "
                f"{expected}; fix that row (a stray delimiter or an unquoted "
                "value containing one?)",
                source=source, row=line - 2,
            ) from None
        raise InputError(
            f"the file could not be parsed as a table: {exc}", source=source
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the file is not UTF-8 text (byte {exc.start} cannot be decoded); "
            "save it as plain UTF-8 or ASCII CSV/TSV",
            source=source,
        ) from None
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(
            f"the file could not be read (corrupt or truncated?): {exc}", source=source
        ) from None

    delimiter = "tab" if sep == "\t" else "comma"
    return df, source, f"{delimiter}-separated ({how})"


def read_sequences(path: str | os.PathLike[str], *, x_col: str = "x", alphabet: str = "dna") -> tuple[np.ndarray, np.ndarray]:
    """Read the sequences of a CSV/TSV table (other columns are ignored), for prediction.

    Returns ``(x, codes)``: the upper-cased sequences in file order and their uint8
    codes. Duplicates are kept (one output row per input row).
    """
    df, source, _ = _read_frame(path)
    if x_col not in df.columns:
        raise InputError(f"no sequence column {x_col!r}; columns found: {list(df.columns)}", source=source)
    if len(df) == 0:
        raise InputError("the table has a header but no data rows", source=source)
    letters = resolve_alphabet(alphabet)
    seqs = df[x_col].to_numpy(dtype=object)
    codes = encode(seqs, letters, source=source)
    return decode(codes, letters), codes

def from_dataframe(
    df: pd.DataFrame,
    *,
    x_col: str = "x",
    y_col: str = "y",
    count_prefix: str = "ct_",
    set_col: str = "set",
    alphabet: str = "dna",
    seed: int = 0,
    split: tuple[float, float, float] = (0.6, 0.2, 0.2),
    source: str = "<DataFrame>",
) -> Dataset:
    """Validate a table and turn it into a :class:`Dataset`.

    This is the shared entry point of :func:`read_table`. Columns may hold
    strings (as read from a file) or numbers.

    Parameters
    ----------
    df : pandas.DataFrame
        The table: a sequence column, count columns or a ``y`` column, and
        optionally a ``set`` column (see :func:`read_table`).
    x_col, y_col, count_prefix, set_col, alphabet, seed, split
        As in :func:`read_table`.
    source : str, default "<DataFrame>"
        Name used for the table in error messages and ``Dataset.source``.

    Returns
    -------
    Dataset

    Raises
    ------
    InputError
        If the table is empty, a column is missing, both or neither kind of
        measurement is present, the count columns are not numbered
        consecutively from 0, or any value is invalid: a sequence (see
        :func:`~cisreg.data.encode`), a count (non-numeric, NaN, inf,
        negative, fractional, or all counts of a row zero), a ``y`` value
        (non-numeric, NaN, inf) or a ``set`` value; also if fewer than two
        unique sequences remain or no row is in the training set.

    Warns
    -----
    DataWarning
        When duplicate sequences (after upper-casing) were aggregated: their
        counts summed, or their ``y`` values averaged; the aggregated row keeps
        the ``set`` value of the first occurrence.

    Notes
    -----
    Without a ``set`` column the unique sequences are split at random:
    ``np.random.default_rng(seed).permutation(N)``, the first
    ``round(f_train * N)`` rows of it to training, the next
    ``round(f_val * N)`` to validation, the rest to test.
    """
    return _from_dataframe(
        df,
        x_col=x_col,
        y_col=y_col,
        count_prefix=count_prefix,
        set_col=set_col,
        alphabet=alphabet,
        seed=seed,
        split=split,
        source=source,
        read_as=None,
        stacklevel=3,
    )


# --------------------------------------------------------------------------
# the checks


def _check_split_fractions(split: Any) -> tuple[float, float, float]:
    try:
        fracs = tuple(float(f) for f in split)
    except (TypeError, ValueError):
        fracs = ()
    if (
        len(fracs) != 3
        or not all(math.isfinite(f) and f >= 0 for f in fracs)
        or abs(sum(fracs) - 1.0) > 1e-6
    ):
        raise InputError(
            f"split must be three non-negative fractions (training, "
            f"validation, test) that sum to 1, got {split!r}",
            source="argument split",
        )
    return fracs  # type: ignore[return-value]


def _count_columns(
    columns: list[str], prefix: str, source: str
) -> list[str]:
    """Return the count columns ordered by bin, checking their numbering."""
    found = [c for c in columns if c.startswith(prefix)]
    if not found:
        return []
    bins: dict[int, str] = {}
    for col in found:
        suffix = col[len(prefix):]
        if not suffix.isdigit() or str(int(suffix)) != suffix:
            raise InputError(
                f"the column starts with the count prefix {prefix!r} but "
                f"{suffix!r} is not a bin number; count columns must be named "
                f"{prefix}0, {prefix}1, ... - rename or remove this column",
                source=source, column=col,
            )
        bins[int(suffix)] = col
    for b in range(len(bins)):
        if b not in bins:
            raise InputError(
                f"count column {prefix}{b} is missing: count columns must be "
                f"numbered consecutively from {prefix}0 (found "
                f"{', '.join(bins[k] for k in sorted(bins))}); add the missing "
                "bin or renumber the columns",
                source=source, column=f"{prefix}{b}",
            )
    return [bins[b] for b in range(len(bins))]


def _describe_bad_number(raw: Any) -> str:
    """Describe a value that did not parse as a finite number."""
    if raw is None or raw is pd.NA or (isinstance(raw, float) and raw != raw):
        return "is missing (NaN)"
    text = str(raw).strip()
    if text == "":
        return "is empty"
    if text.lower() in {"nan", "na", "n/a", "null", "none", "-nan", "+nan"}:
        return f"is missing ({text!r})"
    return f"is not a number: {raw!r}"


def _parse_numeric(
    df: pd.DataFrame, cols: list[str], source: str, what: str
) -> np.ndarray:
    """Parse columns as float64 [N, len(cols)]; reject non-numbers and NaN."""
    n = len(df)
    out = np.empty((n, len(cols)), dtype=np.float64)
    for j, col in enumerate(cols):
        series = df[col]
        if pd.api.types.is_bool_dtype(series.dtype):
            parsed = series.astype(np.float64)
        elif pd.api.types.is_numeric_dtype(series.dtype):
            parsed = series.astype(np.float64)
        else:
            parsed = pd.to_numeric(series, errors="coerce")
        out[:, j] = np.asarray(parsed, dtype=np.float64)
    bad = np.flatnonzero(np.isnan(out).ravel())
    if bad.size:
        row, j = divmod(int(bad[0]), len(cols))
        raw = df[cols[j]].iloc[row]
        raise InputError(
            f"the {what} {_describe_bad_number(raw)}; every {what} must be a "
            "number - fill it in or remove this row",
            source=source, row=row, column=cols[j],
        )
    bad = np.flatnonzero(np.isinf(out).ravel())
    if bad.size:
        row, j = divmod(int(bad[0]), len(cols))
        raise InputError(
            f"the {what} is infinite ({df[cols[j]].iloc[row]!r}); every {what} "
            "must be finite - fix or remove this row",
            source=source, row=row, column=cols[j],
        )
    return out


def _parse_counts(
    df: pd.DataFrame, cols: list[str], source: str
) -> np.ndarray:
    counts = _parse_numeric(df, cols, source, "count")
    bad = np.flatnonzero((counts < 0).ravel())
    if bad.size:
        row, j = divmod(int(bad[0]), len(cols))
        raise InputError(
            f"the count is negative ({df[cols[j]].iloc[row]!r}); read counts "
            "must be non-negative integers - fix or remove this row",
            source=source, row=row, column=cols[j],
        )
    bad = np.flatnonzero((counts != np.floor(counts)).ravel())
    if bad.size:
        row, j = divmod(int(bad[0]), len(cols))
        raise InputError(
            f"the count is not a whole number ({df[cols[j]].iloc[row]!r}); "
            "read counts must be non-negative integers - round them or fix "
            "this row",
            source=source, row=row, column=cols[j],
        )
    zero = np.flatnonzero(~counts.any(axis=1))
    if zero.size:
        span = cols[0] if len(cols) == 1 else f"{cols[0]}..{cols[-1]}"
        raise InputError(
            f"all counts of this row are zero ({zero.size} such "
            f"row{'s' if zero.size > 1 else ''} in the table); "
            "these rows carry no information - drop them from the table",
            source=source, row=int(zero[0]), column=span,
        )
    return counts


def _parse_set(df: pd.DataFrame, col: str, source: str) -> np.ndarray:
    """Map the set column to split codes 0/1/2."""
    series = df[col]
    text = series.astype(object).where(series.notna(), "").astype(str)
    keys = text.str.strip().str.lower()
    mapped = keys.map(_SET_VALUES)
    bad = np.flatnonzero(mapped.isna().to_numpy())
    if bad.size:
        row = int(bad[0])
        raw = series.iloc[row]
        what = "is empty" if str(text.iloc[row]).strip() == "" else (
            f"is {raw!r}, which is not a known set"
        )
        raise InputError(
            f"the set value {what}; use training, validation or test (also "
            "accepted: train, val, valid; any case) - fix this value or drop "
            "the column for a random split",
            source=source, row=row, column=col,
        )
    return mapped.to_numpy(dtype=np.int8)


def _random_split(
    n: int, fracs: tuple[float, float, float], seed: int
) -> np.ndarray:
    """Seeded random split with group sizes given by rounding."""
    n_train = min(n, int(math.floor(fracs[0] * n + 0.5)))
    n_val = min(n - n_train, int(math.floor(fracs[1] * n + 0.5)))
    perm = np.random.default_rng(seed).permutation(n)
    split = np.full(n, 2, dtype=np.int8)
    split[perm[:n_train]] = 0
    split[perm[n_train:n_train + n_val]] = 1
    return split


def _from_dataframe(
    df: Any,
    *,
    x_col: str,
    y_col: str,
    count_prefix: str,
    set_col: str,
    alphabet: str,
    seed: int,
    split: Any,
    source: str,
    read_as: str | None,
    stacklevel: int,
) -> Dataset:
    if not isinstance(df, pd.DataFrame):
        raise InputError(
            f"expected a pandas DataFrame, got {type(df).__name__}",
            source=source,
        )
    letters = resolve_alphabet(alphabet)
    fracs = _check_split_fractions(split)

    df = df.rename(columns=lambda c: str(c).strip())
    columns = [str(c) for c in df.columns]
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise InputError(
            "the column name appears more than once; give every column a "
            "distinct name",
            source=source, column=dup,
        )

    if len(columns) == 1 and ("," in columns[0] or "\t" in columns[0]):
        seen = "tabs" if "\t" in columns[0] else "commas"
        how = f"was read as {read_as} but " if read_as else ""
        raise InputError(
            f"the delimiter looks wrong: the table {how}has a single column "
            f"whose name {columns[0]!r} contains {seen}; save the file with "
            "the extension that matches its delimiter (.csv for commas, .tsv "
            "for tabs) or fix the delimiter",
            source=source,
        )

    if x_col not in columns:
        raise InputError(
            f"no sequence column {x_col!r}; columns found: {columns}. Rename "
            f"the sequence column to {x_col!r} or pass x_col=",
            source=source,
        )
    count_cols = _count_columns(columns, count_prefix, source)
    has_y = y_col in columns
    if count_cols and has_y:
        raise InputError(
            f"the table has both count columns ({', '.join(count_cols)}) and a "
            f"continuous column {y_col!r}; keep only one kind of measurement "
            "(drop the other columns)",
            source=source,
        )
    if not count_cols and not has_y:
        raise InputError(
            f"no measurement columns: expected sort-seq count columns "
            f"{count_prefix}0, {count_prefix}1, ... or a continuous column "
            f"{y_col!r}; columns found: {columns}. Rename the columns or pass "
            "count_prefix= / y_col=",
            source=source,
        )

    if len(df) == 0:
        raise InputError(
            "the table has a header but no data rows; add data rows",
            source=source,
        )

    # Sequences: encode the raw column in row order, so errors name data rows.
    codes, lowercase = _encode(
        df[x_col], letters, source=source, column=x_col
    )
    if has_y:
        values = _parse_numeric(df, [y_col], source, "y value")[:, 0]
        counts = None
    else:
        counts = _parse_counts(df, count_cols, source)
        values = None
    has_set = set_col in columns
    split_codes = _parse_set(df, set_col, source) if has_set else None

    notes: list[str] = []
    n_lower = int(lowercase.sum())
    if n_lower:
        notes.append(
            f"converted lower-case letters to upper case in {n_lower} "
            "sequences"
        )

    # Aggregate duplicate sequences (vectorised).
    x_all = decode(codes, letters)
    n_rows = len(x_all)
    inverse, uniques = pd.factorize(x_all, sort=False)
    n_unique = len(uniques)
    if n_unique < n_rows:
        _, first = np.unique(inverse, return_index=True)
        codes = np.ascontiguousarray(codes[first])
        x = x_all[first]
        if counts is not None:
            agg = np.empty((n_unique, counts.shape[1]), dtype=np.float64)
            for j in range(counts.shape[1]):  # loop over bins, not rows
                agg[:, j] = np.bincount(
                    inverse, weights=counts[:, j], minlength=n_unique
                )
            counts = agg
        if values is not None:
            sizes = np.bincount(inverse, minlength=n_unique)
            values = (
                np.bincount(inverse, weights=values, minlength=n_unique)
                / sizes
            )
        if split_codes is not None:
            split_codes = split_codes[first]
        how = "summed their counts" if counts is not None else (
            "averaged their y values"
        )
        note = (
            f"aggregated {n_rows - n_unique} duplicate rows into "
            f"{n_unique} unique sequences ({how}; each kept the set of its "
            "first occurrence)"
        )
        notes.append(note)
        warnings.warn(note, DataWarning, stacklevel=stacklevel)
    else:
        x = x_all

    if n_unique < 2:
        raise InputError(
            f"the table has only {n_unique} unique sequence(s); at least 2 "
            "are needed - add more data",
            source=source,
        )

    if split_codes is None:
        split_codes = _random_split(n_unique, fracs, seed)
        notes.append(
            f"no {set_col!r} column: assigned a random "
            f"{fracs[0]:g}/{fracs[1]:g}/{fracs[2]:g} training/validation/test "
            f"split with seed {seed}"
        )
    if not np.any(split_codes == 0):
        where = (
            f"the {set_col!r} column has no training rows"
            if has_set
            else f"the random split {fracs} left no training rows"
        )
        raise InputError(
            f"{where}; at least one row must be in the training set - mark "
            "some rows 'training' or change the split fractions",
            source=source, column=set_col if has_set else None,
        )

    return Dataset(
        x=x,
        codes=codes,
        alphabet=letters,
        counts=None if counts is None else np.ascontiguousarray(counts),
        y=None if values is None else np.ascontiguousarray(values),
        split=np.ascontiguousarray(split_codes, dtype=np.int8),
        source=source,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------
# bundled examples


def example_path(name: str = "lac-sortseq") -> Path:
    """Return the path of a bundled example data file.

    Parameters
    ----------
    name : str, default "lac-sortseq"
        The example's name; see ``EXAMPLES``.

    Returns
    -------
    pathlib.Path
    """
    if name not in EXAMPLES:
        raise InputError(
            f"unknown example {name!r}; known examples: "
            f"{', '.join(sorted(EXAMPLES))}",
            source="argument name",
        )
    resource = importlib.resources.files("cisreg.data") / "bundled" / EXAMPLES[name]
    return Path(str(resource))


def load_example(name: str = "lac-sortseq") -> Dataset:
    """Load a bundled example data set.

    Parameters
    ----------
    name : str, default "lac-sortseq"
        ``"lac-sortseq"``: the lac promoter sort-seq data of Kinney et al.
        (2010, PNAS 107:9158) as distributed with MAVE-NN: 50,518 75-bp
        sequences, 10 bins, with a ``set`` column (30,516 training rows).

    Returns
    -------
    Dataset
    """
    return read_table(example_path(name))
