"""``cisreg compare DATA --model A --model B [...] --out DIR``: fit candidate mechanisms to the
same data and compare them on held-out sequences."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from ..cli import _l2, _positive_int, _threads
    from ..training import loop

    p: argparse.ArgumentParser = sub.add_parser(
        "compare", help="fit several models to the same data and compare them on held-out sequences")
    p.add_argument("data", nargs="?", help="data table (as for fit)")
    p.add_argument("--example", metavar="NAME", help="use a bundled data set instead of DATA")
    p.add_argument("--model", action="append", required=True, metavar="SPEC",
                   help="a model file or built-in name; give two or more")
    p.add_argument("--name", action="append", metavar="NAME", help="names of the models, in order (default: "
                                                                     "from the files)")
    p.add_argument("--out", metavar="DIR", required=True,
                   help="writes DIR/comparison.csv, DIR/comparison.json and one model directory per model")
    p.add_argument("--split", default="test", choices=("test", "validation"),
                   help="held-out rows the models are compared on (default test)")
    p.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--n-boot", type=_positive_int, default=2000, help="paired bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the fits, the random split and the bootstrap (default 0)")
    p.add_argument("--restarts", type=_positive_int, default=1,
                   help="random initialisations per model; the best by validation likelihood is kept (default 1)")
    p.add_argument("--epochs", type=_positive_int, default=loop.DEFAULT_EPOCHS,
                   help=f"most epochs of each fit (default {loop.DEFAULT_EPOCHS})")
    p.add_argument("--batch-size", type=_positive_int, default=loop.DEFAULT_BATCH_SIZE,
                   help=f"minibatch size of each fit (default {loop.DEFAULT_BATCH_SIZE})")
    p.add_argument("--l2", type=_l2, default=loop.DEFAULT_L2,
                   help=f"L2 penalty per read of each fit, as for cisreg fit (default {loop.DEFAULT_L2:g})")
    p.add_argument("--threads", type=_threads, default=None,
                   help="kernel threads (default: all cores; results do not depend on it)")
    p.add_argument("--x-col", default="x", help="sequence column of the table (default x)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    return p


def run(args: argparse.Namespace) -> int:
    import warnings

    from ..compare import compare
    from ..data.readers import load_example, read_table
    from ..errors import DataWarning, InputError
    from ..models.io import atomic_write_bytes, atomic_write_json
    from ..models.presets import resolve_spec
    from ..training.evaluate import evaluate
    from ..training.report import build_report

    if (args.data is None) == (args.example is None):
        raise InputError("give exactly one of DATA (a table) or --example NAME")
    if len(args.model) < 2:
        raise InputError("give at least two --model")
    if args.name and len(args.name) != len(args.model):
        raise InputError(f"{len(args.name)} --name for {len(args.model)} --model")
    specs = [resolve_spec(m) for m in args.model]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        data = load_example(args.example) if args.example else read_table(
            args.data, x_col=args.x_col, alphabet=specs[0].alphabet, seed=args.seed)
    from ..compare import _name_of

    names = args.name or [_name_of(m, i) for i, m in enumerate(args.model)]
    from ._output import check_name

    for n in names:
        check_name(n, "--name")
    cmp = compare(data, specs, names=names, split=args.split, level=args.level, n_boot=args.n_boot, seed=args.seed,
                  n_threads=args.threads, quiet=args.quiet, restarts=args.restarts, epochs=args.epochs,
                  batch_size=args.batch_size, l2=args.l2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, res in cmp.fits.items():
        d = out / name
        res.model.save(d, metadata={"name": name, "data": data.source})
        metrics = evaluate(res.model, data, n_threads=args.threads, seed=args.seed)
        atomic_write_json(d / "report.json", build_report(res, data, metrics, model_name=name))
    atomic_write_bytes(out / "comparison.csv", cmp.table.to_csv(index=False).encode())
    atomic_write_json(out / "comparison.json", cmp.to_dict())
    cols = ["model", "kind", "parameters", f"{args.split}_nll_per_read", "I_var_bits", "I_pred_bits",
            "llr_best_over_this_nats"]
    print(cmp.table[[c for c in cols if c in cmp.table]].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"verdict: {cmp.verdict}")
    print(f"wrote {out}/comparison.csv, comparison.json and {len(cmp.fits)} model directories", file=sys.stderr)
    return 0
