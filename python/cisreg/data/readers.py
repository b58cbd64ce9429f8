"""Reading data files into a :class:`~cisreg.data.Dataset`: CSV / TSV tables (gzipped or
not), and the bundled example data."""

from __future__ import annotations

import gzip
import importlib.resources
import os
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from cisreg.data.alphabet import resolve_alphabet
from cisreg.data.dataset import Dataset
from cisreg.data.encode import decode, encode
from cisreg.data.validate import _from_dataframe
from cisreg.errors import InputError

__all__ = ["EXAMPLES", "example_path", "load_example", "read_sequences", "read_table"]

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
        dy_col=dy_col,
        aggregate=aggregate,
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
