"""``cisreg fit-many JOBS.toml --out DIR [--scheduler ADDRESS|local]``: many fits on a Dask
cluster, one model directory per job, resumable (see :mod:`cisreg.scaleout.jobs` for the
job file)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from ..cli import _positive_int

    p: argparse.ArgumentParser = sub.add_parser(
        "fit-many", help="run the fits of a job file on a Dask cluster (resumable), one model directory per job")
    p.add_argument("jobs", metavar="JOBS", help="job file (TOML or JSON): [defaults] and [[job]] tables")
    p.add_argument("--out", metavar="DIR", required=True, help="writes DIR/<job name>/ and DIR/summary.csv")
    p.add_argument("--scheduler", default="local", metavar="ADDRESS|local",
                   help="a Dask scheduler address (tcp://host:8786), or 'local' for a LocalCluster sized to this "
                        "machine (default)")
    p.add_argument("--workers", type=_positive_int, default=None, help="local: worker processes (default: cores / "
                                                                       "threads per worker)")
    p.add_argument("--threads-per-worker", type=_positive_int, default=None,
                   help="kernel threads of each job (default 1 locally; on a cluster the workers' OMP_NUM_THREADS)")
    p.add_argument("--retries", type=int, default=1, help="retries of a job whose worker died (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    return p


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..scaleout.jobs import fit_many, read_jobs

    try:
        import distributed
    except ImportError:
        raise InputError('fit-many needs Dask: pip install "cisreg[dask]"') from None
    jobs = read_jobs(args.jobs)
    client = None
    if args.scheduler != "local":
        client = distributed.Client(args.scheduler)
    try:
        table = fit_many(jobs, args.out, client=client, n_workers=args.workers,
                         threads_per_worker=args.threads_per_worker, progress=not args.quiet, retries=args.retries)
    finally:
        if client is not None:
            client.close()
    cols = [c for c in ("name", "status", "test_I_pred_bits", "wall_s", "error") if c in table]
    if not args.quiet:
        print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    failed = int((table["status"] == "failed").sum())
    print(f"{len(table) - failed} of {len(table)} jobs complete; wrote {args.out}/summary.csv", file=sys.stderr)
    return 1 if failed else 0
