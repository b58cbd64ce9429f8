"""Command line: ``cisreg fit | predict | info``.

These names, their options and the model directory they write (model.json,
params.npz, report.json) are a public interface that other tools script against.
Errors exit with status 2 and one line on stderr (the traceback with --debug).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_ERROR = 2
EXIT_DIVERGED = 3
EXIT_DEGENERATE = 4
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"cisreg: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(EXIT_ERROR)


def _arg(convert: Any, ok: Any, what: str) -> Any:
    """An argparse type: convert the text, then require ok(value); else say `what` was expected."""

    def parse(s: str) -> Any:
        try:
            v = convert(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {s!r}") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"expected {what}, got {s!r}")
        return v

    return parse


_positive_int = _arg(int, lambda v: v >= 1, "a positive integer")
_threads = _arg(int, lambda v: v != 0, "a non-zero integer (-1 for all cores)")
_positive_float = _arg(float, lambda v: 0 < v < float("inf"), "a positive number")
_nonneg_float = _arg(float, lambda v: 0 <= v < float("inf"), "a number >= 0")
_nonneg_int = _arg(int, lambda v: v == 0 or v >= 2, "0 or an integer >= 2")
_celsius = _arg(float, lambda v: -273.15 < v < 1000.0, "a temperature in °C above absolute zero")


def _l2(text: str) -> Any:
    """--l2: a number, or KIND=X[,NAME=X...] (block kinds or names)."""
    if "=" not in text:
        return _nonneg_float(text)
    out = {}
    for part in text.split(","):
        key, _, val = part.partition("=")
        if not key.strip():
            raise argparse.ArgumentTypeError(f"expected KIND=NUMBER, got {part!r}")
        out[key.strip()] = _nonneg_float(val)
    return out


#: Further subcommands: modules (under cisreg.commands) each with ``add_parser(sub)``, which
#: adds and returns its subparser, and ``run(args) -> int``. They import heavy dependencies
#: (matplotlib, dask) inside ``run`` only, so that ``cisreg --help`` stays fast.
COMMAND_MODULES: tuple[str, ...] = ("cisreg.commands.compare", "cisreg.commands.plot", "cisreg.commands.fit_many",
                                   "cisreg.commands.scan", "cisreg.commands.design", "cisreg.commands.convert")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .training import loop

    p = _Parser(prog="cisreg", description="Fit biophysical models of cis-regulation to MPRA / sort-seq data.")
    p.add_argument("--version", action="version", version=f"cisreg {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    sub.required = True

    f = sub.add_parser("fit", help="fit a model to a data table and write a model directory")
    f.add_argument("data", nargs="?", help="CSV/TSV/Parquet/FASTA table (columns x, ct_0..ct_{Y-1} or y, optional "
                                           "set) or a store directory from cisreg convert")
    f.add_argument("--example", metavar="NAME", help="use a bundled data set instead of DATA (lac-sortseq)")
    f.add_argument("--model", metavar="SPEC", help="model file (JSON/TOML) or built-in name (lac, "
                                                 "activator-rnap-kinetic); default: lac with --example lac-sortseq")
    f.add_argument("--out", metavar="DIR", required=True, help="model directory to write")
    f.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    f.add_argument("--threads", type=_threads, default=None, help="threads (default: all cores)")
    f.add_argument("--epochs", type=_positive_int, default=loop.DEFAULT_EPOCHS,
                   help=f"maximum epochs (default {loop.DEFAULT_EPOCHS})")
    f.add_argument("--batch-size", type=_positive_int, default=loop.DEFAULT_BATCH_SIZE,
                   help=f"sequences per minibatch (default {loop.DEFAULT_BATCH_SIZE})")
    f.add_argument("--learning-rate", type=_positive_float, default=loop.DEFAULT_LEARNING_RATE,
                   help=f"Adam learning rate (default {loop.DEFAULT_LEARNING_RATE})")
    f.add_argument("--restarts", type=_positive_int, default=1, help="random initialisations; the best by "
                                                                    "validation likelihood is kept (default 1)")
    f.add_argument("--l2", type=_l2, default=loop.DEFAULT_L2,
                   help=f"L2 penalty per variant (row) on energies, pair energies, biases and measurement parameters "
                        f"(default {loop.DEFAULT_L2}), or per block kind or name: energy=1e-4,pair=1e-3")
    f.add_argument("--patience", type=_positive_int, default=loop.DEFAULT_PATIENCE,
                   help=f"early-stopping patience in epochs (default {loop.DEFAULT_PATIENCE})")
    f.add_argument("--x-col", default="x", help="sequence column (default x)")
    f.add_argument("--target", metavar="SEQ|FASTA", default=None,
                   help="DATA is a MaveDB score set (or count table) of HGVS variants of this target sequence: "
                        "each variant's sequence is built from the target (see --hgvs-column)")
    f.add_argument("--hgvs-column", metavar="COL", default=None,
                   help="with --target: the HGVS column (default hgvs_pro for a protein target, hgvs_nt for DNA)")
    f.add_argument("--alphabet", default=None,
                   help="alphabet of DATA's sequences: dna, rna, protein, protein* or the letters "
                        "(default: the model's)")
    f.add_argument("--temperature", type=_celsius, default=37.0, help="°C for kcal/mol (default 37)")
    f.add_argument("--precision", choices=("float32", "float64"), default=loop.DEFAULT_DTYPE,
                   help=f"compute precision of the kernels; gradients accumulate in float64 either way "
                        f"(default {loop.DEFAULT_DTYPE})")
    f.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu",
                   help="where the kernels run during the fit: cpu (default), cuda, or auto (cuda when available)")
    f.add_argument("--bootstrap", type=_nonneg_int, default=0, metavar="B",
                   help="B bootstrap refits for standard errors and 95%% intervals of the physical parameters "
                        "(report.json 'uncertainty'; default 0: none)")
    f.add_argument("--laplace", action="store_true",
                   help="also the Laplace (curvature) estimate of the uncertainties: cheaper than a bootstrap")
    f.add_argument("--checkpoint-every", type=_positive_int, default=0, metavar="N",
                   help="write a resumable checkpoint every N epochs into DIR/checkpoint")
    f.add_argument("--resume", metavar="DIR", help="continue the fit from a checkpoint directory")
    f.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    f.add_argument("--debug", action="store_true", help="show full tracebacks on errors")

    pr = sub.add_parser("predict", help="predict phi (and yhat) for the sequences of a table")
    pr.add_argument("model_dir", metavar="DIR", help="model directory written by cisreg fit --out")
    pr.add_argument("data", metavar="DATA", help="CSV/TSV/Parquet/FASTA table with a sequence column x, or a store "
                                                 "directory (read in chunks)")
    pr.add_argument("--out", metavar="FILE", required=True,
                    help="predictions, one row per input row in input order; the format by the ending: .csv (default "
                         "for any other ending), .tsv (either with .gz): columns x, phi and the measurement's "
                         "predictions; .parquet (needs pyarrow): the same columns; .npy: a structured float64 array "
                         "of phi and the predictions, without the sequences (the fastest)")
    pr.add_argument("--x-col", default="x", help="sequence column of the table (default x)")
    pr.add_argument("--threads", type=_threads, default=None,
                    help="kernel threads (default: all cores; results do not depend on it)")
    pr.add_argument("--debug", action="store_true", help="show full tracebacks on errors")

    i = sub.add_parser("info", help="show a fitted model's parameters and metrics")
    i.add_argument("model_dir", metavar="DIR", help="model directory written by cisreg fit --out")
    i.add_argument("--json", action="store_true", help="print the report as JSON")
    i.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    for name in COMMAND_MODULES:
        mod = importlib.import_module(name)
        mod.add_parser(sub).set_defaults(run=mod.run)
    sub.metavar = "{" + ",".join(sub.choices) + "}"
    return p


def _load_spec(name: str | None, example: str | None) -> tuple[Any, str]:
    from .errors import InputError
    from .models.presets import PRESETS, preset, resolve_spec

    if example is not None:
        from .data.readers import EXAMPLES

        if example not in EXAMPLES:
            raise InputError(f"unknown example {example!r}; the bundled examples are: {', '.join(sorted(EXAMPLES))}")
    if name is None:
        if example == "lac-sortseq":
            return preset("lac"), "lac"
        raise InputError("--model is required: a model file (JSON/TOML) or a built-in name "
                         f"({', '.join(sorted(PRESETS))})")
    spec = resolve_spec(name)
    return spec, (name if name in PRESETS and not Path(name).exists() else Path(name).stem)


class _signals_deferred:
    """Ignore SIGINT and SIGTERM while a few files are written (each write is atomic;
    this keeps a model directory's files from different moments apart)."""

    def __enter__(self) -> None:
        self.old = (signal.signal(signal.SIGINT, signal.SIG_IGN), signal.signal(signal.SIGTERM, signal.SIG_IGN))

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self.old[0])
        signal.signal(signal.SIGTERM, self.old[1])


