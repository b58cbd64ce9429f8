"""``cisreg scan DIR --wt SEQ [--doubles] --out FILE``: every single (and double) mutant of a
wild type through a fitted model (see :func:`cisreg.scan` for the columns)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from ._output import add_table_options

    p: argparse.ArgumentParser = sub.add_parser(
        "scan", help="predict the effect of every single (and double) mutant of a wild type",
        description="Predict phi, its change, the change of every site energy and the state probabilities of every "
                    "single mutant (and with --doubles every double mutant, with its epistasis) of a wild type.")
    p.add_argument("model_dir", metavar="DIR", help="model directory (from cisreg fit)")
    p.add_argument("--wt", metavar="SEQ", required=True, help="the wild-type sequence (the model's length and "
                                                             "alphabet)")
    p.add_argument("--doubles", action="store_true", help="also every double mutant")
    p.add_argument("--yhat", action=argparse.BooleanOptionalAction, default=None,
                   help="add the measurement's prediction (default: for GE and counts models; for sort-seq "
                        "models --yhat adds the mean bin ybar, which is slower)")
    add_table_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    from ..models.io import load_model
    from ..variants import scan
    from ._output import check_table_path, write_table

    check_table_path(args.out)
    model = load_model(args.model_dir)
    df = scan(model, args.wt, doubles=args.doubles, yhat=args.yhat, n_threads=args.threads, dtype=args.precision)
    write_table(df, args.out)
    n1 = int((df["n_mut"] == 1).sum())
    what = f"{n1:,} single" + (f" and {len(df) - n1:,} double" if args.doubles else "")
    print(f"phi of the wild type: {df.attrs['phi_wt']:.6g}")
    if len(df):
        import numpy as np

        dphi = df["dphi"].to_numpy()
        best, worst = df.iloc[int(np.argmax(dphi))], df.iloc[int(np.argmin(dphi))]
        print(f"largest increase: {best['mutations']} (dphi = {best['dphi']:+.4g}); largest decrease: "
              f"{worst['mutations']} (dphi = {worst['dphi']:+.4g})")
    print(f"wrote {what} mutants ({', '.join(df.columns)}) to {args.out}")
    return 0
