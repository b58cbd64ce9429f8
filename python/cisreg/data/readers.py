"""Reading data files into a :class:`~cisreg.data.Dataset`: CSV / TSV tables, Parquet
tables, FASTA sequences (with a table joined by id), MPRA barcode tables (counts per
barcode plus a barcode -> sequence mapping), and the bundled example data. Gzip
compression is detected from the content of every file."""

from __future__ import annotations

import gzip
import importlib.resources
import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from cisreg._signals import reraise_if_interrupted
from cisreg.data.alphabet import resolve_alphabet
from cisreg.data.dataset import Dataset, sequence_column
from cisreg.data.encode import decode, encode
from cisreg.data.validate import _from_dataframe
from cisreg.errors import InputError

__all__ = ["EXAMPLES", "example_path", "load_example", "read_barcodes", "read_fasta", "read_sequences",
           "read_table"]

#: File name endings (before an optional ``.gz``) read as Parquet and as FASTA.
PARQUET_SUFFIXES = (".parquet", ".pq")
FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas")

#: Bundled example data sets: name -> file in ``cisreg/data/bundled``.
EXAMPLES: dict[str, str] = {"lac-sortseq": "lac_sortseq.csv.gz"}


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
    dy_col: str = "dy",
    aggregate: bool = True,
) -> Dataset:
    """Read a CSV or TSV table (optionally gzipped) into a :class:`Dataset`.

    Parameters
    ----------
    path : str or path-like
        The file. ``.parquet`` / ``.pq`` is read as Parquet (needs pyarrow:
        ``pip install "cisreg[parquet]"``), ``.fa`` / ``.fasta`` / ``.fna``
        as FASTA sequences (see :func:`read_fasta`), ``.csv`` comma-separated
        and ``.tsv`` tab-separated (each optionally followed by ``.gz``); for
        any other name the delimiter is sniffed from the header line. Gzip
        compression is detected from the file's content.
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
    dy_col : str, default "dy"
        Name of the optional per-row measurement error of ``y`` (finite,
        > 0); it becomes ``Dataset.dy``.
    aggregate : bool, default True
        Aggregate rows with the same sequence (see :func:`from_dataframe`);
        ``False`` keeps one row per table row (e.g. per-barcode MPRA rows;
        the random split then still keeps each sequence in one set).

    Every other column is kept in ``Dataset.extra`` (numbers as float64,
    text as str) and numeric ones are read with ``Dataset.columns``.

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
    if file_format(path) == "fasta":
        return read_fasta(path, x_col=x_col, alphabet=alphabet, seed=seed, split=split, aggregate=aggregate)
    df, source, read_as = read_frame(path)
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
        dy_col=dy_col,
        aggregate=aggregate,
    )



def file_format(path: str | os.PathLike[str]) -> str:
    """``"parquet"``, ``"fasta"`` or ``"text"`` (CSV/TSV), from the file name."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(FASTA_SUFFIXES):
        return "fasta"
    return "text"


def read_frame(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, str, str]:
    """Read a table file (CSV/TSV as strings, Parquet with its own types); return
    (frame, source, how it was read)."""
    if file_format(path) == "parquet":
        return _read_parquet(path), str(path), "Parquet"
    return _read_frame(path)


def _check_file(p: Path, source: str, what: str = "a CSV or TSV table") -> None:
    if not p.exists():
        raise InputError(
            "file not found; check the path and the working directory",
            source=source,
        )
    if p.is_dir():
        raise InputError(
            f"is a directory, not a file; pass the path of {what}",
            source=source,
        )
    if p.stat().st_size == 0:
        raise InputError(
            "the file is empty; expected a header line and data rows",
            source=source,
        )


