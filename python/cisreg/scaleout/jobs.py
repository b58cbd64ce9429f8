"""Many independent fits on a Dask cluster: :func:`fit_many` and the job file format.

A job file (TOML, or JSON with the same structure) lists jobs; ``[defaults]`` apply to
every job unless it sets the key itself::

    [defaults]
    model = "lac"          # a built-in name or a model file (relative to the job file)
    epochs = 200
    seed = 0

    [[job]]
    name = "promoter_1"
    data = "data/promoter_1.csv.gz"     # a table, or a directory written by `cisreg convert`

    [[job]]
    name = "promoter_2_glucose"
    data = "data/promoter_2.csv.gz"
    model = "models/promoter_2.json"
    restarts = 3

Keys of a job: ``name`` (required, unique; its model directory is ``OUT/name``),
``data`` (required), ``model``, the settings of :func:`cisreg.fit` (epochs, batch_size,
learning_rate, l2, patience, restarts, seed, dtype, bootstrap, laplace) and the reading
options of :func:`cisreg.read_table` (x_col, alphabet).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["FIT_KEYS", "READ_KEYS", "Job", "fit_many", "job_is_complete", "local_client", "read_jobs", "run_job"]

#: Settings of a job passed to cisreg.fit.
FIT_KEYS = ("epochs", "batch_size", "learning_rate", "l2", "patience", "restarts", "seed", "dtype", "bootstrap",
            "laplace")
#: Settings of a job passed to cisreg.read_table.
READ_KEYS = ("x_col", "alphabet")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Job:
    """One fit: ``data`` (a table path, a `cisreg convert` directory or a Dataset),
    ``model`` (a model-file dict, built-in name, path or ModelSpec), the keyword
    arguments of :func:`cisreg.fit` in ``settings`` and of :func:`cisreg.read_table` in
    ``read``. Its model directory is ``OUT/name``."""

    name: str
    data: Any
    model: Any = "lac"
    settings: dict[str, Any] = field(default_factory=dict)
    read: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise InputError(f"job name {self.name!r}: use letters, digits, '.', '_' or '-' (it names a directory)")
        bad = sorted(set(self.settings) - set(FIT_KEYS))
        if bad:
            raise InputError(f"job {self.name!r}: unknown setting {bad[0]!r}; known: {', '.join(FIT_KEYS)}")
        bad = sorted(set(self.read) - set(READ_KEYS))
        if bad:
            raise InputError(f"job {self.name!r}: unknown reading option {bad[0]!r}; known: {', '.join(READ_KEYS)}")

    def spec_dict(self) -> dict[str, Any]:
        from ..models.presets import resolve_spec

        out: dict[str, Any] = resolve_spec(self.model).to_dict()
        return out

    def fingerprint(self) -> str:
        """What the job computes: its data (path and size, or the Dataset's content), model
        and settings. A complete model directory with the same fingerprint is reused."""
        from ..data.dataset import Dataset

        if isinstance(self.data, Dataset):
            data_id: Any = dataset_sha256(self.data)
        else:
            p = Path(self.data)
            st = p.stat() if p.exists() else None
            data_id = [str(p.resolve()), st.st_size if st else None, st.st_mtime_ns if st else None]
        doc = {"data": data_id, "model": self.spec_dict(), "settings": self.settings, "read": self.read}
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def dataset_sha256(data: Any) -> str:
    """SHA-256 of everything a Dataset holds that a fit can read: sequences, split, sort-seq
    counts or y (and dy), and every extra column (MPRA input/output counts, annotations)."""
    h = hashlib.sha256()
    arrays = [("codes", data.codes), ("split", data.split)]
    arrays += [(k, getattr(data, k)) for k in ("counts", "y", "dy") if getattr(data, k, None) is not None]
    arrays += sorted((f"extra.{k}", v) for k, v in getattr(data, "extra", {}).items())
    for name, a in arrays:
        a = np.asarray(a)
        h.update(f"{name}{a.shape}{a.dtype.kind}".encode())
        if a.dtype.kind == "O":
            h.update("\x00".join(map(str, a.tolist())).encode())
        else:
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def read_jobs(path: str | os.PathLike[str]) -> list[Job]:
    """The jobs of a job file (TOML or JSON): ``[defaults]`` and ``[[job]]`` tables.
    Relative data and model paths are relative to the job file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise InputError(f"cannot read the job file: {e.strerror}", source=str(p)) from None
    if p.suffix.lower() == ".json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"not valid JSON: {e.msg} (line {e.lineno})", source=str(p)) from None
    else:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # Python 3.10
            import tomli as tomllib
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise InputError(f"not valid TOML: {e}", source=str(p)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("job"), list) or not doc["job"]:
        raise InputError("a job file needs one or more [[job]] tables", source=str(p))
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise InputError("[defaults] must be a table", source=str(p))
    unknown = sorted(set(doc) - {"defaults", "job"})
    if unknown:
        raise InputError(f"unknown top-level key {unknown[0]!r} (expected [defaults] and [[job]])", source=str(p))
    jobs, names = [], set()
    for i, j in enumerate(doc["job"]):
        if not isinstance(j, dict):
            raise InputError(f"job {i + 1} must be a table", source=str(p))
        d = {**defaults, **j}
        allowed = {"name", "data", "model", *FIT_KEYS, *READ_KEYS}
        bad = sorted(set(d) - allowed)
        if bad:
            raise InputError(f"job {i + 1}: unknown key {bad[0]!r}; known: {', '.join(sorted(allowed))}",
                             source=str(p))
        for key in ("name", "data"):
            if key not in d:
                raise InputError(f"job {i + 1} has no {key!r}", source=str(p))
        if d["name"] in names:
            raise InputError(f"job name {d['name']!r} appears twice", source=str(p))
        names.add(d["name"])
        data = d["data"]
        if not isinstance(data, str) or not data:
            raise InputError(f"job {i + 1} ({d['name']!r}): data must be the path of a table or store (a string), "
                             f"got {data!r}", source=str(p))
        if not Path(data).is_absolute():
            data = str(p.parent / data)
        model = d.get("model", "lac")
        if isinstance(model, str) and (p.parent / model).exists():
            model = str(p.parent / model)
        jobs.append(Job(d["name"], data, model, {k: d[k] for k in FIT_KEYS if k in d},
                        {k: d[k] for k in READ_KEYS if k in d}))
    return jobs


def job_is_complete(job: Job, out: Path) -> bool:
    """Whether ``out`` holds this job's finished model directory: the job's fingerprint, a
    model that loads (params.npz whole and the one model.json was written with), and a
    report.json of status complete (or degenerate: finished, explaining nothing) that names
    those same parameters (not a report left by
    an earlier run)."""
    from ..errors import ModelFileError
    from ..models.io import load_model

    try:
        rep = json.loads((out / "report.json").read_text())
        doc = json.loads((out / "model.json").read_text())
        load_model(out)
    except (OSError, ValueError, ModelFileError):
        return False
    if not (isinstance(rep, dict) and isinstance(doc, dict)):
        return False
    model = rep.get("model")
    meta = doc.get("metadata")
    finished = rep.get("status") in ("complete", "degenerate")
    return (finished and isinstance(meta, dict) and meta.get("job_sha256") == job.fingerprint()
            and isinstance(model, dict) and doc.get("params_sha256") is not None
            and model.get("params_sha256") == doc.get("params_sha256"))


def _load_data(job: Job, seed: int) -> Any:
    from ..data.dataset import Dataset

    if isinstance(job.data, Dataset):
        return job.data
    from ..data.readers import read_table

    p = Path(job.data)
    if p.is_dir():
        from ..data import store

        return store.open_store(p)
    return read_table(p, seed=seed, **job.read)


def run_job(job: Job, out: str, n_threads: int | None = None) -> dict[str, Any]:
    """Fit one job into its model directory ``out``; a failure is recorded, never raised.
    Runs on a worker; ``n_threads`` None: the worker's OMP_NUM_THREADS (pinned by
    :func:`local_client`), else its cores."""
    import socket
    import warnings

    from ..errors import DataWarning

    t0 = time.perf_counter()
    row: dict[str, Any] = {"name": job.name, "status": "failed", "error": "", "dir": out,
                           "host": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        from ..models.io import atomic_write_json
        from ..models.presets import resolve_spec
        from ..training.evaluate import evaluate
        from ..training.loop import fit
        from ..training.report import build_report

        spec = resolve_spec(job.model)
        seed = int(job.settings.get("seed", 0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            data = _load_data(job, seed)
        res = fit(data, spec, quiet=True, n_threads=n_threads, **job.settings)
        d = Path(out)
        meta = {"name": job.name, "data": data.source, "job_sha256": job.fingerprint()}
        res.model.save(d, metadata=meta)
        metrics = evaluate(res.model, data, n_threads=n_threads, seed=seed)
        report = build_report(res, data, metrics, model_name=job.name)
        atomic_write_json(d / "report.json", report)  # last: the directory is complete
        row.update(summary_of_report(report))
    except Exception as e:  # one job's failure must not stop the others: record it
        row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:500]
    row["wall_s"] = time.perf_counter() - t0
    return row


def summary_of_report(report: dict[str, Any]) -> dict[str, Any]:
    """The columns of summary.csv that a job's report.json gives: status, epochs, the best
    validation NLL, held-out metrics, interaction energies (kcal/mol) and the fit's wall time."""
    fit = report.get("fit", {}) if isinstance(report.get("fit"), dict) else {}
    row: dict[str, Any] = {"status": report.get("status"), "epochs": fit.get("epochs_run")}
    history, best = fit.get("history", {}), fit.get("best_epoch")
    val = history.get("val_nll", []) if isinstance(history, dict) else []
    if isinstance(best, int) and 1 <= best <= len(val):
        row["best_val_nll"] = val[best - 1]
    metrics = report.get("metrics", {}) if isinstance(report.get("metrics"), dict) else {}
    for split in ("validation", "test"):
        m = metrics.get(split, {})
        for key in ("I_var_bits", "I_pred_bits", "R2"):
            if isinstance(m, dict) and key in m:
                row[f"{split}_{key}"] = m[key]
    params = report.get("parameters", {})
    inter = params.get("uniform", {}).get("kcal/mol", {}).get("interactions", {}) if isinstance(params, dict) else {}
    for k, v in (inter.items() if isinstance(inter, dict) else ()):
        row[f"{k}_kcal_mol"] = v
    if "wall_s" in fit:
        row["fit_wall_s"] = fit["wall_s"]
    return row


def local_client(n_workers: int | None = None, threads_per_worker: int | None = None) -> Any:
    """A Dask client on a LocalCluster sized to this machine: ``n_workers`` processes
    (default: cores // threads_per_worker), each running one job at a time with
    ``threads_per_worker`` kernel threads (default 1), OMP_NUM_THREADS pinned."""
    from distributed import Client, LocalCluster

    from .._threads import effective_n_threads

    cores = effective_n_threads(None)
    tpw = threads_per_worker or 1
    nw = n_workers or max(1, cores // tpw)
    import logging

    # silence_logs: the workers' connection messages at shutdown are noise; job failures are
    # reported in the summary table
    cluster = LocalCluster(n_workers=nw, threads_per_worker=1, processes=True, dashboard_address=":0",
                           env={"OMP_NUM_THREADS": str(tpw)}, silence_logs=logging.CRITICAL)
    return Client(cluster)


def _check_client(client: Any) -> None:
    if not hasattr(client, "submit") or not hasattr(client, "gather"):
        raise InputError(f"client must be a dask.distributed Client, got {type(client).__name__}")


def fit_many(jobs: Sequence[Job], out: str | os.PathLike[str], *, client: Any = None,
             n_workers: int | None = None, threads_per_worker: int | None = None, progress: bool = True,
             retries: int = 1) -> Any:
    """Run ``jobs`` on a Dask cluster (``client``; default a LocalCluster sized to the
    machine, closed afterwards), one model directory ``OUT/name`` per job, and return the
    summary table (also written to ``OUT/summary.csv``).

    A job that fails records its one-line error in the table and the others go on; a
    job whose worker dies is retried (``retries`` times, then recorded as failed).
    Jobs whose model directory is already complete (the same data, model and settings)
    are skipped, so an interrupted run resumes where it stopped. Each job's kernels use
    ``threads_per_worker`` threads (default: the worker's OMP_NUM_THREADS, which
    :func:`local_client` pins; set it in the environment of the workers of another
    cluster so that jobs do not oversubscribe cores)."""
    import pandas as pd

    from ..models.io import atomic_write_bytes

    jobs = list(jobs)
    if not jobs:
        raise InputError("no jobs")
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise InputError("job names must be unique (each names a model directory)")
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, Any]] = {}
    todo = []
    for j in jobs:
        d = root / j.name
        if job_is_complete(j, d):
            # the finished job's summary, from its report: a rerun's summary.csv keeps its metrics
            rows[j.name] = {"name": j.name, **summary_of_report(json.loads((d / "report.json").read_text())),
                            "status": "skipped (complete)", "error": "", "dir": str(d)}
        else:
            todo.append(j)
    own = client is None and bool(todo)
    if own:
        client = local_client(n_workers, threads_per_worker)
    try:
        if todo:
            _check_client(client)
            futures = {client.submit(run_job, j, str(root / j.name), threads_per_worker, retries=retries,
                                     key=f"cisreg-job-{j.name}-{j.fingerprint()[:12]}"): j for j in todo}
            from distributed import as_completed

            bar = None
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(total=len(futures), desc="fit-many", unit="job", disable=None)
            for fut in as_completed(futures):
                j = futures[fut]
                try:
                    rows[j.name] = fut.result()
                except Exception as e:  # the task itself failed (e.g. its worker died too often)
                    rows[j.name] = {"name": j.name, "status": "failed", "dir": str(root / j.name),
                                    "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
                if bar is not None:
                    bar.update(1)
            if bar is not None:
                bar.close()
    finally:
        if own:
            cluster = client.cluster
            client.close()
            cluster.close()
    table = pd.DataFrame([rows[n] for n in names])
    atomic_write_bytes(root / "summary.csv", table.to_csv(index=False).encode())
    return table
