"""Scale-out with Dask: many fits on a real LocalCluster (equal to the serial path,
failures recorded, resumable, a killed worker's job retried) and one fit over partitions
(bit-identical to the serial reduction in the same order, Adam and L-BFGS)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest

import cisreg

distributed = pytest.importorskip("distributed")

from cisreg.scaleout import Job, fit_many, fit_partitioned, local_client, read_jobs  # noqa: E402
from cisreg.scaleout.jobs import job_is_complete, run_job  # noqa: E402

ONE = {"alphabet": "ACGT", "length": 12, "sites": [{"name": "A", "start": 2, "width": 6}],
       "thermodynamic": {"states": [{"name": "e", "bound": []}, {"name": "A", "bound": ["A"], "activity": 1}]},
       "measurement": {"type": "ge", "noise": "gaussian", "hidden": 2}}


@pytest.fixture(scope="module")
def client():
    c = local_client(n_workers=2, threads_per_worker=1)
    yield c
    cluster = c.cluster
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    d = tmp_path_factory.mktemp("tables")
    rng = np.random.default_rng(0)
    truth = cisreg.Model(cisreg.spec_from_dict(ONE), seed=0)
    truth.layout.view(truth.theta, "E.A")[...] = rng.normal(0, 0.5, (6, 4))
    paths = []
    for i in range(3):
        ds = cisreg.simulate.continuous(truth, n=2500, rng=rng, noise_sd=0.3)
        df = pd.DataFrame({"x": ds.x, "y": ds.y, "set": np.array(["training", "validation", "test"])[ds.split]})
        p = d / f"promoter_{i}.csv"
        df.to_csv(p, index=False)
        paths.append(p)
    return paths


def _jobs(tables, epochs=15):
    return [Job(f"p{i}", str(p), ONE, {"epochs": epochs, "seed": i}) for i, p in enumerate(tables)]


def test_fit_many_equals_the_serial_path_and_records_failures(client, tables, tmp_path):
    jobs = [*_jobs(tables), Job("broken", str(tmp_path / "missing.csv"), ONE)]
    table = fit_many(jobs, tmp_path / "out", client=client, progress=False)
    assert list(table["name"]) == ["p0", "p1", "p2", "broken"]
    st = dict(zip(table["name"], table["status"]))
    assert st == {"p0": "complete", "p1": "complete", "p2": "complete", "broken": "failed"}
    err = table.set_index("name").loc["broken", "error"]
    assert "missing.csv" in err and "\n" not in err
    assert (tmp_path / "out" / "summary.csv").exists()
    # the same job in this process gives the same parameters bit for bit
    row = run_job(jobs[1], str(tmp_path / "serial_p1"), 1)
    assert row["status"] == "complete"
    a = cisreg.load(tmp_path / "out" / "p1")
    b = cisreg.load(tmp_path / "serial_p1")
    np.testing.assert_array_equal(a.theta, b.theta)


def test_fit_many_resumes_and_refits_changed_jobs(client, tables, tmp_path):
    jobs = _jobs(tables, epochs=5)
    fit_many(jobs[:2], tmp_path, client=client, progress=False)
    assert job_is_complete(jobs[0], tmp_path / "p0")
    stamp = (tmp_path / "p0" / "params.npz").stat().st_mtime_ns
    changed = Job("p1", jobs[1].data, ONE, {"epochs": 6, "seed": 1})
    table = fit_many([jobs[0], changed, jobs[2]], tmp_path, client=client, progress=False)
    st = dict(zip(table["name"], table["status"]))
    assert st == {"p0": "skipped (complete)", "p1": "complete", "p2": "complete"}
    assert (tmp_path / "p0" / "params.npz").stat().st_mtime_ns == stamp


def test_fit_many_trusts_only_whole_directories_of_this_run(tables, tmp_path):
    """A job directory counts as complete only if its model loads (a truncated params.npz does
    not) and its report.json names the parameters of that model (a report left by an earlier
    run does not): such jobs are fitted again."""
    jobs = _jobs(tables, epochs=3)[:2]
    fit_many(jobs, tmp_path, progress=False)
    assert job_is_complete(jobs[0], tmp_path / "p0") and job_is_complete(jobs[1], tmp_path / "p1")
    raw = (tmp_path / "p0" / "params.npz").read_bytes()
    (tmp_path / "p0" / "params.npz").write_bytes(raw[: len(raw) // 2])
    assert not job_is_complete(jobs[0], tmp_path / "p0")
    rep = json.loads((tmp_path / "p1" / "report.json").read_text())
    rep["model"]["params_sha256"] = "0" * 64  # a report of other parameters
    (tmp_path / "p1" / "report.json").write_text(json.dumps(rep))
    assert not job_is_complete(jobs[1], tmp_path / "p1")
    table = fit_many(jobs, tmp_path, progress=False)
    assert list(table["status"]) == ["complete", "complete"]
    assert job_is_complete(jobs[0], tmp_path / "p0") and job_is_complete(jobs[1], tmp_path / "p1")


def test_jobs_file_data_must_be_a_path(tmp_path):
    f = tmp_path / "jobs.toml"
    f.write_text('[[job]]\nname = "a"\ndata = 5\n')
    with pytest.raises(cisreg.InputError, match="data must be the path"):
        read_jobs(f)


def test_a_killed_worker_loses_no_job(tables, tmp_path):
    """SIGKILL one worker while it fits: its job is retried on a restarted worker and every
    job completes."""
    c = local_client(n_workers=2, threads_per_worker=1)
    try:
        jobs = [Job(f"k{i}", str(tables[i % 3]), ONE, {"epochs": 60, "patience": 60, "seed": i}) for i in range(4)]
        pids = c.run(os.getpid)
        killed = []

        def killer():
            t_end = time.time() + 60
            while time.time() < t_end and not killed:
                busy = [w for w, tasks in c.processing().items() if tasks]
                if busy:
                    time.sleep(0.5)
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(busy[0])
                time.sleep(0.05)

        th = threading.Thread(target=killer)
        th.start()
        table = fit_many(jobs, tmp_path, client=c, progress=False, retries=2)
        th.join()
        assert killed, "no worker was killed"
        assert list(table["status"]) == ["complete"] * 4, table[["name", "status", "error"]]
    finally:
        cluster = c.cluster
        c.close()
        cluster.close()


def test_partitioned_fit_is_bit_identical_to_the_serial_reduction(client, tables):
    parts = [cisreg.read_table(p) for p in tables]
    for method, kw in (("adam", {"epochs": 4}), ("lbfgs", {"maxiter": 15})):
        serial = fit_partitioned(parts, ONE, method=method, seed=3, **kw)
        dist = fit_partitioned(parts, ONE, method=method, seed=3, client=client, **kw)
        np.testing.assert_array_equal(serial.model.theta, dist.model.theta)
        assert serial.history == dist.history
        assert np.isfinite(serial.history["val_nll"]).all()
    # more data-parallel epochs improve the validation likelihood
    longer = fit_partitioned(parts, ONE, method="adam", seed=3, epochs=25)
    assert longer.history["val_nll"][-1] < longer.history["val_nll"][0]


def test_partitioned_fit_refuses_mismatched_partitions(tables, tmp_path):
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": ["".join(rng.choice(list("ACGT"), 10)) for _ in range(10)], "y": np.arange(10.0)})
    p = tmp_path / "short.csv"
    df.to_csv(p, index=False)
    with pytest.raises(cisreg.InputError, match="partition 1"):
        fit_partitioned([str(tables[0]), str(p)], ONE, epochs=1)
    with pytest.raises(cisreg.InputError, match="method"):
        fit_partitioned([str(tables[0])], ONE, method="sgd")


def test_job_file_and_cli(client, tables, tmp_path, capsys):
    from cisreg.cli import main

    spec = tmp_path / "one_site.json"
    spec.write_text(json.dumps(ONE))
    rel = os.path.relpath(tables[0], tmp_path)
    (tmp_path / "jobs.toml").write_text(
        f'[defaults]\nmodel = "one_site.json"\nepochs = 5\n\n'
        f'[[job]]\nname = "a"\ndata = "{rel}"\n\n[[job]]\nname = "b"\ndata = "{tables[1]}"\nseed = 4\n')
    jobs = read_jobs(tmp_path / "jobs.toml")
    assert [j.name for j in jobs] == ["a", "b"]
    assert jobs[0].settings == {"epochs": 5} and jobs[1].settings == {"epochs": 5, "seed": 4}
    assert jobs[0].model == str(spec)
    out = tmp_path / "runs"
    rc = main(["fit-many", str(tmp_path / "jobs.toml"), "--out", str(out), "--scheduler",
               client.scheduler.address, "--quiet"])
    assert rc == 0
    assert "2 of 2 jobs complete" in capsys.readouterr().err
    assert cisreg.load(out / "b").spec.length == 12
    (tmp_path / "bad.toml").write_text('[[job]]\nname = "a"\ndata = "x.csv"\nepoch = 3\n')
    with pytest.raises(cisreg.InputError, match="unknown key 'epoch'"):
        read_jobs(tmp_path / "bad.toml")
    with pytest.raises(cisreg.InputError, match="job name"):
        Job("../evil", "x.csv")


def test_restarts_bootstrap_and_compare_on_a_client_equal_the_serial_path(client, tables):
    from cisreg.compare import compare
    from cisreg.training.uncertainty import bootstrap

    data = cisreg.read_table(tables[0])
    spec = cisreg.spec_from_dict(ONE)
    kw = {"epochs": 6, "restarts": 2, "seed": 2, "n_threads": 1, "quiet": True}
    serial = cisreg.fit(data, spec, **kw)
    dist = cisreg.fit(data, spec, client=client, **kw)
    np.testing.assert_array_equal(serial.model.theta, dist.model.theta)
    assert [r["best_val_nll"] for r in serial.restarts] == [r["best_val_nll"] for r in dist.restarts]
    # warm Adam refits: the same resamples and minibatches, bit for bit
    b0 = bootstrap(serial, data, 3, polish=0)
    b1 = bootstrap(serial, data, 3, polish=0, client=client)
    np.testing.assert_array_equal(b0.samples, b1.samples)
    # converged refits (the default): the same optima; L-BFGS's path in another process can
    # differ in the last bits (its vector arithmetic), and so its stopping point, slightly
    p0 = bootstrap(serial, data, 3)
    p1 = bootstrap(serial, data, 3, client=client)
    np.testing.assert_allclose(p0.samples, p1.samples, rtol=1e-4, atol=1e-5 * np.abs(p0.samples).max())
    d = dict(ONE, measurement={"type": "ge", "noise": "cauchy", "hidden": 2})
    c0 = compare(data, [ONE, d], names=["gauss", "cauchy"], epochs=5, n_boot=200, uncertainty=False)
    c1 = compare(data, [ONE, d], names=["gauss", "cauchy"], epochs=5, n_boot=200, uncertainty=False, client=client)
    pd.testing.assert_frame_equal(c0.table, c1.table)
    assert c0.verdict == c1.verdict
