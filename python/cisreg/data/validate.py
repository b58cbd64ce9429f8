"""Validation of MPRA / sort-seq tables: every check runs before any data leaves the
loader, and every problem is reported as an :class:`~cisreg.errors.InputError` naming
the source, the 0-based data row and the column, and saying what to do."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from cisreg.data.aggregate import aggregate as aggregate_column
from cisreg.data.aggregate import describe, extra_rule
from cisreg.data.alphabet import resolve_alphabet
from cisreg.data.dataset import SET_VALUES, Dataset, sequence_column
from cisreg.data.encode import _encode, decode
from cisreg.errors import DataWarning, InputError

__all__ = ["from_dataframe"]


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
    dy_col: str = "dy",
    aggregate: bool = True,
) -> Dataset:
    """Validate a table and turn it into a :class:`Dataset`.

    This is the shared entry point of :func:`read_table`. Columns may hold
    strings (as read from a file) or numbers.

    Parameters
    ----------
    df : pandas.DataFrame
        The table: a sequence column, count columns or a ``y`` column (or
        neither: a Dataset of kind ``"table"``), optionally a ``set`` column
        and a ``dy`` column; every other column is kept in ``Dataset.extra``
        (see :func:`read_table`).
    x_col, y_col, count_prefix, set_col, alphabet, seed, split, dy_col, aggregate
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
        (non-numeric, NaN, inf), a ``dy`` value (also: not > 0) or a ``set``
        value; also if fewer than two unique sequences remain or no row is in
        the training set.

    Warns
    -----
    DataWarning
        When duplicate sequences (after upper-casing) were aggregated (unless
        ``aggregate=False``): their counts summed, or their ``y`` values
        averaged (``dy`` combined as the error of that mean,
        ``sqrt(sum dy^2) / n``); extra columns: integer-valued numeric columns
        summed (read counts), other numeric columns averaged, text columns
        keep the first occurrence's value; the aggregated row keeps the
        ``set`` value of the first occurrence.

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
        dy_col=dy_col,
        aggregate=aggregate,
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
    return fracs


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
        if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
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
    mapped = keys.map(SET_VALUES)
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
    out: np.ndarray = mapped.to_numpy(dtype=np.int8)
    return out


