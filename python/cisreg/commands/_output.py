"""Writing result tables of the subcommands: CSV / TSV (optionally gzipped) or Parquet, atomically."""

from __future__ import annotations

import gzip
import importlib.util
import io
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["check_name", "check_not_an_input", "check_table_path", "write_table"]

_FORMATS = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".parquet")


def check_name(name: str, what: str) -> str:
    """A name given where a name (not a path) is expected, e.g. a model directory made
    inside --out: refused if it holds a path separator, is empty, '.' or '..', or starts
    with '.' (hidden, and the temporary names of atomic writes)."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        raise InputError(f"{what} {name!r} is not a plain name: use letters, digits, '-' and '_' (no path "
                         "separators, not starting with '.')")
    return name


def check_not_an_input(out: str | Path, inputs: list[str | Path], what: str = "--out") -> None:
    """Refuse an output path that is one of the inputs (it would be replaced before, or while,
    it is read)."""
    o = Path(out)
    for i in inputs:
        p = Path(i)
        same = o.resolve() == p.resolve()
        if not same and o.exists() and p.exists():
            try:
                same = o.samefile(p)
            except OSError:
                same = False
        if same:
            raise InputError(f"{what} {str(o)!r} is an input of this command; write the output to another path",
                             source=str(o))


def _format(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(_FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise InputError(f"cannot tell the output format from the file name; end it in {', '.join(_FORMATS)}",
                     source=str(path))


def add_table_options(p: Any) -> None:
    """The options every command that writes a table of predictions takes: --out,
    --precision, --threads and --debug."""
    from ..cli import _threads

    p.add_argument("--out", metavar="FILE", required=True, help="output table: .csv, .tsv, .csv.gz, .tsv.gz or "
                                                               ".parquet (needs pyarrow)")
    p.add_argument("--precision", choices=("float64", "float32"), default="float64",
                   help="compute precision (default float64)")
    p.add_argument("--threads", type=_threads, default=None, help="threads (default: all cores)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")


def check_table_path(path: str | Path) -> str:
    """The format of an output table (from its name), checked before any work is done:
    a known suffix, an existing directory, pyarrow for Parquet."""
    p = Path(path)
    fmt = _format(p)
    if fmt == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        raise InputError("writing Parquet needs the pyarrow package, which is not installed (pip install pyarrow); "
                         "or write a .csv file", source=str(p))
    if p.is_dir():
        raise InputError("is a directory; give a file name", source=str(p))
    if not p.parent.is_dir():
        raise InputError(f"cannot write here: the directory {str(p.parent)!r} does not exist", source=str(p))
    return fmt


def write_table(df: Any, path: str | Path) -> None:
    """Write ``df`` (without its index) to ``path`` atomically (temporary file, then rename);
    the format follows the suffix: .csv, .tsv, .csv.gz, .tsv.gz or .parquet."""
    from ..models.io import atomic_write_bytes

    fmt = check_table_path(path)
    if fmt == ".parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, engine="pyarrow", index=False)
        data = buf.getvalue()
    else:
        sep = "\t" if fmt.startswith(".tsv") else ","
        data = df.to_csv(index=False, sep=sep, float_format="%.10g").encode()
        if fmt.endswith(".gz"):
            data = gzip.compress(data, mtime=0)
    atomic_write_bytes(path, data)
