"""``cisreg plot DIR``: figures of a fitted model directory.

Writes into ``--out`` (default ``DIR/figures``): ``logos.png`` (every site's energy logo),
``pairs_<site>.png`` (pair energies of neighbour / pairwise sites), ``training.png`` (from
report.json), ``measurement.png`` (phi against the measurement on the held-out rows),
``landscape.png`` (state probabilities along phi) and, for kinetic models,
``state_graph.png``. The data are the ones the fit used (report.json names them) unless
``--data`` or ``--example`` says otherwise. matplotlib is imported here, never by
``cisreg --help``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

FIGURES = ("logos", "pairs", "training", "measurement", "landscape", "graph")
#: Sequences the landscape is drawn on at most (a fixed subsample of the split beyond that).
LANDSCAPE_MAX = 20_000


def _figures(text: str) -> tuple[str, ...]:
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [n for n in names if n not in FIGURES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(FIGURES)}; got {text!r}")
    return names


def _formats(text: str) -> tuple[str, ...]:
    names = tuple(t.strip().lower().lstrip(".") for t in text.split(",") if t.strip())
    bad = [n for n in names if n not in ("png", "svg", "pdf")]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"expected png, svg or pdf (comma-separated for several); got {text!r}")
    return names


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "plot", help="draw a fitted model: energy logos, training curves, phi against the data, state landscape, "
                     "kinetic state graph")
    p.add_argument("model_dir", metavar="DIR", help="model directory written by `cisreg fit`")
    p.add_argument("--out", metavar="DIR", help="directory for the figures (default DIR/figures)")
    p.add_argument("--data", metavar="TABLE", help="data table for the data figures (default: the table the fit "
                                                   "used, as report.json names it)")
    p.add_argument("--example", metavar="NAME", help="use a bundled data set instead (lac-sortseq)")
    p.add_argument("--x-col", default="x", help="sequence column of --data (default x)")
    p.add_argument("--split", default="test", choices=("training", "validation", "test", "all"),
                   help="rows the data figures show (default test: held out from the fit)")
    p.add_argument("--only", type=_figures, default=FIGURES, metavar="LIST",
                   help=f"figures to draw, comma-separated (default all: {','.join(FIGURES)})")
    p.add_argument("--format", type=_formats, default=("png",), metavar="FMT",
                   help="png, svg or pdf; comma-separated for several (default png)")
    p.add_argument("--gauge", choices=("uniform", "wt", "empirical"), default="uniform",
                   help="gauge of the energy logos: uniform (zero mean per position, default), wt (relative to the "
                        "reference sequence: --x-wt, else the library's consensus from report.json) or empirical "
                        "(weighted by the data's letter frequencies)")
    p.add_argument("--x-wt", metavar="SEQ", help="reference sequence (gauge wt, kinetic rates, landscape without "
                                                 "data)")
    p.add_argument("--units", choices=("kT", "kcal/mol"), default="kT", help="energy units (default kT)")
    p.add_argument("--temperature", type=float, default=37.0, help="°C for kcal/mol (default 37)")
    p.add_argument("--dpi", type=int, default=150, help="resolution of PNG files (default 150)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the random split of a table without a set column (default: the fit's)")
    p.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    return p


def _note(args: argparse.Namespace, msg: str) -> None:
    if not args.quiet:
        print(f"note: {msg}", file=sys.stderr)


def _load_data(args: argparse.Namespace, model: Any, report: dict[str, Any] | None) -> Any:
    """The Dataset of the data figures, or None (with a note) when there is none to use."""
    from ..data.readers import load_example, read_table
    from ..errors import DataWarning, InputError

    if args.data is not None and args.example is not None:
        raise InputError("give at most one of --data and --example")
    seed = args.seed if args.seed is not None else int((report or {}).get("fit", {}).get("seed", 0) or 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        if args.example is not None:
            return load_example(args.example)
        if args.data is not None:
            return read_table(args.data, x_col=args.x_col, alphabet=model.alphabet, seed=seed)
        source = (report or {}).get("data", {}).get("source")
        if not source or not Path(str(source)).is_file():
            _note(args, "no data for the data figures (report.json names none that exists); give --data TABLE")
            return None
        try:
            return read_table(source, x_col=args.x_col, alphabet=model.alphabet, seed=seed)
        except (ValueError, OSError) as e:
            _note(args, f"the fit's data ({source}) could not be read again ({e}); give --data TABLE")
            return None


def run(args: argparse.Namespace) -> int:
    from .. import plot as P
    from ..plot._base import PlotDependencyError, require

    try:
        require(logos="logos" in args.only)
    except PlotDependencyError as e:
        print(f"cisreg: error: {e}", file=sys.stderr)
        return 2
    import matplotlib

    matplotlib.use("Agg")  # files only: never a display
    from ..models.io import load_model, read_json_checked

    d = Path(args.model_dir)
    model = load_model(d)
    report = read_json_checked(d / "report.json") if (d / "report.json").is_file() else None
    out = Path(args.out) if args.out else d / "figures"
    out.mkdir(parents=True, exist_ok=True)
    ref = args.x_wt or ((report or {}).get("parameters", {}).get("reference", {}).get("reference_sequence"))
    data = None
    if {"measurement", "landscape"} & set(args.only) or args.gauge == "empirical":
        data = _load_data(args, model, report)
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        for fmt in args.format:
            written.append(P.save_figure(fig, out / f"{name}.{fmt}", dpi=args.dpi))

    gauge_kw: dict[str, Any] = {"gauge": args.gauge, "units": args.units, "temperature_c": args.temperature}
    if args.gauge == "wt":
        if ref is None:
            from ..errors import InputError

            raise InputError("--gauge wt needs a reference sequence: give --x-wt SEQ (report.json has none)")
        gauge_kw["x_wt"] = ref
    elif args.gauge == "empirical":
        if data is None:
            from ..errors import InputError

            raise InputError("--gauge empirical needs the data's sequences: give --data TABLE")
        gauge_kw["x_library"] = data.codes[data.indices("training")]
    if "logos" in args.only:
        save(P.logos(model, **gauge_kw), "logos")
    if "pairs" in args.only:
        for s in model.spec.sites:
            if s.energy != "additive":
                save(P.pair_heatmap(model, s.name, **gauge_kw), f"pairs_{s.name}")
    if "training" in args.only:
        if report is None:
            _note(args, f"no training curves: {d}/report.json is missing")
        else:
            save(P.training(report), "training")
    rows: Any = None
    if data is not None:
        import numpy as np

        rows = np.arange(data.n) if args.split == "all" else data.indices(args.split)
        if len(rows) == 0:
            _note(args, f"the data have no {args.split} rows; the data figures use all rows")
            rows = np.arange(data.n)
    if "measurement" in args.only:
        if data is None:
            _note(args, "no measurement figure: no data")
        else:
            targets = model.targets_of(data)[rows]
            phi = model.x_to_phi(data.codes[rows], n_threads=args.threads)
            label = "all rows" if len(rows) == data.n and args.split == "all" else f"{args.split} rows"
            save(P.phi_vs_measurement(model, phi, targets, label=label), "measurement")
    if "landscape" in args.only:
        if data is not None:
            import numpy as np

            sub = rows
            if len(sub) > LANDSCAPE_MAX:
                sub = np.sort(np.random.default_rng(0).choice(sub, LANDSCAPE_MAX, replace=False))
            save(P.landscape(model, data.codes[sub], n_threads=args.threads, label=f"{args.split} rows"),
                 "landscape")
        else:
            save(P.landscape(model, x_ref=ref, n_threads=args.threads), "landscape")
    if "graph" in args.only and model.spec.kind == "kinetic":
        save(P.state_graph(model, x_ref=ref), "state_graph")
    if not args.quiet:
        for p in written:
            print(f"wrote {p}")
    return 0