def _random_split(
    n: int, fracs: tuple[float, float, float], seed: int
) -> np.ndarray:
    """Seeded random split with group sizes given by rounding."""
    n_train = min(n, math.floor(fracs[0] * n + 0.5))
    n_val = min(n - n_train, math.floor(fracs[1] * n + 0.5))
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
    dy_col: str = "dy",
    aggregate: bool = True,
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

    x_col = sequence_column(x_col, columns, source)
    count_cols = _count_columns(columns, count_prefix, source)
    has_y = y_col in columns
    if count_cols and has_y:
        raise InputError(
            f"the table has both count columns ({', '.join(count_cols)}) and a "
            f"continuous column {y_col!r}; keep only one kind of measurement "
            "(drop the other columns)",
            source=source,
        )
    has_dy = dy_col in columns and dy_col != y_col
    has_set = set_col in columns
    known = {x_col, y_col, set_col, *count_cols} | ({dy_col} if has_dy else set())
    extra_cols = [c for c in columns if c not in known]
    if not count_cols and not has_y and not extra_cols:
        raise InputError(
            f"no measurement columns: expected sort-seq count columns "
            f"{count_prefix}0, {count_prefix}1, ... or a continuous column "
            f"{y_col!r} (or any other columns, e.g. MPRA input/output counts); "
            f"columns found: {columns}. Rename the columns or pass "
            "count_prefix= / y_col=",
            source=source,
        )
    if has_dy and not has_y:
        raise InputError(
            f"the table has a measurement-error column {dy_col!r} but no "
            f"continuous column {y_col!r}; dy is the error of y - add y or "
            "rename the column",
            source=source, column=dy_col,
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
        _check_magnitude(values, df, y_col, source, "y value")
        counts = None
    else:
        counts = _parse_counts(df, count_cols, source) if count_cols else None
        values = None
    dy = _parse_dy(df, dy_col, source) if has_dy else None
    extra = {c: _parse_extra(df[c]) for c in extra_cols}
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
    groups = None
    if n_unique < n_rows and not aggregate:
        notes.append(
            f"kept {n_rows - n_unique} rows whose sequence repeats an earlier "
            "row (aggregate=False)"
        )
        x = x_all
        groups = (inverse, n_unique)  # the random split goes by sequence
        n_unique = n_rows if n_unique >= 2 else n_unique
    elif n_unique < n_rows:
        _, first = np.unique(inverse, return_index=True)
        codes = np.ascontiguousarray(codes[first])
        x = x_all[first]
        if counts is not None:
            counts = aggregate_column("sum", counts, inverse, n_unique)
        if values is not None:
            values = aggregate_column("mean", values, inverse, n_unique)
        if dy is not None:
            dy = aggregate_column("error_of_mean", dy, inverse, n_unique)
        rules = {name: extra_rule(v) for name, v in extra.items()}
        for name, rule in rules.items():
            extra[name] = aggregate_column(rule, extra[name], inverse, n_unique, first=first)
        how_extra = describe(rules)
        if split_codes is not None:
            split_codes = split_codes[first]
        how = "summed their counts; " if counts is not None else (
            "averaged their y values; " if values is not None else ""
        )
        note = (
            f"aggregated {n_rows - n_unique} duplicate rows into "
            f"{n_unique} unique sequences ({how}{how_extra}each kept the set "
            "of its first occurrence)"
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

    if split_codes is None and groups is not None:
        split_codes = _random_split(groups[1], fracs, seed)[groups[0]]
        notes.append(
            "rows of the same sequence were put in the same set of the random split"
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
        extra=extra,
        dy=None if dy is None else np.ascontiguousarray(dy),
    )


#: Largest |y| and dy accepted: the kernels square them in float32 (largest 3.4e38).
MAX_MEASUREMENT = 1e15


def _check_magnitude(v: np.ndarray, df: pd.DataFrame, col: str, source: str, what: str) -> None:
    bad = np.flatnonzero(np.abs(v) > MAX_MEASUREMENT)
    if bad.size:
        row = int(bad[0])
        raise InputError(
            f"the {what} {float(v[row]):g} is beyond +-{MAX_MEASUREMENT:g}, where the float32 kernels "
            "overflow; rescale the measurements (e.g. to log units)",
            source=source, row=row, column=col,
        )


def _parse_dy(df: pd.DataFrame, col: str, source: str) -> np.ndarray:
    dy = _parse_numeric(df, [col], source, "dy value")[:, 0]
    _check_magnitude(dy, df, col, source, "dy value")
    bad = np.flatnonzero(dy <= 0)
    if bad.size:
        row = int(bad[0])
        raise InputError(
            f"the measurement error is {df[col].iloc[row]!r}, but it must be > 0 "
            f"({bad.size} such row{'s' if bad.size > 1 else ''}); fix these "
            "values or drop the column",
            source=source, row=row, column=col,
        )
    return dy


def _parse_extra(series: pd.Series) -> np.ndarray:
    """A further column: float64 if every non-empty value is a number (empty: NaN),
    else str (object) values."""
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        return np.ascontiguousarray(series.to_numpy(dtype=np.float64, na_value=np.nan))
    text = series.astype(object).where(series.notna(), "")
    parsed = pd.to_numeric(text.where(text.astype(str).str.strip() != "", np.nan), errors="coerce")
    blank = text.astype(str).str.strip() == ""
    if bool(blank.all()) or bool((parsed.isna() & ~blank).any()):
        strings: np.ndarray = text.astype(str).to_numpy(dtype=object)
        return strings
    return np.ascontiguousarray(parsed.to_numpy(dtype=np.float64))
