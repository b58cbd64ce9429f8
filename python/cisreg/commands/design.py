"""``cisreg design DIR --wt SEQ --target PHI|max|min --out FILE``: mutants of a wild type whose
predicted activity hits a target, or is maximal / minimal, within a budget of mutations (see
:func:`cisreg.design` and :mod:`cisreg.variants.optimise` for the optimiser)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from ..cli import _arg, _positive_int
    from ..variants import optimise as opt
    from ._output import add_table_options

    cooling = _arg(float, lambda v: 0 < v <= 1, "a number in (0, 1]")
    nonneg = _arg(int, lambda v: v >= 0, "an integer >= 0")
    p: argparse.ArgumentParser = sub.add_parser(
        "design", help="design mutants of a wild type that reach a target activity (or max / min)",
        description="Design sequences within --max-mutations of a wild type whose predicted phi is as close as "
                    "possible to --target (or as high / low as possible): exhaustive search of small spaces, "
                    "otherwise a batched greedy beam search followed by simulated annealing with geometric "
                    "cooling.")
    p.add_argument("model_dir", metavar="DIR", help="model directory (from cisreg fit)")
    p.add_argument("--wt", metavar="SEQ", required=True, help="the wild-type sequence")
    p.add_argument("--target", metavar="PHI|max|min", required=True,
                   help="the phi to reach, or max / min")
    p.add_argument("--max-mutations", metavar="K", type=int, default=3,
                   help="at most K mutations from the wild type (default 3)")
    p.add_argument("--n", type=_positive_int, default=10, help="distinct designs to return (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--chains", type=_positive_int, default=opt.DEFAULT_CHAINS,
                   help=f"annealing chains (default {opt.DEFAULT_CHAINS})")
    p.add_argument("--steps", type=nonneg, default=opt.DEFAULT_STEPS,
                   help=f"annealing steps (default {opt.DEFAULT_STEPS}; 0: greedy only)")
    p.add_argument("--beam", type=_positive_int, default=opt.DEFAULT_BEAM,
                   help=f"greedy beam width (default {opt.DEFAULT_BEAM})")
    p.add_argument("--cooling", type=cooling, default=opt.DEFAULT_COOLING,
                   help=f"final / initial annealing temperature (default {opt.DEFAULT_COOLING:g})")
    p.add_argument("--exhaustive-limit", type=nonneg, default=opt.DEFAULT_EXHAUSTIVE_LIMIT,
                   help=f"search exhaustively when at most this many sequences lie within the budget "
                        f"(default {opt.DEFAULT_EXHAUSTIVE_LIMIT:,}; 0: never)")
    add_table_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    from ..models.io import load_model
    from ..variants import design
    from ..variants.optimise import _check_target
    from ._output import check_table_path, write_table

    check_table_path(args.out)
    _check_target(args.target)  # before loading the model
    model = load_model(args.model_dir)
    df = design(model, args.wt, target=args.target, max_mutations=args.max_mutations, n=args.n, rng=args.seed,
                chains=args.chains, steps=args.steps, beam=args.beam, cooling=args.cooling,
                exhaustive_limit=args.exhaustive_limit, n_threads=args.threads, dtype=args.precision)
    write_table(df, args.out)
    a = df.attrs
    print(f"phi of the wild type: {a['phi_wt']:.6g}; target: {a['target']}; at most {a['max_mutations']} "
          f"mutation(s); {a['method']}, {a['evaluated']:,} sequences evaluated")
    for r in df.head(5).itertuples(index=False):
        err = f", |phi - target| = {r.abs_error:.3g}" if "abs_error" in df.columns else ""
        print(f"  {r.rank:>3}. {r.mutations or '(wild type)'}: phi = {r.phi:.6g} (dphi = {r.dphi:+.4g}{err})")
    print(f"wrote {len(df)} designs ({', '.join(df.columns)}) to {args.out}")
    return 0