def require_pyarrow(source: str | None = None) -> object:
    """Import pyarrow.parquet, or raise an InputError saying how to install it."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            'reading Parquet needs pyarrow, which is not installed; pip install "cisreg[parquet]" '
            "(or pip install pyarrow), or convert the file to CSV",
            source=source,
        ) from None
    return pq


def open_parquet(path: str | os.PathLike[str]) -> object:
    """A ``pyarrow.parquet.ParquetFile`` (gzipped files are decompressed in memory)."""
    p = Path(path)
    source = str(path)
    _check_file(p, source, "a Parquet file")
    pq = require_pyarrow(source)
    import pyarrow as pa

    try:
        if _is_gzip(p):
            with gzip.open(p, "rb") as fh:
                return pq.ParquetFile(pa.BufferReader(fh.read()))  # type: ignore[attr-defined]
        return pq.ParquetFile(p)  # type: ignore[attr-defined]
    except (OSError, EOFError, zlib.error, pa.ArrowException, ValueError) as exc:
        raise InputError(
            f"not a readable Parquet file (corrupt or truncated?): {_one_line(exc)}; "
            "write it again or check the download",
            source=source,
        ) from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def parquet_batches(path: str | os.PathLike[str], batch_size: int = 1 << 20) -> object:
    """Yield DataFrames of up to ``batch_size`` rows of a Parquet file."""
    pf = open_parquet(path)
    import pyarrow as pa

    try:
        for batch in pf.iter_batches(batch_size=batch_size):  # type: ignore[attr-defined]
            yield batch.to_pandas()
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise InputError(
            f"the Parquet file could not be read (corrupt or truncated?): {_one_line(exc)}",
            source=str(path),
        ) from None


def _read_parquet(path: str | os.PathLike[str]) -> pd.DataFrame:
    pf = open_parquet(path)
    import pyarrow as pa

    try:
        df: pd.DataFrame = pf.read().to_pandas()  # type: ignore[attr-defined]
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise InputError(
            f"the Parquet file could not be read (corrupt or truncated?): {_one_line(exc)}",
            source=str(path),
        ) from None
    return df


def _check_text(p: Path, gz: bool, source: str) -> None:
    """Refuse UTF-16 / UTF-32 text, which would otherwise read as one garbled column."""
    try:
        with (gzip.open(p, "rb") if gz else open(p, "rb")) as fh:
            head = fh.read(4096)
    except (OSError, EOFError, zlib.error):
        return  # the reader below reports a corrupt file
    # a byte-order mark, or NUL bytes making up a quarter of the text (ASCII in UTF-16/32)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (head and head.count(0) * 4 >= len(head)):
        raise InputError("the file is UTF-16 or UTF-32 text, not UTF-8 text; save the table as UTF-8 CSV/TSV "
                         "(e.g. 'CSV UTF-8' in a spreadsheet program)", source=source)


def _read_frame(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, str, str]:
    """Read a CSV/TSV (optionally gzipped) as strings; (frame, source, how it was read)."""
    p = Path(path)
    source = str(path)
    _check_file(p, source)
    gz = _is_gzip(p)
    _check_text(p, gz, source)
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
        reraise_if_interrupted()
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


def read_sequences(
    path: str | os.PathLike[str], *, x_col: str = "x", alphabet: str = "dna"
) -> tuple[np.ndarray, np.ndarray]:
    """Read the sequences of a CSV/TSV table (other columns are ignored), for prediction.

    Returns ``(x, codes)``: the upper-cased sequences in file order and their uint8
    codes. Duplicates are kept (one output row per input row).
    """
    if file_format(path) == "fasta":
        df, source = pd.DataFrame({x_col: _parse_fasta(path)[1]}), str(path)
    else:
        df, source, _ = read_frame(path)
    x_col = sequence_column(x_col, df.columns, source)
    if len(df) == 0:
        raise InputError("the table has a header but no data rows", source=source)
    letters = resolve_alphabet(alphabet)
    seqs = df[x_col].to_numpy(dtype=object)
    codes = encode(seqs, letters, source=source)
    return decode(codes, letters), codes


# --------------------------------------------------------------------------
# FASTA


def _fasta_lines(path: Path, source: str) -> Iterator[str]:
    """The lines of a (gzipped) text file, with read errors as InputError."""
    opener = gzip.open if _is_gzip(path) else open
    try:
        with opener(path, "rt", encoding="utf-8-sig") as fh:
            yield from fh
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the file is not UTF-8 text (byte {exc.start} cannot be decoded); expected FASTA",
            source=source,
        ) from None
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(
            f"the file could not be read (corrupt or truncated?): {_one_line(exc)}", source=source
        ) from None


def iter_fasta(path: str | os.PathLike[str]) -> object:
    """Yield ``(id, sequence)`` of each record of a (gzipped) FASTA file.

    The id is the header up to the first white space; a sequence may span lines.
    """
    p = Path(path)
    source = str(path)
    _check_file(p, source, "a FASTA file")
    name: str | None = None
    parts: list[str] = []
    n_lines = 0
    for n_lines, line in enumerate(_fasta_lines(p, source), 1):
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith(">"):
            if name is not None:
                yield name, "".join(parts)
            fields = line[1:].split()
            if not fields:
                raise InputError(
                    "a FASTA header has no id; write '>ID' before each sequence",
                    source=f"{source}, line {n_lines}",
                )
            name, parts = fields[0], []
        elif name is None:
            raise InputError(
                "not a FASTA file: the first record does not start with '>ID'; use .csv/.tsv "
                "for tables",
                source=f"{source}, line {n_lines}",
            )
        else:
            parts.append(line)
    if name is None:
        raise InputError("the FASTA file holds no records ('>ID' lines)", source=source)
    yield name, "".join(parts)


def _parse_fasta(path: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    ids: list[str] = []
    seqs: list[str] = []
    for name, seq in iter_fasta(path):  # type: ignore[attr-defined]
        ids.append(name)
        seqs.append(seq)
    return ids, seqs


def read_fasta(
    fasta: str | os.PathLike[str],
    table: str | os.PathLike[str] | pd.DataFrame | None = None,
    *,
    id_col: str = "id",
    x_col: str = "x",
    alphabet: str = "dna",
    seed: int = 0,
    split: tuple[float, float, float] = (0.6, 0.2, 0.2),
    aggregate: bool = True,
    **columns: str,
) -> Dataset:
    """Read FASTA sequences, optionally joined with a table of measurements by id.

    Parameters
    ----------
    fasta : str or path-like
        A FASTA file (optionally gzipped); the id of a record is its header
        up to the first white space. Ids must be unique.
    table : str, path-like, pandas.DataFrame or None
        A table (CSV/TSV/Parquet file or DataFrame) with an ``id_col`` column
        and measurement columns (``ct_*``, ``y``, MPRA counts, ...). Every
        id of the table must be in the FASTA file; FASTA records without a
        table row are dropped with a DataWarning. ``None``: only the
        sequences (a Dataset of kind ``"table"`` with an ``id`` column).
    id_col : str, default "id"
        The id column of ``table``.
    x_col, alphabet, seed, split, aggregate
        As in :func:`read_table`.
    **columns
        Further column names for :func:`read_table` (``y_col``,
        ``count_prefix``, ``set_col``, ``dy_col``).

    Returns
    -------
    Dataset
        Rows in the order of the table (or of the FASTA file); the id column
        is kept in ``Dataset.extra``.

    Raises
    ------
    InputError
        For an unreadable or malformed file, duplicate ids, or ids of the
        table missing from the FASTA file (the message names one).
    """
    import warnings

    from cisreg.errors import DataWarning

    source = str(fasta)
    ids, seqs = _parse_fasta(fasta)
    fa = pd.Series(seqs, index=pd.Index(ids, dtype=object))
    if not fa.index.is_unique:
        dup = fa.index[fa.index.duplicated()][0]
        raise InputError(
            f"the id {dup!r} names two records; FASTA ids (the header up to the first space) "
            "must be unique", source=source)
    if table is None:
        df = pd.DataFrame({id_col: ids, x_col: seqs})
    else:
        if isinstance(table, pd.DataFrame):
            df, tsource = table.copy(), "<DataFrame>"
        else:
            df, tsource, _ = read_frame(table)
        source = f"{source} + {tsource}"
        if id_col not in df.columns:
            raise InputError(
                f"the table has no id column {id_col!r} to join with the FASTA file; columns "
                f"found: {list(df.columns)}; pass id_col=", source=tsource)
        if x_col in df.columns:
            raise InputError(
                f"the table already has a sequence column {x_col!r}; with a FASTA file the "
                "sequences come from the FASTA - drop the column", source=tsource, column=x_col)
        tid = df[id_col].astype(str).str.strip()
        missing = ~tid.isin(fa.index)
        if missing.any():
            bad = np.flatnonzero(missing.to_numpy())
            raise InputError(
                f"{bad.size} id(s) of the table are not in the FASTA file, e.g. {tid.iloc[bad[0]]!r} "
                f"(row {int(bad[0])}); check that both files describe the same library",
                source=source)
        unused = len(fa) - int(tid.nunique())
        if unused:
            warnings.warn(
                f"{source}: {unused} FASTA record(s) have no row in the table and were dropped",
                DataWarning, stacklevel=2)
        df.insert(0, x_col, fa.reindex(tid.to_numpy()).to_numpy())
        df[id_col] = tid.to_numpy()
    return _from_dataframe(
        df, x_col=x_col, y_col=columns.get("y_col", "y"),
        count_prefix=columns.get("count_prefix", "ct_"), set_col=columns.get("set_col", "set"),
        alphabet=alphabet, seed=seed, split=split, source=source, read_as=None, stacklevel=3,
        dy_col=columns.get("dy_col", "dy"), aggregate=aggregate)


# --------------------------------------------------------------------------
# MPRA barcodes


def _frame(obj: object, what: str) -> tuple[pd.DataFrame, str]:
    if isinstance(obj, pd.DataFrame):
        return obj.copy(), f"<{what} DataFrame>"
    if isinstance(obj, dict) and what == "mapping":
        return pd.DataFrame({"barcode": list(obj), "x": list(obj.values())}), "<mapping dict>"
    if isinstance(obj, (str, os.PathLike)):
        if file_format(obj) == "fasta" and what == "mapping":
            ids, seqs = _parse_fasta(obj)
            return pd.DataFrame({"barcode": ids, "x": seqs}), str(obj)
        df, source, _ = read_frame(obj)
        return df, source
    raise InputError(f"{what}: expected a file path or a pandas DataFrame, got {type(obj).__name__}")


def read_barcodes(
    counts: str | os.PathLike[str] | pd.DataFrame,
    mapping: str | os.PathLike[str] | pd.DataFrame | dict[str, str],
    *,
    barcode_col: str = "barcode",
    x_col: str = "x",
    aggregate: bool = True,
    unmapped: str = "error",
    alphabet: str = "dna",
    seed: int = 0,
    split: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> Dataset:
    """Read MPRA barcode counts and a barcode -> sequence mapping into a Dataset.

    Parameters
    ----------
    counts : str, path-like or pandas.DataFrame
        A table (CSV/TSV/Parquet, optionally gzipped) with a barcode column
        and count columns, e.g. ``dna_1, rna_1, dna_2, rna_2`` (one input and
        one output column per replicate); other (non-numeric) columns are
        kept. Every numeric column is a read count: a value that is not a
        whole, non-negative number is an error naming its barcode, row and
        column, found before any barcodes are summed. Each barcode may
        appear once.
    mapping : str, path-like, pandas.DataFrame or dict
        Barcode -> sequence, as MPRA pipelines (e.g. MPRAflow's association
        step) produce it: a table with ``barcode_col`` and ``x_col``
        columns, a FASTA file whose ids are barcodes, or a dict. A barcode
        may be listed more than once only with the same sequence.
    barcode_col, x_col : str
        Names of the barcode and sequence columns.
    aggregate : bool, default True
        ``True``: one row per variant, its counts summed over its barcodes
        and an ``n_barcodes`` column added. ``False``: one row per barcode
        (the barcode column kept); the random split keeps the barcodes of a
        variant in one set.
    unmapped : {"error", "drop"}, default "error"
        What to do with barcodes of ``counts`` missing from ``mapping``:
        raise an InputError, or drop them with a DataWarning stating how
        many barcodes and reads were dropped.
    alphabet, seed, split
        As in :func:`read_table`.

    Returns
    -------
    Dataset
        Of kind ``"table"``; read the counts with ``Dataset.columns`` (a
        ``counts`` measurement names them in ``input`` / ``output``).

    Raises
    ------
    InputError
        If a column is missing, a barcode maps to two sequences or appears
        twice in ``counts``, or (``unmapped="error"``) a barcode has no
        sequence; the message names the barcode.
    """
    import warnings

    from cisreg.errors import DataWarning

    if unmapped not in ("error", "drop"):
        raise InputError(f"unmapped must be 'error' or 'drop', got {unmapped!r}", source="argument unmapped")
    cdf, csrc = _frame(counts, "counts")
    mdf, msrc = _frame(mapping, "mapping")
    source = f"{csrc} + {msrc}"
    for df, src, need in ((cdf, csrc, (barcode_col,)), (mdf, msrc, (barcode_col, x_col))):
        df.columns = [str(c).strip() for c in df.columns]
        for c in need:
            if c not in df.columns:
                raise InputError(f"no column {c!r}; columns found: {list(df.columns)}; pass barcode_col= / "
                                 "x_col=", source=src)
    if x_col in cdf.columns:
        raise InputError(f"the counts table has a sequence column {x_col!r}; the sequences come from the "
                         "mapping - drop the column", source=csrc, column=x_col)
    mbc = mdf[barcode_col].astype(str).str.strip()
    mseq = mdf[x_col].astype(str).str.strip().str.upper()
    pairs = pd.DataFrame({"b": mbc, "s": mseq}).drop_duplicates()
    dup = pairs["b"].duplicated(keep=False)
    if dup.any():
        b = pairs["b"][dup].iloc[0]
        seqs = pairs["s"][pairs["b"] == b].tolist()
        raise InputError(f"barcode {b!r} is mapped to {len(seqs)} different sequences ({seqs[0][:20]}..., "
                         f"{seqs[1][:20]}...); remove ambiguous barcodes from the mapping", source=msrc,
                         column=barcode_col)
    lookup = pd.Series(pairs["s"].to_numpy(), index=pd.Index(pairs["b"].to_numpy(), dtype=object))
    cbc = cdf[barcode_col].astype(str).str.strip()
    cdup = cbc.duplicated()
    if cdup.any():
        row = int(np.flatnonzero(cdup.to_numpy())[0])
        raise InputError(f"barcode {cbc.iloc[row]!r} appears more than once in the counts table; give one row "
                         "per barcode (sum its counts first)", source=csrc, row=row, column=barcode_col)
    # every numeric column of a barcode table is a read count: checked on the rows as read,
    # before anything is summed over the barcodes of a variant
    for c in cdf.columns:
        col = cdf[c]
        if c in (barcode_col, "set") or pd.api.types.is_bool_dtype(col):
            continue
        if not pd.api.types.is_numeric_dtype(col):  # text as read from a file: numeric if every value parses
            txt = col.astype(str).str.strip()
            parsed = pd.to_numeric(txt, errors="coerce")
            empty = col.isna().to_numpy() | txt.str.lower().isin(["", "nan", "na", "n/a", "null", "none"]).to_numpy()
            if not (parsed.notna().to_numpy() | empty).all() or empty.all():
                continue
            col = parsed
        v = col.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(v) | (v < 0) | (v != np.floor(v))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(f"barcode {cbc.iloc[row]!r} has {c} = {float(v[row]):g}, not a whole, non-negative read "
                             "count (every numeric column of a barcode table is a count); fix the value or drop "
                             "the column", source=csrc, row=row, column=str(c))
    known = cbc.isin(lookup.index).to_numpy()
    if not known.all():
        bad = np.flatnonzero(~known)
        if unmapped == "error":
            raise InputError(f"{bad.size} barcode(s) of the counts table are not in the mapping, e.g. "
                             f"{cbc.iloc[bad[0]]!r} (row {int(bad[0])}); fix the mapping or pass "
                             "unmapped='drop'", source=source)
        num = [c for c in cdf.columns if c != barcode_col and pd.api.types.is_numeric_dtype(cdf[c])]
        reads = float(np.nansum(cdf.loc[~known, num].to_numpy(dtype=np.float64))) if num else 0.0
        warnings.warn(f"{source}: dropped {bad.size} of {len(cbc)} barcodes ({reads:.0f} reads) that are not in "
                      "the mapping", DataWarning, stacklevel=2)
        cdf, cbc = cdf.loc[known].reset_index(drop=True), cbc[known].reset_index(drop=True)
    cdf.insert(0, x_col, lookup.reindex(cbc.to_numpy()).to_numpy())
    if aggregate:
        if "n_barcodes" in cdf.columns:
            raise InputError("the counts table has a column 'n_barcodes', which aggregation adds; rename it",
                             source=csrc, column="n_barcodes")
        cdf = cdf.drop(columns=[barcode_col])
        cdf["n_barcodes"] = 1
    else:
        cdf[barcode_col] = cbc.to_numpy()
    with warnings.catch_warnings():
        if aggregate:  # aggregation per variant is what was asked for
            warnings.simplefilter("ignore", DataWarning)
        return _from_dataframe(cdf, x_col=x_col, y_col="y", count_prefix="ct_", set_col="set",
                               alphabet=alphabet, seed=seed, split=split, source=source, read_as=None,
                               stacklevel=3, aggregate=aggregate)


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
