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
    p.add_argument("--format", choices=("table", "mavedb"), default="table",
                   help="table: every column (default); mavedb: a score set of the predictions named in HGVS "
                        "(hgvs_pro for protein models, hgvs_nt for DNA), score = yhat where the measurement "
                        "predicts one, else phi")
    p.add_argument("--hgvs-prefix", choices=("c", "n", "g"), default="n",
                   help="with --format mavedb and a DNA model: the HGVS coordinate prefix (default n: non-coding)")
    add_table_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    from ..models.io import load_model
    from ..variants import scan
    from ._output import check_table_path, write_table

    check_table_path(args.out)
    model = load_model(args.model_dir)
    df = scan(model, args.wt, doubles=args.doubles, yhat=args.yhat, n_threads=args.threads, dtype=args.precision)
    write_table(mavedb_table(df, model, args.hgvs_prefix) if args.format == "mavedb" else df, args.out)
    n1 = int((df["n_mut"] == 1).sum())
    what = f"{n1:,} single" + (f" and {len(df) - n1:,} double" if args.doubles else "")
    print(f"phi of the wild type: {df.attrs['phi_wt']:.6g}")
    if len(df):
        import numpy as np

        dphi = df["dphi"].to_numpy()
        best, worst = df.iloc[int(np.argmax(dphi))], df.iloc[int(np.argmin(dphi))]
        print(f"largest increase: {best['mutations']} (dphi = {best['dphi']:+.4g}); largest decrease: "
              f"{worst['mutations']} (dphi = {worst['dphi']:+.4g})")
    cols = "HGVS names and predicted scores" if args.format == "mavedb" else ", ".join(df.columns)
    print(f"wrote {what} mutants ({cols}) to {args.out}")
    return 0


def mavedb_table(df: Any, model: Any, prefix: str) -> Any:
    """A scan as a MaveDB-style score set: the HGVS name of each mutant, its score (the
    measurement's prediction yhat where there is one, else phi), phi and dphi."""
    import pandas as pd

    from ..data.alphabet import resolve_alphabet
    from ..data.mavedb import hgvs_names
    from ..errors import InputError

    if model.alphabet == resolve_alphabet("protein"):
        kind, col = "protein", "hgvs_pro"
    elif model.alphabet == resolve_alphabet("dna"):
        kind, col = "dna", "hgvs_nt"
    else:
        raise InputError(f"--format mavedb needs a DNA (ACGT) or protein model; this model's alphabet is "
                         f"{model.alphabet}")
    muts = []
    for row in df.itertuples(index=False):
        m = [(int(row.pos_1), str(row.wt_1), str(row.mut_1))]
        if getattr(row, "n_mut", 1) == 2:
            m.append((int(row.pos_2), str(row.wt_2), str(row.mut_2)))
        muts.append(m)
    score = df["yhat"] if "yhat" in df.columns else df["phi"]
    return pd.DataFrame({col: hgvs_names(muts, kind, prefix), "score": score.to_numpy(),
                         "phi": df["phi"].to_numpy(), "dphi": df["dphi"].to_numpy()})
