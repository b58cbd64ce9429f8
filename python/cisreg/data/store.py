"""Compact on-disk data sets for libraries of 10^6 - 10^8 sequences.

A *store* is a directory::

    meta.json          format, version, alphabet, length, n, kind, columns, for every
                       array its file, dtype, shape and SHA-256, and meta_sha256: the
                       SHA-256 of the rest of meta.json (canonical JSON)
    codes.npy          uint8 [N, L] sequence codes (75 B per 75-bp sequence)
    split.npy          int8 [N]
    counts.npy         sort-seq counts [N, Y]: float32 (exact below 2^24; the kernels
                       take float32 targets), float64 when a count is larger
    y.npy, dy.npy      float64 [N]
    extra_<i>.npy      further columns: numbers float32 (integers below 2^24) or float64,
                       text as fixed-width unicode

:func:`open_store` memory-maps every array (``np.load(mmap_mode="r")``), so a fit reads
the codes from the page cache and never copies them. :func:`convert` (``cisreg convert``)
builds a store from a CSV/TSV/Parquet/FASTA file in chunks: it never holds a DataFrame
of all rows or a one-hot encoding. Duplicate sequences are aggregated as
:func:`~cisreg.data.read_table` does, by a sort-based pass over 64-bit hashes of the
stored codes (16 bytes per row while it runs). A store is written into a temporary
directory that is renamed into place at the end, so a half-written store never exists
under its final name.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import json
import os
import shutil
import warnings
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cisreg._files import own_file_problem
from cisreg._signals import reraise_if_interrupted
from cisreg.data.aggregate import aggregate, extra_rule
from cisreg.data.alphabet import resolve_alphabet
from cisreg.data.dataset import Dataset, sequence_column
from cisreg.data.encode import _encode, decode
from cisreg.errors import DataWarning, InputError

__all__ = ["STORE_FORMAT", "LazySequences", "convert", "is_store", "iter_codes", "load_data", "open_store",
           "predict_csv", "save_store"]

STORE_FORMAT = "cisreg-store"
STORE_VERSION = 1
#: Rows per chunk when converting and streaming (about 100 MB of text at 75 bp).
CHUNK_ROWS = 1 << 20
#: Counts below this are exact in float32.
FLOAT32_EXACT = 2.0**24
_HEADER_BYTES = 128  # .npy header length reserved so that the shape can be filled in at the end


def is_store(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a directory holding a ``meta.json`` (a store)."""
    p = Path(path)
    return p.is_dir() and (p / "meta.json").is_file()


# --------------------------------------------------------------------------
# writing .npy files in pieces


class _NpyWriter:
    """Append rows to a .npy file whose row count is only known at the end; hashes
    the data as it goes."""

    def __init__(self, path: Path, dtype: Any, tail: tuple[int, ...]) -> None:
        self.path, self.dtype, self.tail, self.n = path, np.dtype(dtype), tuple(tail), 0
        self.sha = hashlib.sha256()
        self.fh = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.fh.write(self._header(0))

    def _header(self, n: int) -> bytes:
        d = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
             "shape": (n, *self.tail)}
        text = repr(d).encode("latin1")
        pad = _HEADER_BYTES - 10 - len(text) - 1
        if pad < 0:  # pragma: no cover - only for absurd shapes
            raise ValueError("npy header too long")
        return b"\x93NUMPY\x01\x00" + (_HEADER_BYTES - 10).to_bytes(2, "little") + text + b" " * pad + b"\n"

    def append(self, a: np.ndarray) -> None:
        a = np.ascontiguousarray(a, dtype=self.dtype)
        if a.shape[1:] != self.tail:
            raise ValueError(f"{self.path.name}: rows of shape {a.shape[1:]}, expected {self.tail}")
        buf = a.data.cast("B")
        self.fh.write(buf)
        self.sha.update(buf)
        self.n += a.shape[0]

    def close(self) -> dict[str, Any]:
        self.fh.seek(0)
        self.fh.write(self._header(self.n))
        self.fh.close()
        return {"file": self.path.name, "dtype": self.dtype.str, "shape": [self.n, *self.tail],
                "sha256": self.sha.hexdigest()}


def _write_npy(path: Path, a: np.ndarray, dtype: Any, chunk: int = CHUNK_ROWS) -> dict[str, Any]:
    w = _NpyWriter(path, dtype, a.shape[1:])
    for i in range(0, a.shape[0], chunk):
        w.append(a[i : i + chunk])
    return w.close()


# --------------------------------------------------------------------------
# chunks of a table


@dataclass
class _Chunk:
    """Validated, encoded rows of a table (one chunk of a file or a whole Dataset)."""

    codes: np.ndarray
    counts: np.ndarray | None = None
    y: np.ndarray | None = None
    dy: np.ndarray | None = None
    split: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    n_lower: int = 0


def _chunk_of(d: Dataset) -> _Chunk:
    return _Chunk(np.asarray(d.codes), d.counts, d.y, d.dy, d.split, dict(d.extra))


@dataclass
class _Layout:
    """What the first chunk established: every later chunk must agree."""

    length: int
    n_bins: int | None
    has_y: bool
    has_dy: bool
    has_split: bool
    extra: dict[str, str]  # name -> "number" | "text"

    @classmethod
    def of(cls, c: _Chunk) -> _Layout:
        return cls(c.codes.shape[1], None if c.counts is None else c.counts.shape[1], c.y is not None,
                   c.dy is not None, c.split is not None,
                   {k: ("number" if v.dtype.kind in "fiub" else "text") for k, v in c.extra.items()})

    def check(self, c: _Chunk, offset: int, source: str) -> None:
        if c.codes.shape[1] != self.length:
            raise InputError(f"the sequences have length {c.codes.shape[1]} but the first rows have length "
                             f"{self.length}; all sequences must have the same length", source=source, row=offset)
        if (None if c.counts is None else c.counts.shape[1]) != self.n_bins or (c.y is not None) != self.has_y \
                or (c.dy is not None) != self.has_dy or (c.split is not None) != self.has_split \
                or list(c.extra) != list(self.extra):
            raise InputError("these rows have other columns than the first rows; every part of the data must have "
                             "the same columns", source=source, row=offset)
        for k, kind in self.extra.items():
            if kind == "number" and c.extra[k].dtype.kind not in "fiub":
                bad = int(np.flatnonzero(pd.isna(pd.to_numeric(pd.Series(c.extra[k]), errors="coerce")))[0])
                raise InputError(f"the value {c.extra[k][bad]!r} is not a number, but the column holds numbers in "
                                 "the first rows; fix the value (or make every value of the column text)",
                                 source=source, row=offset + bad, column=k)


