"""``cisreg convert DATA --out DIR``: a table file into a compact, memory-mapped store
(see :mod:`cisreg.data.store`), read in chunks, for libraries of 10^6 - 10^8 sequences."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from ..cli import _positive_int

    p: argparse.ArgumentParser = sub.add_parser(
        "convert", help="convert a data table into a memory-mapped store for large libraries",
        description="Read a CSV/TSV/Parquet/FASTA table (optionally gzipped) in chunks and write a store directory "
                    "(uint8 codes, float32 counts, meta.json) that cisreg fit and cisreg predict accept as DATA. "
                    "The checks, duplicate aggregation and random split are those of cisreg fit on the table.")
    p.add_argument("data", metavar="DATA", help="the table file")
    p.add_argument("--out", metavar="DIR", required=True, help="store directory to write (an existing store is "
                                                               "replaced)")
    p.add_argument("--x-col", default="x", help="sequence column (default x)")
    p.add_argument("--alphabet", default="dna", help="dna (ACGT, default) or rna (ACGU)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random split when there is no set column")
    p.add_argument("--no-aggregate", action="store_true", help="keep rows with repeated sequences (e.g. one row "
                                                               "per barcode)")
    p.add_argument("--chunk-rows", type=_positive_int, default=None, help="rows per chunk (default 1048576)")
    p.add_argument("--verify", action="store_true", help="reopen the store and check its SHA-256 sums")
    p.add_argument("--quiet", action="store_true", help="no notes on stderr")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    return p


def run(args: argparse.Namespace) -> int:
    import time
    import warnings

    from ..data.store import CHUNK_ROWS, convert, open_store
    from ..errors import DataWarning

    t0 = time.perf_counter()
    # SIGTERM like Ctrl-C (cli.main): the partial store is removed and the command exits with
    # status 130, never with an error blaming the input (see cisreg/_signals.py)
    with warnings.catch_warnings():  # the notes are printed below, once
        warnings.simplefilter("ignore", DataWarning)
        out = convert(args.data, args.out, x_col=args.x_col, alphabet=args.alphabet, seed=args.seed,
                      aggregate=not args.no_aggregate, chunk_rows=args.chunk_rows or CHUNK_ROWS)
    ds = open_store(out, verify=args.verify)
    if not args.quiet:
        for note in ds.notes[:-1]:
            print(f"note: {note}", file=sys.stderr)
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"wrote {out}: {ds.n:,} sequences of length {ds.length} ({ds.kind}), {size / 1e6:.1f} MB, "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0
