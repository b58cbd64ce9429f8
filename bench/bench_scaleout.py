"""Scale-out with Dask, timed against the serial path in the same run.

Cases, each one JSON line:

- ``fit_many``: ``J`` lac jobs (the bundled data, a different subsample and seed per job),
  run one after another in this process (``workers`` = 0: the serial baseline, each job
  with one kernel thread) and by :func:`cisreg.fit_many` on a LocalCluster of 1 and 2
  workers (one kernel thread each). Fields: ``models_per_min``, ``ratio_vs_serial``.
- ``dataparallel``: :func:`cisreg.scaleout.fit_partitioned` of the lac model on the bundled
  data repeated to ``--dp-rows`` rows and cut into ``P`` partitions (stores on disk, as
  `cisreg convert` writes them; each worker opens its own): ``E`` Adam epochs
  (minibatch ``--dp-batch``) and ``E`` full-batch L-BFGS iterations, in this process
  (``workers`` = 0) and on 1 and 2 workers; the bench checks that the parameters are
  bit-identical to the serial fit's. Fields: ``s_per_epoch``, ``ratio_vs_serial``.

    python bench/bench_scaleout.py [--jobs 6] [--rows 20000] [--epochs 40] [--dp-rows 1000000]
        [--workers 1,2] [--only fit_many|dataparallel] [--json PATH]

On a 2-core machine two workers can at best halve the time; the cluster's start-up is
timed too (``startup_s``) but not counted in the throughput. Compare numbers from one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import cisreg
from _common import Reporter
from cisreg.scaleout import Job, fit_many, fit_partitioned, local_client
from cisreg.scaleout.jobs import run_job


def _jobs(data: cisreg.Dataset, n_jobs: int, rows: int, epochs: int, tmp: str) -> list[Job]:
    """One table per job (a subsample of the lac data), written once, so that every path
    (serial and cluster) reads the same files."""
    jobs = []
    for j in range(n_jobs):
        rng = np.random.default_rng(j)
        sub = data.subset(np.sort(rng.choice(data.n, size=min(rows, data.n), replace=False)))
        path = os.path.join(tmp, f"lac_{j}.csv.gz")
        _write(sub, path)
        jobs.append(Job(name=f"lac_{j}", data=path, model="lac",
                        settings={"epochs": epochs, "seed": j, "batch_size": 500}))
    return jobs


def _write(data: cisreg.Dataset, path: str) -> None:
    import pandas as pd

    set_names = np.array(["training", "validation", "test"])
    assert data.counts is not None
    df = pd.DataFrame({"x": data.x, **{f"ct_{i}": data.counts[:, i].astype(np.int64)
                                        for i in range(data.counts.shape[1])},
                       "set": set_names[data.split]})
    df.to_csv(path, index=False)


def bench_fit_many(rep: Reporter, data: cisreg.Dataset, args: argparse.Namespace) -> None:
    tmp = tempfile.mkdtemp(prefix="cisreg-bench-")
    try:
        jobs = _jobs(data, args.jobs, args.rows, args.epochs, tmp)
        t0 = time.perf_counter()
        for j in jobs:
            row = run_job(j, os.path.join(tmp, "serial", j.name), n_threads=1)
            if row["status"] == "failed":
                raise SystemExit(f"serial job {j.name} failed: {row['error']}")
        serial = time.perf_counter() - t0
        rep.emit({"bench": "fit_many", "workers": 0, "jobs": len(jobs), "rows": args.rows, "epochs": args.epochs,
                  "median_s": serial, "models_per_min": 60 * len(jobs) / serial, "ratio_vs_serial": 1.0,
                  "startup_s": 0.0})
        for w in args.workers:
            t0 = time.perf_counter()
            client = local_client(n_workers=w, threads_per_worker=1)
            startup = time.perf_counter() - t0
            try:
                t0 = time.perf_counter()
                table = fit_many(jobs, os.path.join(tmp, f"w{w}"), client=client, progress=False)
                wall = time.perf_counter() - t0
            finally:
                client.close()
                client.cluster.close()
            failed = [r for r in table.to_dict("records") if r["status"] == "failed"]
            if failed:
                raise SystemExit(f"fit_many on {w} worker(s): {failed[0]['name']} {failed[0]['error']}")
            rep.emit({"bench": "fit_many", "workers": w, "jobs": len(jobs), "rows": args.rows,
                      "epochs": args.epochs, "median_s": wall, "models_per_min": 60 * len(jobs) / wall,
                      "ratio_vs_serial": serial / wall, "startup_s": startup})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_dataparallel(rep: Reporter, data: cisreg.Dataset, args: argparse.Namespace) -> None:
    from cisreg.data.store import save_store

    rng = np.random.default_rng(0)
    order = rng.permutation(np.resize(np.arange(data.n), args.dp_rows))  # the lac rows, repeated to dp_rows
    tmp = tempfile.mkdtemp(prefix="cisreg-bench-")
    parts = []  # stores on disk, as a user would partition a library: the workers open them
    for i, p in enumerate(np.array_split(order, args.partitions)):
        parts.append(str(save_store(data.subset(np.sort(p)), os.path.join(tmp, f"part{i}"), aggregate=False)))
    try:
        _dataparallel_cases(rep, parts, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _dataparallel_cases(rep: Reporter, parts: list[str], args: argparse.Namespace) -> None:
    cases = [("adam", dict(method="adam", epochs=args.dp_epochs, patience=args.dp_epochs + 1,
                           batch_size=args.dp_batch)),
             ("lbfgs", dict(method="lbfgs", maxiter=args.dp_epochs))]
    for method, kw in cases:
        t0 = time.perf_counter()
        ref = fit_partitioned(parts, "lac", n_threads=1, seed=1, dtype="float32", **kw)
        serial = time.perf_counter() - t0
        base = {"bench": "dataparallel", "method": method, "partitions": args.partitions, "n": args.dp_rows,
                "epochs_or_iterations": args.dp_epochs, "batch_size": args.dp_batch if method == "adam" else None}
        rep.emit({**base, "workers": 0, "median_s": serial, "s_per_epoch": serial / args.dp_epochs,
                  "ratio_vs_serial": 1.0, "identical_to_serial": True})
        for w in args.workers:
            client = local_client(n_workers=w, threads_per_worker=1)
            try:
                t0 = time.perf_counter()
                res = fit_partitioned(parts, "lac", client=client, seed=1, dtype="float32", **kw)
                wall = time.perf_counter() - t0
            finally:
                client.close()
                client.cluster.close()
            rep.emit({**base, "workers": w, "median_s": wall, "s_per_epoch": wall / args.dp_epochs,
                      "ratio_vs_serial": serial / wall,
                      "identical_to_serial": bool(np.array_equal(res.model.theta, ref.model.theta))})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=6)
    ap.add_argument("--rows", type=int, default=20000, help="rows of the lac data per job")
    ap.add_argument("--epochs", type=int, default=40, help="epochs per fit_many job")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--dp-epochs", type=int, default=3, help="Adam epochs / L-BFGS iterations of the data-parallel fit")
    ap.add_argument("--dp-rows", type=int, default=1_000_000, help="rows of the data-parallel fit (lac rows repeated)")
    ap.add_argument("--dp-batch", type=int, default=10_000, help="Adam minibatch of the data-parallel fit")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--only", choices=("fit_many", "dataparallel"), default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    args.workers = [int(w) for w in args.workers.split(",") if w]
    rep = Reporter(args.json)
    data = cisreg.load_example("lac-sortseq")
    if args.only in (None, "fit_many"):
        bench_fit_many(rep, data, args)
    if args.only in (None, "dataparallel"):
        bench_dataparallel(rep, data, args)
    rep.close()


if __name__ == "__main__":
    main()