class _Columns:
    """Per-chunk parsing of a table with the checks of :func:`from_dataframe`."""

    def __init__(self, columns: list[str], *, x_col: str, y_col: str, count_prefix: str, set_col: str,
                 dy_col: str, alphabet: str, source: str) -> None:
        from cisreg.data.validate import _count_columns

        self.source, self.x_col, self.y_col, self.set_col, self.dy_col = source, x_col, y_col, set_col, dy_col
        self.letters = resolve_alphabet(alphabet)
        columns = [str(c).strip() for c in columns]
        if len(set(columns)) != len(columns):
            dup = next(c for c in columns if columns.count(c) > 1)
            raise InputError("the column name appears more than once; give every column a distinct name",
                             source=source, column=dup)
        self.x_col = x_col = sequence_column(x_col, columns, source)
        self.count_cols = _count_columns(columns, count_prefix, source)
        self.has_y = y_col in columns
        if self.count_cols and self.has_y:
            raise InputError(f"the table has both count columns ({', '.join(self.count_cols)}) and a continuous "
                             f"column {y_col!r}; keep only one kind of measurement", source=source)
        self.has_dy = dy_col in columns and dy_col != y_col
        if self.has_dy and not self.has_y:
            raise InputError(f"the table has a measurement-error column {dy_col!r} but no continuous column "
                             f"{y_col!r}; dy is the error of y - add y or rename the column", source=source,
                             column=dy_col)
        self.has_set = set_col in columns
        known = {x_col, y_col, set_col, *self.count_cols} | ({dy_col} if self.has_dy else set())
        self.extra = [c for c in columns if c not in known]
        if not self.count_cols and not self.has_y and not self.extra:
            raise InputError(f"no measurement columns (count columns {count_prefix}0.., {y_col!r} or any other); "
                             f"columns found: {columns}", source=source)
        self.columns = columns
        self.kinds: dict[str, str] = {}  # extra column -> "number" | "text", from the first chunk

    def parse(self, df: pd.DataFrame, offset: int) -> _Chunk:
        from cisreg.data.validate import _parse_counts, _parse_dy, _parse_extra, _parse_numeric, _parse_set

        df.columns = self.columns
        try:
            codes, lower = _encode(df[self.x_col], self.letters, source=self.source, column=self.x_col)
            c = _Chunk(codes, n_lower=int(lower.sum()))
            if self.count_cols:
                c.counts = _parse_counts(df, self.count_cols, self.source)
            if self.has_y:
                c.y = _parse_numeric(df, [self.y_col], self.source, "y value")[:, 0]
            if self.has_dy:
                c.dy = _parse_dy(df, self.dy_col, self.source)
            if self.has_set:
                c.split = _parse_set(df, self.set_col, self.source)
            c.extra = {k: (df[k].astype(str).to_numpy(dtype=object) if self.kinds.get(k) == "text"
                           else _parse_extra(df[k])) for k in self.extra}
            if not self.kinds:
                self.kinds = {k: ("number" if v.dtype.kind == "f" else "text") for k, v in c.extra.items()}
        except InputError as e:
            if e.row is None or offset == 0:
                raise
            raise InputError(e.message.replace(" (rows are data rows counted from 0, header excluded)", ""),
                             source=e.source, row=e.row + offset, column=e.column) from None
        return c


# --------------------------------------------------------------------------
# reading files in chunks


def _text_chunks(path: Path, chunk_rows: int, usecols: list[str] | None = None) -> Iterator[tuple[list[str],
                                                                                                    pd.DataFrame]]:
    """(header, DataFrame of strings) chunks of a CSV/TSV file (gzipped or not)."""
    from cisreg.data.readers import _TOKENIZE, _check_file, _choose_delimiter, _is_gzip

    source = str(path)
    _check_file(path, source)
    gz = _is_gzip(path)
    sep, _ = _choose_delimiter(path, gz)
    try:
        opener = gzip.open if gz else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(io.StringIO(fh.readline()), delimiter=sep), [])
            if not header:
                raise InputError("the file is empty; expected a header line and data rows", source=source)
            header = [h.strip() for h in header]
            if len(header) == 1 and ("," in header[0] or "\t" in header[0]):
                raise InputError("the delimiter looks wrong: the header is a single column; save the file with the "
                                 "extension that matches its delimiter (.csv for commas, .tsv for tabs)",
                                 source=source)
            # the columns asked for, by the names asked for (a sequence column "sequence" is read as "x")
            found = None if usecols is None else [sequence_column(c, header, source) for c in usecols]
            cols = list(range(len(header))) if found is None else [header.index(c) for c in found]
            names = header if usecols is None else [*usecols]
            # one column beyond the header's: a row with more fields than the header fills it
            # (the parser would otherwise drop such fields silently) and is refused below
            # (every column is parsed: pandas refuses usecols with names beyond a row's fields)
            spare = len(header)
            reader = pd.read_csv(fh, sep=sep, header=None, names=list(range(len(header) + 1)), index_col=False,
                                 dtype=str, keep_default_na=False, na_filter=False, engine="c",
                                 chunksize=chunk_rows)
            empty = True
            seen = 0
            for df in reader:
                empty = False
                extra = np.flatnonzero(df[spare].to_numpy() != "")
                if extra.size:
                    row = seen + int(extra[0])
                    raise InputError(f"line {row + 2} of the file has more fields than the header ({len(header)}); "
                                     "fix that row (a stray delimiter or an unquoted value containing one?)",
                                     source=source, row=row)
                seen += len(df)
                df = df[cols]
                df.columns = names if usecols is not None else [header[i] for i in cols]
                yield header, df
            if empty:
                raise InputError("the table has a header but no data rows; add data rows", source=source)
    except pd.errors.ParserError as exc:
        reraise_if_interrupted()
        m = _TOKENIZE.search(str(exc))
        if m:  # the parser counts the spare column and the lines after the header
            expected, line, saw = (int(g) for g in m.groups())
            raise InputError(f"line {line + 1} of the file has {saw} fields but the header has {expected - 1}; fix "
                             "that row (a stray delimiter or an unquoted value containing one?)", source=source,
                             row=line - 1) from None
        raise InputError(f"the file could not be parsed as a table: {' '.join(str(exc).split())}",
                         source=source) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"the file is not UTF-8 text (byte {exc.start} cannot be decoded)", source=source) from None
    except (OSError, EOFError, zlib.error) as exc:
        reraise_if_interrupted()
        raise InputError(f"the file could not be read (corrupt or truncated?): {' '.join(str(exc).split())}",
                         source=source) from None


