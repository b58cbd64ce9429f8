"""Library-scale data: convert, one epoch of Adam over a store, and streaming predict at
10^6, 10^7 (and with ``--max 1e8``, 10^8) sequences.

Generates a synthetic sort-seq library (75 bp, 10 bins, a mutagenised lac promoter,
1-3 reads per sequence in bins drawn from the lac model's phi) in chunks, written as
Parquet (default) or gzipped CSV, then times each step in its own process and reports
its peak memory: ``peak_rss_mb`` is ``ru_maxrss`` of the step's process (read through
``resource.getrusage(RUSAGE_CHILDREN)`` by a wrapper process whose only child it is;
it counts the pages of memory-mapped files the step touched), and ``peak_anon_mb`` is
the peak of its anonymous (heap) memory, sampled from /proc every 20 ms.

    python bench/bench_scale.py                      # 10^6 and 10^7
    python bench/bench_scale.py --sizes 1e5 --quick  # a smoke test
    python bench/bench_scale.py --max 1e8            # also 10^8 (~8 GB of codes, ~10 GB of input)
    python bench/bench_scale.py --format csv.gz --json out.jsonl --workdir /big/tmp

One JSON line per (step, n): {bench: "scale_<step>", n, L, bins, format, threads,
wall_s, peak_rss_mb, peak_anon_mb, bytes, ...}; finally one "scale_growth" line with the
exponent b of wall_s ~ n^b and peak_anon_mb ~ n^b between the two largest sizes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

from _common import Reporter

L, BINS = 75, 10
CHUNK = 1 << 20


# --------------------------------------------------------------------------
# the steps (each runs in its own process)


def _anon_kb() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class _AnonPeak:
    def __init__(self) -> None:
        self.peak = _anon_kb()
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, _anon_kb())

    def done(self) -> float:
        self.stop.set()
        self.t.join()
        return max(self.peak, _anon_kb()) / 1024.0


def step_generate(n: int, path: Path, fmt: str, seed: int, threads: int) -> dict:
    import numpy as np
    import pandas as pd

    import cisreg
    from cisreg.data import decode

    rng = np.random.default_rng(seed)
    model = cisreg.Model(cisreg.preset("lac"), seed=1)
    wt = rng.integers(0, 4, L).astype(np.uint8)
    writer = None
    fh = None
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq
    else:
        import gzip

        fh = gzip.open(path, "wt", compresslevel=1, newline="")  # noqa: SIM115 - closed below
    done = 0
    try:
        while done < n:
            m = min(CHUNK, n - done)
            codes = np.repeat(wt[None, :], m, axis=0)
            mut = rng.random((m, L)) < 0.12
            codes[mut] = (codes[mut] + rng.integers(1, 4, int(mut.sum()))) % 4
            phi = model.x_to_phi(codes, n_threads=threads)
            z = (phi - phi.mean()) / (phi.std() + 1e-12)
            mu = np.clip(4.5 + 2.0 * z, 0, BINS - 1)
            counts = np.zeros((m, BINS), dtype=np.int64)
            reads = rng.integers(1, 4, m)
            for r in range(3):
                b = np.clip(np.rint(mu + rng.normal(0, 1.2, m)), 0, BINS - 1).astype(np.int64)
                np.add.at(counts, (np.arange(m), b), (reads > r).astype(np.int64))
            x = decode(codes, "ACGT")
            cols = {"x": x, **{f"ct_{i}": counts[:, i] for i in range(BINS)}}
            if fmt == "parquet":
                table = pa.table({"x": pa.array(x.astype(object)), **{k: pa.array(v) for k, v in cols.items()
                                                                     if k != "x"}})
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema, compression="snappy")
                writer.write_table(table)
            else:
                pd.DataFrame(cols).to_csv(fh, index=False, header=done == 0)
            done += m
    finally:
        if writer is not None:
            writer.close()
        if fh is not None:
            fh.close()
    return {"bytes": path.stat().st_size}


def step_convert(path: Path, store: Path) -> dict:
    import warnings

    from cisreg.data.store import convert

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        convert(path, store)
    return {"bytes": sum(f.stat().st_size for f in store.iterdir())}


def step_epoch(store: Path, model_dir: Path, threads: int) -> dict:
    import cisreg
    from cisreg.data.store import open_store

    ds = open_store(store)
    t0 = time.perf_counter()
    res = cisreg.fit(ds, cisreg.preset("lac"), epochs=1, quiet=True, n_threads=threads, seed=0)
    wall = time.perf_counter() - t0
    res.model.save(model_dir)
    return {"fit_s": wall, "train_rows": int((ds.split == 0).sum()), "val_nll_per_read": res.best_val_nll,
            "batch_size": res.settings["batch_size"]}


def step_predict(store: Path, model_dir: Path, out: Path, threads: int) -> dict:
    from cisreg.data.store import predict_file
    from cisreg.models.io import load_model

    n, _ = predict_file(load_model(model_dir), store, out, n_threads=threads)
    return {"rows": n, "bytes": out.stat().st_size}


def child(argv: list[str]) -> None:
    """Run one step in this process; print its result as JSON on the last line."""
    name, args = argv[0], json.loads(argv[1])
    peak = _AnonPeak()
    t0 = time.perf_counter()
    fn = {"generate": step_generate, "convert": step_convert, "epoch": step_epoch, "predict": step_predict}[name]
    out = fn(**{k: Path(v) if k in ("path", "store", "model_dir", "out") else v for k, v in args.items()})
    out["wall_s"] = time.perf_counter() - t0
    out["peak_anon_mb"] = peak.done()
    print(json.dumps(out))


def wrapper(argv: list[str]) -> None:
    """Run one step as this process's only child; add its ru_maxrss."""
    import resource

    p = subprocess.run([sys.executable, __file__, "--child", *argv], capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit(p.returncode)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    print(json.dumps(out))


def run_step(name: str, **args: object) -> dict:
    enc = json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in args.items()})
    p = subprocess.run([sys.executable, __file__, "--wrap", name, enc], capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-4000:])
        raise SystemExit(f"step {name} failed")
    return dict(json.loads(p.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "--wrap":
        return wrapper(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e6,1e7", help="comma-separated N (default 1e6,1e7)")
    ap.add_argument("--max", type=float, default=None, help="also every power of ten above the sizes up to this")
    ap.add_argument("--format", choices=("parquet", "csv.gz"), default="parquet")
    ap.add_argument("--predict-format", choices=("csv", "npy", "parquet"), default="csv",
                    help="the file streaming predict writes (default csv)")
    ap.add_argument("--threads", type=int, default=None, help="kernel threads (default: all cores)")
    ap.add_argument("--workdir", default=None, help="scratch directory (default: $TMPDIR/cisreg-bench-scale)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--quick", action="store_true", help="only 10^5 rows (a smoke test)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    import tempfile

    from cisreg import effective_n_threads

    sizes = [int(float(s)) for s in ("1e5" if a.quick else a.sizes).split(",")]
    if a.max:
        k = round(math.log10(max(sizes))) + 1
        while 10**k <= a.max:
            sizes.append(10**k)
            k += 1
    threads = effective_n_threads(a.threads)
    work = Path(a.workdir or Path(tempfile.gettempdir()) / "cisreg-bench-scale")
    work.mkdir(parents=True, exist_ok=True)
    rep = Reporter(a.json)
    base = {"L": L, "bins": BINS, "format": a.format, "predict_format": a.predict_format, "threads": threads}
    results: dict[str, dict[int, dict]] = {}
    for n in sizes:
        need = n * (L + 60) * 2.5  # input + store + predictions, with room
        free = shutil.disk_usage(work).free
        if free < need:
            rep.emit({"bench": "scale_skipped", "n": n, "reason": f"{free / 1e9:.0f} GB free in {work}, need "
                                                                   f"~{need / 1e9:.0f} GB"})
            continue
        data = work / f"lib_{n}.{a.format}"
        store, model_dir, pred = work / f"store_{n}", work / f"model_{n}", work / f"pred_{n}.{a.predict_format}"
        steps = [("generate", dict(n=n, path=data, fmt=a.format, seed=n % 1000, threads=threads)),
                 ("convert", dict(path=data, store=store)),
                 ("epoch", dict(store=store, model_dir=model_dir, threads=threads)),
                 ("predict", dict(store=store, model_dir=model_dir, out=pred, threads=threads))]
        for name, args in steps:
            if name == "generate" and data.exists() and a.keep:
                continue
            r = run_step(name, **args)
            results.setdefault(name, {})[n] = r
            rep.emit({"bench": f"scale_{name}", "n": n, **base, **r})
        if not a.keep:
            for p in (data, pred):
                p.unlink(missing_ok=True)
            for d in (store, model_dir):
                shutil.rmtree(d, ignore_errors=True)
    done = sorted({n for r in results.values() for n in r})
    if len(done) >= 2:
        n0, n1 = done[-2], done[-1]
        growth = {}
        for name, r in results.items():
            if n0 in r and n1 in r:
                for key in ("wall_s", "peak_anon_mb", "peak_rss_mb"):
                    v0, v1 = r[n0][key], r[n1][key]
                    if v0 > 0 and v1 > 0:
                        growth[f"{name}_{key}_exponent"] = round(math.log(v1 / v0) / math.log(n1 / n0), 3)
        rep.emit({"bench": "scale_growth", "n_from": n0, "n_to": n1, **base, **growth})
    rep.close()


if __name__ == "__main__":
    main()