def cmd_fit(args: argparse.Namespace) -> int:
    from .data.readers import load_example
    from .data.store import load_data
    from .errors import DataWarning, InputError
    from .models.io import atomic_write_json
    from .training.evaluate import evaluate
    from .training.loop import fit
    from .training.report import build_report, summary_lines

    if (args.data is None) == (args.example is None):
        raise InputError("give exactly one of DATA (a table) or --example NAME")
    spec, name = _load_spec(args.model, args.example)
    with warnings.catch_warnings():  # the loader's notes are printed below, once
        warnings.simplefilter("ignore", DataWarning)
        if args.example:
            data = load_example(args.example)
        elif args.target is not None:
            from .data.mavedb import read_mavedb

            data = read_mavedb(args.data, args.target, variant_col=args.hgvs_column, seed=args.seed)
        else:
            data = load_data(args.data, x_col=args.x_col, alphabet=args.alphabet or spec.alphabet, seed=args.seed)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory", source=str(out))
    ours = {"model.json", "params.npz", "report.json", "checkpoint", "figures"}
    foreign = [p.name for p in out.iterdir() if p.name not in ours and not p.name.endswith(".tmp")] \
        if out.is_dir() else []
    if foreign:
        raise InputError(f"holds files that are not a cisreg model directory's ({foreign[0]!r}, ...); choose a new "
                         "or empty directory (an existing model directory is overwritten)", source=str(out))
    out.mkdir(parents=True, exist_ok=True)
    if not args.quiet:
        for note in data.notes:
            print(f"note: {note}", file=sys.stderr)
    ckpt = out / "checkpoint" if args.checkpoint_every else None
    # SIGTERM is handled like Ctrl-C (main): stop, keep the best parameters, write them.
    result = fit(data, spec, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                 l2=args.l2, patience=args.patience, restarts=args.restarts, seed=args.seed,
                 n_threads=args.threads, dtype=args.precision, device=args.device, quiet=args.quiet,
                 checkpoint_every=args.checkpoint_every,
                 checkpoint_dir=ckpt, resume=args.resume, bootstrap=args.bootstrap, laplace=args.laplace)
    # the model first: nothing after this point can lose it. An earlier fit's report goes
    # first of all, so that the directory never holds a report of other parameters: a crash
    # from here on leaves the old model or the new one, without a report until the new one
    # is written (fit-many reruns a job without a report; model.json names the SHA-256 of
    # its params.npz, so a model caught between its two files is refused on load)
    with _signals_deferred():
        (out / "report.json").unlink(missing_ok=True)
        result.model.save(out, metadata={"name": name, "data": data.source})
    try:
        metrics = evaluate(result.model, data, n_threads=args.threads, seed=args.seed)
    except KeyboardInterrupt:
        result.interrupted = True
        metrics = {"note": "metrics were not computed: interrupted"}  # type: ignore[dict-item]
    with _signals_deferred():
        report = build_report(result, data, metrics, model_name=name, temperature_c=args.temperature)
        result.model.save(out, metadata={"name": name, "status": report["status"], "data": data.source})
        atomic_write_json(out / "report.json", report)
    if not args.quiet or result.interrupted or result.diverged:
        for line in summary_lines(report):
            print(line)
        print(f"wrote {out}/model.json, params.npz, report.json")
    if result.interrupted:
        print("cisreg: fit interrupted; the best model so far was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.diverged:
        print(f"cisreg: {result.stop_reason}", file=sys.stderr)
        return EXIT_DIVERGED
    if report["status"] == "degenerate":
        print(f"cisreg: the fitted model explains nothing: {report['degenerate']['reason']}; the model was written; "
              f"{report['degenerate']['advice']}", file=sys.stderr)
        return EXIT_DEGENERATE
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .commands._output import check_not_an_input
    from .data.store import predict_file
    from .models.io import load_model

    out = Path(args.out)
    check_not_an_input(out, [args.data, args.model_dir])
    model = load_model(args.model_dir)
    n, cols = predict_file(model, args.data, out, x_col=args.x_col, n_threads=args.threads)  # streams, in chunks
    print(f"wrote {n} predictions ({', '.join(cols)}) to {out}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .models.io import load_model, read_json_checked
    from .training.report import summary_lines

    d = Path(args.model_dir)
    model = load_model(d)
    report_path = d / "report.json"
    report = read_json_checked(report_path) if report_path.exists() else None
    from .training.report import params_hash

    stale = (isinstance(report, dict) and isinstance(report.get("model"), dict)
             and report["model"].get("params_sha256") not in (None, params_hash(model.theta)))
    if stale:
        print(f"cisreg: warning: {report_path} describes other parameters than params.npz (a fit was stopped "
              "between its writes); its figures are not this model's - fit again to renew it", file=sys.stderr)
        report = None
    if args.json:
        th = model.get_theta()
        doc = {"model": model.spec.to_dict(), "metadata": model.metadata, "report": report,
               "parameters_kT_uniform_gauge": {
                   "energies": {k: v.to_numpy().tolist() for k, v in th["energies"].items()},
                   "offsets": th["offsets"], "interactions": th["interactions"], "log_rates": th["log_rates"]}}
        print(json.dumps(doc, indent=2, allow_nan=False, default=float))
        return 0
    print(repr(model))
    if report is not None:
        try:
            lines = summary_lines(report)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            lines = [f"  ({report_path} is not a report this version of cisreg can summarise; see --json)"]
        for line in lines:
            print(line)
    else:
        th = model.get_theta(units="kcal/mol")
        for k, v in th["interactions"].items():
            print(f"  {k} = {v:+.2f} kcal/mol")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ._signals import handled

    try:
        # SIGINT and SIGTERM: KeyboardInterrupt, exit status 130 (recorded, so that a reader
        # never reports an interrupted read as a bad file)
        with handled():
            if args.command == "fit":
                return cmd_fit(args)
            if args.command == "predict":
                return cmd_predict(args)
            if args.command == "info":
                return cmd_info(args)
            return int(args.run(args))
    except KeyboardInterrupt:
        print("cisreg: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `cisreg info DIR --json | head`
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 0
    except (ValueError, OSError, MemoryError) as e:  # InputError is a ValueError
        if getattr(args, "debug", False):
            raise
        msg = str(e).replace("\n", " ")
        print(f"cisreg: error: {msg}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