def _frame_chunks(path: str | os.PathLike[str], chunk_rows: int, x_col: str = "x",
                  usecols: list[str] | None = None) -> Iterator[tuple[list[str], pd.DataFrame]]:
    """(header, DataFrame) chunks of any supported file: CSV/TSV, Parquet or FASTA."""
    from cisreg.data.readers import file_format, iter_fasta, parquet_batches

    fmt = file_format(path)
    if fmt == "parquet":
        for df in parquet_batches(path, chunk_rows):  # type: ignore[attr-defined]
            if usecols is not None:
                df = df[[c for c in usecols if c in df.columns]]
            yield [str(c) for c in df.columns], df
    elif fmt == "fasta":
        ids: list[str] = []
        seqs: list[str] = []
        for name, seq in iter_fasta(path):  # type: ignore[attr-defined]
            ids.append(name)
            seqs.append(seq)
            if len(ids) == chunk_rows:
                yield ["id", x_col], pd.DataFrame({"id": ids, x_col: seqs})
                ids, seqs = [], []
        if ids:
            yield ["id", x_col], pd.DataFrame({"id": ids, x_col: seqs})
    else:
        yield from _text_chunks(Path(path), chunk_rows, usecols)


def iter_codes(data: str | os.PathLike[str] | Dataset, *, x_col: str = "x", alphabet: str = "ACGT",
               chunk_rows: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
    """Yield the uint8 codes of a data set's sequences in chunks, in file order.

    Parameters
    ----------
    data : str, path-like or Dataset
        A store directory, a table file (CSV/TSV/Parquet/FASTA, optionally
        gzipped) or a Dataset. Duplicates are kept (one row per input row).
    x_col, alphabet : str
        The sequence column and the alphabet.
    chunk_rows : int
        Rows per chunk.

    Yields
    ------
    numpy.ndarray
        uint8 [n, L]; from a store, views of the memory-mapped codes.
    """
    if isinstance(data, Dataset):
        for i in range(0, data.n, chunk_rows):
            yield data.codes[i : i + chunk_rows]
        return
    if is_store(data):
        ds = open_store(data)
        if resolve_alphabet(alphabet) != ds.alphabet:
            raise InputError(f"the store's alphabet is {ds.alphabet}, the model's {alphabet}", source=str(data))
        yield from iter_codes(ds, chunk_rows=chunk_rows)
        return
    letters = resolve_alphabet(alphabet)
    offset, length = 0, None
    for header, df in _frame_chunks(data, chunk_rows, x_col, usecols=[x_col]):
        if x_col not in df.columns:
            raise InputError(f"no sequence column {x_col!r}; columns found: {header}", source=str(data))
        try:
            codes, _ = _encode(df[x_col], letters, source=str(data))  # as read_sequences reports it
        except InputError as e:
            if e.row is None or offset == 0:
                raise
            raise InputError(e.message.replace(" (rows are data rows counted from 0, header excluded)", ""),
                             source=e.source, row=e.row + offset, column=e.column) from None
        if length is None:
            length = codes.shape[1]
        elif codes.shape[1] != length:
            raise InputError(f"the sequence has length {codes.shape[1]} but the first has length {length}",
                             source=str(data), row=offset, column=x_col)
        offset += len(codes)
        yield codes


# --------------------------------------------------------------------------
# save


def save_store(data: Dataset | Iterable[Dataset], path: str | os.PathLike[str], *, aggregate: bool = True,
               seed: int = 0, split: tuple[float, float, float] = (0.6, 0.2, 0.2),
               source: str | None = None) -> Path:
    """Write a data set as a store directory (see the module docstring).

    Parameters
    ----------
    data : Dataset or iterable of Dataset
        One Dataset, or parts of one (e.g. chunks of a file) with the same
        columns and sequence length, written one after the other; the
        Datasets' splits are used as they are.
    path : str or path-like
        The store directory; it must not exist or be an existing store
        (which is replaced).
    aggregate : bool, default True
        Aggregate sequences that occur in more than one part (as
        :func:`~cisreg.data.read_table` does within one table), with a
        DataWarning.
    seed, split
        Used only for parts without split codes (from :func:`convert`).
    source : str, optional
        Recorded as the data's source; default: the first part's.

    Returns
    -------
    pathlib.Path
        The store directory.
    """
    if isinstance(data, Dataset):
        parts: Iterable[Any] = [data]
    else:
        parts = data
    notes: list[str] = []
    state = _Writer(Path(path), seed=seed, split=split)
    alphabet = None
    for part in parts:
        if isinstance(part, Dataset):
            alphabet = alphabet or part.alphabet
            if part.alphabet != alphabet:
                raise InputError(f"the parts use alphabets {alphabet} and {part.alphabet}", source=part.source)
            source = source or part.source
            notes.extend(n for n in part.notes if n not in notes)
            state.add(_chunk_of(part), part.source)
        else:
            state.add(part, source or "<data>")
    return state.finish(alphabet or "ACGT", source or "<data>", notes, aggregate, stacklevel=3)


class _Writer:
    def __init__(self, path: Path, *, seed: int, split: tuple[float, float, float]) -> None:
        from cisreg.data.validate import _check_split_fractions

        self.final = path
        if path.exists() and not is_store(path) and (not path.is_dir() or any(path.iterdir())):
            raise InputError("exists and is not a cisreg store; choose a new directory", source=str(path))
        self.fracs = _check_split_fractions(split)
        self.seed = seed
        self.tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)
        self.layout: _Layout | None = None
        self.w: dict[str, _NpyWriter] = {}
        self.integer: dict[str, bool] = {}  # integer-valued (summed over duplicates, as read_table does)
        self.small: dict[str, bool] = {}  # and below 2^24 in magnitude (stored exactly as float32)
        self.max_count = 0.0
        self.text: dict[str, list[Path]] = {}
        self.n = 0
        self.n_lower = 0

    def add(self, c: _Chunk, source: str) -> None:
        if len(c.codes) == 0:
            return
        if self.layout is None:
            self.layout = _Layout.of(c)
            L = self.layout.length
            self.w["codes"] = _NpyWriter(self.tmp / "codes.npy", np.uint8, (L,))
            if c.counts is not None:  # float64 while writing; narrowed to float32 at the end when exact
                self.w["counts"] = _NpyWriter(self.tmp / "counts.f64", np.float64, (c.counts.shape[1],))
            for k in ("y", "dy", "split"):
                if getattr(c, k) is not None:
                    self.w[k] = _NpyWriter(self.tmp / f"{k}.npy", np.int8 if k == "split" else np.float64, ())
            for i, (k, kind) in enumerate(self.layout.extra.items()):
                if kind == "number":
                    self.w["extra:" + k] = _NpyWriter(self.tmp / f"extra_{i}.f64", np.float64, ())
                    self.integer[k] = self.small[k] = True
                else:
                    self.text[k] = []
        else:
            self.layout.check(c, self.n, source)
        self.w["codes"].append(c.codes)
        if c.counts is not None:
            self.w["counts"].append(c.counts)
            self.max_count = max(self.max_count, float(np.max(c.counts)))
        for k in ("y", "dy", "split"):
            if getattr(c, k) is not None:
                self.w[k].append(getattr(c, k))
        for i, k in enumerate(self.layout.extra):
            v = c.extra[k]
            if k in self.text:
                p = self.tmp / f"extra_{i}.part{len(self.text[k])}.npy"
                np.save(p, np.asarray(v, dtype=str), allow_pickle=False)
                self.text[k].append(p)
            else:
                v = np.asarray(v, dtype=np.float64)
                fin = v[np.isfinite(v)]
                if self.integer[k] and not np.array_equal(fin, np.floor(fin)):
                    self.integer[k] = False
                if self.small[k] and fin.size and np.abs(fin).max() >= FLOAT32_EXACT:
                    self.small[k] = False
                self.w["extra:" + k].append(v)
        self.n += len(c.codes)
        self.n_lower += c.n_lower

    def finish(self, alphabet: str, source: str, notes: list[str], aggregate: bool, stacklevel: int) -> Path:
        try:
            return self._finish(alphabet, source, notes, aggregate, stacklevel + 1)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def _finish(self, alphabet: str, source: str, notes: list[str], aggregate: bool, stacklevel: int) -> Path:
        if self.layout is None:
            raise InputError("no data rows", source=source)
        lay = self.layout
        arrays = {k: w.close() for k, w in self.w.items()}
        for k, parts in self.text.items():  # text columns: one fixed-width array
            width = max(np.load(p, mmap_mode="r").dtype.itemsize // 4 for p in parts)
            i = list(lay.extra).index(k)
            w = _NpyWriter(self.tmp / f"extra_{i}.npy", f"<U{max(width, 1)}", ())
            for p in parts:
                w.append(np.load(p))
                p.unlink()
            arrays["extra:" + k] = w.close()
        load = {k: np.load(self.tmp / a["file"], mmap_mode="r") for k, a in arrays.items()}
        if self.n_lower:
            notes.append(f"converted lower-case letters to upper case in {self.n_lower} sequences")
        n = self.n
        # duplicates
        dup_rows, rep_rows = _duplicates(load["codes"]) if aggregate else (np.zeros(0, np.int64),) * 2
        if dup_rows.size:
            arrays, load = self._aggregate(arrays, load, dup_rows, rep_rows)
            n_new = n - dup_rows.size
            how = ", ".join(a for a in ("counts summed" if "counts" in load else "",
                                        "y averaged" if "y" in load else "") if a)
            note = (f"aggregated {dup_rows.size} duplicate rows into {n_new} unique sequences"
                    f"{' (' + how + ')' if how else ''}; extra columns: integer-valued ones summed, other numbers "
                    "averaged, text kept from the first occurrence; each kept the set of its first occurrence")
            notes.append(note)
            warnings.warn(note, DataWarning, stacklevel=stacklevel)
            n = n_new
        elif not aggregate:
            notes.append("duplicate sequences were kept (aggregate=False)")
        if n < 2:
            raise InputError(f"the data have only {n} unique sequence(s); at least 2 are needed", source=source)
        if "split" not in load:
            from cisreg.data.validate import _random_split

            arrays["split"] = _write_npy(self.tmp / "split.npy", _random_split(n, self.fracs, self.seed), np.int8)
            notes.append(f"no 'set' column: assigned a random {self.fracs[0]:g}/{self.fracs[1]:g}/"
                         f"{self.fracs[2]:g} training/validation/test split with seed {self.seed}")
            load["split"] = np.load(self.tmp / "split.npy", mmap_mode="r")
        if not _any_equal(load["split"], 0):
            raise InputError("no rows in the training set; mark some rows 'training' or change the split "
                             "fractions", source=source)
        # narrow counts and integer extra columns to float32 when exact
        del load
        if "counts" in arrays:
            arrays["counts"] = self._narrow(arrays["counts"], "counts.npy", self.max_count < FLOAT32_EXACT)
        for i, k in enumerate(lay.extra):
            if k not in self.text:
                arrays["extra:" + k] = self._narrow(arrays["extra:" + k], f"extra_{i}.npy",
                                                    self.integer[k] and self.small[k])
        kind = "sortseq" if lay.n_bins is not None else "continuous" if lay.has_y else "table"
        meta = {"format": STORE_FORMAT, "version": STORE_VERSION, "alphabet": alphabet, "length": lay.length,
                "n": n, "kind": kind, "source": source, "notes": notes,
                "columns": [{"name": k, "kind": kind_} for k, kind_ in lay.extra.items()],
                "arrays": arrays}
        meta["meta_sha256"] = _meta_hash(meta)
        with open(self.tmp / "meta.json", "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        old = None
        if self.final.exists():
            old = self.final.with_name(self.final.name + f".old-{os.getpid()}")
            os.replace(self.final, old)
        os.replace(self.tmp, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.final

    def _narrow(self, info: dict[str, Any], name: str, to32: bool) -> dict[str, Any]:
        src = self.tmp / info["file"]
        a = np.load(src, mmap_mode="r")
        out = _write_npy(self.tmp / name, a, np.float32 if to32 else np.float64)
        del a
        src.unlink()
        return out

    def _aggregate(self, arrays: dict[str, Any], load: dict[str, Any], dup_rows: np.ndarray,
                   rep_rows: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
        """Rewrite every array without the duplicate rows; the first occurrence of each
        sequence carries the aggregate, by the rules of data/aggregate.py (those of
        from_dataframe)."""
        reps = np.unique(rep_rows)  # sorted
        members = np.concatenate([reps, dup_rows])
        group_of = np.concatenate([np.arange(reps.size), np.searchsorted(reps, rep_rows)])
        order = np.argsort(members, kind="stable")  # index order: the summation order of np.bincount
        members, group_of = members[order], group_of[order]
        n_groups = reps.size
        agg: dict[str, np.ndarray] = {}
        for key, rule in (("counts", "sum"), ("y", "mean"), ("dy", "error_of_mean")):
            if key in load:
                agg[key] = aggregate(rule, load[key][members], group_of, n_groups)
        for k in self.layout.extra if self.layout else ():
            if k in self.text:
                continue  # text keeps the first occurrence's value: the row that stays
            key = "extra:" + k
            agg[key] = aggregate(extra_rule(load[key][:0], whole=self.integer[k]), load[key][members], group_of,
                                 n_groups)
        drop = np.sort(dup_rows)
        n = load["codes"].shape[0]
        new_arrays: dict[str, Any] = {}
        for key, a in load.items():
            info = arrays[key]
            tmpname = info["file"] + ".agg"
            w = _NpyWriter(self.tmp / tmpname, a.dtype, a.shape[1:])
            for i in range(0, n, CHUNK_ROWS):
                j = min(n, i + CHUNK_ROWS)
                keep = np.ones(j - i, dtype=bool)
                d = drop[np.searchsorted(drop, i) : np.searchsorted(drop, j)]
                keep[d - i] = False
                block = np.array(a[i:j])
                if key in agg:
                    r = np.searchsorted(reps, i), np.searchsorted(reps, j)
                    block[reps[r[0] : r[1]] - i] = agg[key][r[0] : r[1]]
                w.append(block[keep])
            new_arrays[key] = w.close()
        del load
        out_load = {}
        for key, info in new_arrays.items():
            final = arrays[key]["file"]
            os.replace(self.tmp / info["file"], self.tmp / final)
            info["file"] = final
            out_load[key] = np.load(self.tmp / final, mmap_mode="r")
        return new_arrays, out_load


def _any_equal(a: np.ndarray, v: int) -> bool:
    return any(bool(np.any(a[i : i + CHUNK_ROWS] == v)) for i in range(0, a.shape[0], CHUNK_ROWS))


_MULT = np.uint64(0x9E3779B97F4A7C15)


def _row_hashes(codes: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of a uint8 array [N, L], computed in chunks."""
    n = codes.shape[0]
    out = np.empty(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(0, n, CHUNK_ROWS):
            c = np.asarray(codes[i : i + CHUNK_ROWS])
            h = np.full(c.shape[0], 0xCBF29CE484222325, dtype=np.uint64)
            for j in range(c.shape[1]):
                h ^= c[:, j].astype(np.uint64) + np.uint64(j * 7 + 1)
                h *= _MULT
            h ^= h >> np.uint64(31)
            out[i : i + len(c)] = h
    return out


def _duplicates(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows that repeat an earlier row's sequence and the first row of that sequence:
    (dup_rows, rep_rows), int64 arrays of equal length, by a sort over row hashes
    (collisions are resolved by comparing the codes)."""
    h = _row_hashes(codes)
    order = np.argsort(h, kind="stable")  # equal hashes: in row order, so the first is the first occurrence
    hs = h[order]
    del h
    same = np.flatnonzero(hs[1:] == hs[:-1])
    del hs
    if same.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # runs of equal hashes: every member after the first of its run
    starts = np.ones(same.size, dtype=bool)
    starts[1:] = same[1:] != same[:-1] + 1
    run_id = np.cumsum(starts) - 1
    leaders = order[same[starts]]  # the first row of each run
    members = order[same + 1]
    del order
    lead = leaders[run_id]
    eq = np.all(np.asarray(codes[members]) == np.asarray(codes[lead]), axis=1)
    bad_runs = np.unique(run_id[~eq])
    if bad_runs.size:  # hash collisions (rare): group the rows of those runs exactly
        in_bad = np.isin(run_id, bad_runs)
        extra_dup, extra_rep = [], []
        for r in bad_runs:
            first: dict[bytes, int] = {}
            for i in np.sort(np.concatenate([[leaders[r]], members[run_id == r]])):
                key = np.asarray(codes[i]).tobytes()
                if key in first:
                    extra_dup.append(int(i))
                    extra_rep.append(first[key])
                else:
                    first[key] = int(i)
        dup = np.concatenate([members[~in_bad], np.asarray(extra_dup, np.int64)])
        rep = np.concatenate([lead[~in_bad], np.asarray(extra_rep, np.int64)])
    else:
        dup, rep = members, lead
    return dup.astype(np.int64), rep.astype(np.int64)


# --------------------------------------------------------------------------
# convert


def convert(path: str | os.PathLike[str], out: str | os.PathLike[str], *, x_col: str = "x", y_col: str = "y",
            count_prefix: str = "ct_", set_col: str = "set", dy_col: str = "dy", alphabet: str = "dna",
            seed: int = 0, split: tuple[float, float, float] = (0.6, 0.2, 0.2), aggregate: bool = True,
            chunk_rows: int = CHUNK_ROWS) -> Path:
    """Convert a table file into a store, reading it in chunks.

    Parameters
    ----------
    path : str or path-like
        A CSV/TSV, Parquet or FASTA file (optionally gzipped), with the
        columns :func:`~cisreg.data.read_table` accepts.
    out : str or path-like
        The store directory to write (replaced if it is a store).
    x_col, y_col, count_prefix, set_col, dy_col, alphabet, seed, split, aggregate
        As in :func:`~cisreg.data.read_table`; the store holds the same data
        as ``read_table(path, ...)`` would (counts as float32 when exact).
    chunk_rows : int
        Rows per chunk: memory is about chunk_rows x the row's text size,
        plus 16 bytes per row while duplicates are found.

    Returns
    -------
    pathlib.Path
        The store directory.

    Raises
    ------
    InputError
        For any invalid value (naming the row and column) or unreadable file.

    Warns
    -----
    DataWarning
        When duplicate sequences were aggregated.
    """
    source = str(path)
    writer = _Writer(Path(out), seed=seed, split=split)
    try:
        cols: _Columns | None = None
        offset = 0
        for header, df in _frame_chunks(path, chunk_rows, x_col):
            if cols is None:
                cols = _Columns(header, x_col=x_col, y_col=y_col, count_prefix=count_prefix, set_col=set_col,
                                dy_col=dy_col, alphabet=alphabet, source=source)
            writer.add(cols.parse(df, offset), source)
            offset += len(df)
        letters = cols.letters if cols is not None else resolve_alphabet(alphabet)
    except BaseException as exc:
        for w in writer.w.values():
            w.fh.close()
        shutil.rmtree(writer.tmp, ignore_errors=True)
        _name_write_error(exc, Path(out))
        raise
    try:
        return writer.finish(letters, source, [], aggregate, stacklevel=3)
    except OSError as exc:
        _name_write_error(exc, Path(out))
        raise


def _name_write_error(exc: BaseException, out: Path) -> None:
    """A failed write (a full disk, a lost mount) as an InputError that names the store."""
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError) and exc.errno is not None \
            and exc.filename is None:
        raise InputError(f"cannot write the store ({exc.strerror or exc}); nothing was left behind - free space or "
                         "choose another --out", source=str(out)) from None


# --------------------------------------------------------------------------
# open


class LazySequences:
    """The sequences of a store as strings, decoded from the codes when indexed
    (a str array of 10^8 sequences would need 30 GB)."""

    def __init__(self, codes: np.ndarray, alphabet: str) -> None:
        self.codes, self.alphabet = codes, alphabet

    @property
    def shape(self) -> tuple[int]:
        return (int(self.codes.shape[0]),)

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, (int, np.integer)):
            return str(decode(np.asarray(self.codes[idx])[None, :], self.alphabet)[0])
        return decode(np.asarray(self.codes[idx]), self.alphabet)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = decode(np.asarray(self.codes), self.alphabet)
        return out if dtype is None else out.astype(dtype)

    def __iter__(self) -> Iterator[str]:
        for i in range(0, len(self), CHUNK_ROWS):
            yield from self[i : i + CHUNK_ROWS].tolist()

    def __repr__(self) -> str:
        return f"LazySequences(n={len(self)}, length={self.codes.shape[1]})"


def _bad(path: Path, what: str) -> InputError:
    return InputError(f"{what}; this is not a complete cisreg store - convert the data again (cisreg convert)",
                      source=str(path))


def _store_file(p: Path, key: str, name: Any) -> Path:
    """The file of array ``key``: a plain name in meta.json, a regular file inside the store
    (never a symbolic link, never a path out of it)."""
    if (not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", "..")
            or os.path.isabs(name)):
        raise _bad(p, f"meta.json names the file {name!r} for the array {key!r}; a store's files are plain names "
                      "inside its directory")
    f = p / name
    problem = own_file_problem(f)
    if problem == "a symbolic link":
        raise _bad(p, f"{name} is a symbolic link; a store's files must be regular files inside it")
    if problem is not None:
        raise _bad(p, f"{name} is {problem}")
    return f


def _check_values(p: Path, key: str, a: np.ndarray, i0: int) -> None:
    """The rules a CSV's columns obey, on rows [i0, i0 + len(a)) of array ``key``."""
    if key == "split":
        bad = (a < 0) | (a > 2)
        what = "is not a split code (0 training, 1 validation, 2 test)"
    elif key == "counts":
        bad = ~np.isfinite(a) | (a < 0) | (a != np.floor(a))
        what = "is not a whole, non-negative count"
    elif key == "dy":
        bad = ~np.isfinite(a) | (a < 0)
        what = "is not a finite, non-negative measurement error"
    elif key == "y":
        bad = ~np.isfinite(a)
        what = "is not a finite measurement"
    else:
        return
    if bad.any():
        r, *c = np.argwhere(bad)[0]
        col = f", column {c[0]}" if c else ""
        raise _bad(p, f"{key} row {i0 + int(r)}{col} holds {a[tuple([r, *c])]!r}, which {what}")


def open_store(path: str | os.PathLike[str], *, mmap: bool = True, verify: bool = True) -> Dataset:
    """Open a store directory as a Dataset.

    Parameters
    ----------
    path : str or path-like
        The directory written by :func:`save_store` or :func:`convert`.
    mmap : bool, default True
        Memory-map the arrays (read-only; nothing is read until used) rather
        than load them into memory.
    verify : bool, default True
        Read every array once, in chunks, when the store is opened: its SHA-256 must match
        meta.json, and its values must obey the rules of a table's columns (split codes
        0-2; whole, non-negative, finite counts; finite y; finite, non-negative dy). At
        streaming speed (about 1 GB/s); ``verify=False`` skips it for a store that was just
        verified. Always checked: meta.json's shape, every file is a regular file named
        plainly inside the store (no symbolic links, no paths out of it), and every array's
        header matches meta.json.

    Returns
    -------
    Dataset
        ``x`` decodes the codes on indexing (:class:`LazySequences`);
        ``counts`` (and integer extra columns) are float32 when the store
        holds them so.

    Raises
    ------
    InputError
        If the directory is not a store, or a file is missing, truncated or
        (with ``verify``) corrupt.
    """
    p = Path(path)
    if not p.is_dir():
        raise InputError("not a directory; pass the directory written by cisreg convert", source=str(p))
    meta_path = p / "meta.json"
    if not meta_path.is_file():
        raise _bad(p, "no meta.json")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(p, f"meta.json is unreadable ({' '.join(str(exc).split())})") from None
    if not isinstance(meta, dict) or meta.get("format") != STORE_FORMAT:
        raise _bad(p, f"meta.json lacks \"format\": \"{STORE_FORMAT}\"")
    if "meta_sha256" in meta and meta["meta_sha256"] != _meta_hash(meta):  # (stores written before it: none)
        raise _bad(p, "meta.json does not match its own SHA-256 (changed or corrupt)")
    if meta.get("version") != STORE_VERSION:
        raise InputError(f"store format version {meta.get('version')!r}; this cisreg reads version {STORE_VERSION}; "
                         "convert the data again", source=str(p))
    try:
        n, length, alphabet = int(meta["n"]), int(meta["length"]), str(meta["alphabet"])
        infos: dict[str, Any] = dict(meta["arrays"])
        columns = [(str(c["name"]), str(c["kind"])) for c in meta["columns"]]
        notes = [str(x) for x in meta.get("notes", [])]
        source = str(meta.get("source", p))
    except (KeyError, TypeError, ValueError):
        raise _bad(p, "meta.json lacks n, length, alphabet, arrays or columns, or one of them has the wrong "
                      "shape") from None
    if n < 0 or length < 1:
        raise _bad(p, f"meta.json gives {n} rows of length {length}")
    arrays: dict[str, np.ndarray] = {}
    for key, info in infos.items():
        if not isinstance(info, dict):
            raise _bad(p, f"meta.json's entry for the array {key!r} is not an object")
        f = _store_file(p, str(key), info.get("file"))
        try:
            a = np.load(f, mmap_mode="r" if mmap else None, allow_pickle=False)
        except Exception as exc:  # untrusted bytes: any failure of the header parser is a corrupt file
            raise _bad(p, f"{f.name} is truncated or corrupt ({' '.join(str(exc).split())[:200]})") from None
        shape = info.get("shape")
        if not isinstance(shape, list) or list(a.shape) != shape or a.dtype.str != info.get("dtype") or \
                a.shape[0] != n:
            raise _bad(p, f"{f.name} holds {a.dtype.str} {list(a.shape)}, meta.json says {info.get('dtype')} "
                          f"{info.get('shape')}")
        if verify:
            sha = hashlib.sha256()
            for i in range(0, a.shape[0], CHUNK_ROWS):
                block = np.ascontiguousarray(a[i : i + CHUNK_ROWS])
                sha.update(block.data.cast("B"))
                _check_values(p, str(key), block, i)
            if sha.hexdigest() != info.get("sha256"):
                raise _bad(p, f"{f.name} does not match its SHA-256 in meta.json (changed or corrupt)")
        arrays[key] = a
    if "codes" not in arrays or arrays["codes"].shape[1:] != (length,) or "split" not in arrays:
        raise _bad(p, "meta.json lists no codes [N, length] or split array")
    codes = arrays["codes"]
    extra = {name: arrays["extra:" + name] for name, _ in columns if "extra:" + name in arrays}
    try:
        return Dataset(x=LazySequences(codes, alphabet), codes=codes,  # type: ignore[arg-type]
                       alphabet=alphabet, counts=arrays.get("counts"),
                       y=arrays.get("y"), split=arrays["split"], source=source,
                       notes=(*notes, f"opened from the store {p}"), extra=extra,
                       dy=arrays.get("dy"))
    except InputError as exc:
        raise _bad(p, f"inconsistent arrays ({exc})") from None


def _meta_hash(meta: dict[str, Any]) -> str:
    """SHA-256 of meta.json's content without its own hash (canonical JSON)."""
    body = {k: v for k, v in meta.items() if k != "meta_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def load_data(path: str | os.PathLike[str], **kwargs: Any) -> Dataset:
    """A store directory (:func:`open_store`) or a table file (:func:`read_table`)."""
    if is_store(path):
        return open_store(path)
    from cisreg.data.readers import read_table

    return read_table(path, **kwargs)


def predict_csv(model: Any, data: str | os.PathLike[str] | Dataset, out: str | os.PathLike[str], *,
                x_col: str = "x", n_threads: int | None = None,
                chunk_rows: int = CHUNK_ROWS) -> tuple[int, list[str]]:
    """Write a model's predictions for every sequence of a data set to a file, in chunks
    (:func:`predict_file`; kept under this name, which the CSV-only version had)."""
    return predict_file(model, data, out, x_col=x_col, n_threads=n_threads, chunk_rows=chunk_rows)


#: Output formats of predict_file, by the file name's ending.
PREDICT_FORMATS = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".npy", ".parquet")


def predict_format(out: str | os.PathLike[str]) -> str:
    """The format predict_file writes for this file name (CSV for an unknown ending)."""
    name = Path(out).name.lower()
    for suffix in sorted(PREDICT_FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return ".csv"


def predict_file(model: Any, data: str | os.PathLike[str] | Dataset, out: str | os.PathLike[str], *,
                 x_col: str = "x", n_threads: int | None = None,
                 chunk_rows: int = CHUNK_ROWS) -> tuple[int, list[str]]:
    """Write a model's predictions for every sequence of a data set to a file, in chunks.

    Memory does not grow with the number of sequences: the input is read (or, for a
    store, memory-mapped) one chunk at a time and each chunk's rows are appended to a
    temporary file, renamed to ``out`` at the end. One row per input row, in input order.

    Parameters
    ----------
    model : Model
        A fitted model.
    data : str, path-like or Dataset
        A store directory, a table file (CSV/TSV/Parquet/FASTA, optionally
        gzipped) or a Dataset.
    out : str or path-like
        The file to write, its format by its ending: ``.csv`` (also any other ending),
        ``.tsv`` (either gzipped with ``.gz``) and ``.parquet`` (needs pyarrow) hold the
        columns ``x``, ``phi`` and the measurement's prediction columns (as ``cisreg
        predict`` writes them); ``.npy`` holds a structured float64 array with the fields
        ``phi`` and the prediction columns, without the sequences (the fastest: no text).
    x_col : str, default "x"
        Sequence column of a table file.
    n_threads : int, optional
        Kernel threads.
    chunk_rows : int
        Rows per chunk.

    Returns
    -------
    (int, list of str)
        The number of rows written and the columns.
    """
    import tempfile

    out = Path(out)
    if not out.parent.is_dir():
        raise InputError(f"cannot write here: the directory {str(out.parent)!r} does not exist", source=str(out))
    fmt = predict_format(out)
    pq = None
    if fmt == ".parquet":
        from cisreg.data.readers import require_pyarrow

        pq = require_pyarrow(str(out))
    cols: list[str] = []
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    tmp = Path(name)
    n = 0
    npy: _NpyWriter | None = None
    pw: Any = None
    text: Any = None
    try:
        try:
            mask = os.umask(0)
            os.umask(mask)
            os.fchmod(fd, 0o666 & ~mask)  # mkstemp makes 0600; give the file the usual permissions
        finally:
            os.close(fd)
        gz = fmt.endswith(".gz")
        if fmt in (".csv", ".tsv", ".csv.gz", ".tsv.gz"):
            text = (gzip.open(tmp, "wt", encoding="utf-8", newline="") if gz  # noqa: SIM115 - closed below
                    else open(tmp, "w", encoding="utf-8", newline=""))  # noqa: SIM115
        for codes in iter_codes(data, x_col=x_col, alphabet=model.alphabet, chunk_rows=chunk_rows):
            codes = np.ascontiguousarray(codes)
            if codes.shape[1] != model.spec.length:
                raise InputError(f"the sequences have length {codes.shape[1]}, but the model expects "
                                 f"{model.spec.length}", source=data.source if isinstance(data, Dataset) else str(data))
            phi = model.x_to_phi(codes, n_threads=n_threads)
            pred = {"phi": phi, **model.spec.measurement.prediction_columns(model, phi)}
            if fmt == ".npy":
                if npy is None:
                    npy = _NpyWriter(tmp, np.dtype([(k, "<f8") for k in pred]), ())
                rec = np.empty(len(phi), dtype=npy.dtype)
                for k, v in pred.items():
                    rec[k] = v
                npy.append(rec)
                cols = list(pred)
            else:
                df = pd.DataFrame({"x": decode(codes, model.alphabet), **pred})
                cols = list(df.columns)
                if text is not None:
                    df.to_csv(text, index=False, header=n == 0, float_format="%.10g",
                              sep="\t" if fmt.startswith(".tsv") else ",")
                else:
                    import pyarrow as pa

                    table = pa.Table.from_pandas(df, preserve_index=False)
                    if pw is None:
                        pw = pq.ParquetWriter(str(tmp), table.schema)  # type: ignore[attr-defined]
                    pw.write_table(table)
            n += len(phi)
        if n == 0:
            raise InputError("no sequences to predict", source=str(data))
        if text is not None:
            text.close()
        if npy is not None:
            npy.close()
        if pw is not None:
            pw.close()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        for h in (text, npy.fh if npy is not None else None):
            if h is not None:
                with contextlib.suppress(OSError, ValueError):
                    h.close()
        if pw is not None:
            with contextlib.suppress(Exception):
                pw.close()
        tmp.unlink(missing_ok=True)
        raise
    return n, cols
