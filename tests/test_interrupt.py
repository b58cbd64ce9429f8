"""Interruption: Ctrl-C writes the best model so far, checkpoints resume exactly, and a
kill at any moment leaves only whole files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

import cisreg
from cisreg.models.io import load_model


def _start(out, *extra):
    cmd = [sys.executable, "-m", "cisreg", "fit", "--example", "lac-sortseq", "--out", str(out), "--threads", "1",
           "--quiet", *map(str, extra)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONWARNINGS="ignore"))


def _wait_for(path, proc, timeout=120.0):
    t0 = time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"process ended early: {proc.communicate()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError("timed out waiting for " + str(path))
        time.sleep(0.02)


def test_sigint_writes_best_model_and_interrupted_report(tmp_path):
    out = tmp_path / "m"
    proc = _start(out, "--epochs", "1000", "--patience", "1000", "--checkpoint-every", "1")
    _wait_for(out / "checkpoint" / "checkpoint.json", proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (stdout, stderr)
    assert "interrupted" in stderr
    rep = json.loads((out / "report.json").read_text())
    assert rep["status"] == "interrupted" and "interrupted" in rep["stop_reason"]
    assert 1 <= rep["fit"]["best_epoch"] <= rep["fit"]["epochs_run"] < 1000
    m = load_model(out)
    assert np.all(np.isfinite(m.theta))


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    out = tmp_path / "m"
    proc = _start(out, "--epochs", "1000", "--patience", "1000", "--checkpoint-every", "1")
    _wait_for(out / "checkpoint" / "checkpoint.json", proc)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert json.loads((out / "report.json").read_text())["status"] == "interrupted"


def test_resume_continues_exactly(tmp_path):
    data = cisreg.load_example().subset(np.arange(0, 50518, 5))
    spec = cisreg.preset("lac")
    kw = dict(quiet=True, seed=4, n_threads=1, patience=100, batch_size=300)
    straight = cisreg.fit(data, spec, epochs=6, **kw)
    cisreg.fit(data, spec, epochs=3, checkpoint_every=3, checkpoint_dir=tmp_path / "ck", **kw)
    resumed = cisreg.fit(data, spec, epochs=6, resume=tmp_path / "ck", **kw)
    assert resumed.epochs_run == 6
    assert resumed.history["val_nll"] == straight.history["val_nll"]
    assert np.array_equal(resumed.model.theta, straight.model.theta)
    with pytest.raises(cisreg.InputError, match="different model"):
        other = cisreg.spec_from_dict({**spec.to_dict(), "measurement": {"type": "sortseq", "bins": 10,
                                                                           "hidden": 5}})
        cisreg.fit(data, other, epochs=6, resume=tmp_path / "ck", **kw)
    with pytest.raises(cisreg.InputError, match="checkpoint"):
        cisreg.fit(data, spec, epochs=6, resume=tmp_path / "nothing", **kw)


def test_resume_from_the_cli(tmp_path):
    out = tmp_path / "m"
    r = subprocess.run([sys.executable, "-m", "cisreg", "fit", "--example", "lac-sortseq", "--out", str(out),
                        "--epochs", "2", "--checkpoint-every", "2", "--quiet", "--threads", "1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "cisreg", "fit", "--example", "lac-sortseq", "--out", str(out),
                        "--epochs", "3", "--resume", str(out / "checkpoint"), "--quiet", "--threads", "1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "report.json").read_text())
    assert rep["fit"]["epochs_run"] == 3 and len(rep["fit"]["history"]["val_nll"]) == 3


def _check_whole(d):
    """Every file that exists is complete and consistent."""
    if (d / "model.json").exists():
        json.loads((d / "model.json").read_text())
        load_model(d)
    if (d / "report.json").exists():
        json.loads((d / "report.json").read_text())
    ck = d / "checkpoint"
    if (ck / "checkpoint.json").exists():
        json.loads((ck / "checkpoint.json").read_text())
        np.load(ck / "checkpoint.npz", allow_pickle=False).close()
    if (ck / "model" / "model.json").exists():
        load_model(ck / "model")


def test_kill_at_random_moments_leaves_whole_files(tmp_path):
    rng = np.random.default_rng(11)
    out = tmp_path / "m"
    for _trial in range(5):
        proc = _start(out, "--epochs", "40", "--checkpoint-every", "1", "--patience", "1000")
        time.sleep(float(rng.uniform(0.3, 4.0)))
        proc.kill()  # SIGKILL: no handler runs
        proc.communicate(timeout=60)
        _check_whole(out)
    # and a run that completes over the debris of the killed ones
    proc = _start(out, "--epochs", "2")
    proc.communicate(timeout=300)
    assert proc.returncode == 0
    _check_whole(out)
    assert json.loads((out / "report.json").read_text())["status"] == "complete"


def test_resume_refuses_other_data_or_settings(tmp_path):
    data = cisreg.load_example().subset(np.arange(0, 50518, 10))
    kw = dict(quiet=True, seed=4, n_threads=1, batch_size=300)
    cisreg.fit(data, "lac", epochs=1, checkpoint_every=1, checkpoint_dir=tmp_path / "ck", **kw)
    with pytest.raises(cisreg.InputError, match="the data"):
        cisreg.fit(data.subset(np.arange(1000)), "lac", epochs=2, resume=tmp_path / "ck", **kw)
    with pytest.raises(cisreg.InputError, match=r"seed \(4 -> 5\)"):
        cisreg.fit(data, "lac", epochs=2, resume=tmp_path / "ck", **{**kw, "seed": 5})
    r = cisreg.fit(data, "lac", epochs=2, resume=tmp_path / "ck", **{**kw, "n_threads": 2})  # threads may change
    assert r.epochs_run == 2


def test_resume_with_restarts_and_after_early_stopping(tmp_path):
    """Resuming keeps the restarts that had finished, and a checkpoint written at the
    stopping epoch does not train further."""
    data = cisreg.load_example().subset(np.arange(0, 50518, 10))
    kw = dict(quiet=True, seed=2, n_threads=1, batch_size=400, patience=2, restarts=3)
    straight = cisreg.fit(data, "lac", epochs=5, **kw)
    ck = tmp_path / "ck"
    cisreg.fit(data, "lac", epochs=5, checkpoint_every=1, checkpoint_dir=ck, **kw)
    # the last checkpoint belongs to the last restart, at its stopping epoch
    resumed = cisreg.fit(data, "lac", epochs=5, resume=ck, **kw)
    assert [r["best_val_nll"] for r in resumed.restarts] == [r["best_val_nll"] for r in straight.restarts]
    assert np.array_equal(resumed.model.theta, straight.model.theta)
    assert resumed.epochs_run == straight.epochs_run
    assert resumed.best_val_nll == straight.best_val_nll


def test_resume_refuses_mixed_generations(tmp_path):
    data = cisreg.load_example().subset(np.arange(0, 50518, 10))
    kw = dict(quiet=True, seed=2, n_threads=1, batch_size=400)
    cisreg.fit(data, "lac", epochs=1, checkpoint_every=1, checkpoint_dir=tmp_path / "a", **kw)
    cisreg.fit(data, "lac", epochs=2, checkpoint_every=1, checkpoint_dir=tmp_path / "b", **kw)
    (tmp_path / "a" / "checkpoint.npz").write_bytes((tmp_path / "b" / "checkpoint.npz").read_bytes())
    with pytest.raises(cisreg.InputError, match="different epochs"):
        cisreg.fit(data, "lac", epochs=3, resume=tmp_path / "a", **kw)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_convert_interrupted_leaves_nothing_behind(tmp_path, sig):
    """SIGTERM and SIGINT during cisreg convert: exit status 130 and no partial store (the
    temporary directory is removed), however far the conversion got."""
    rng = np.random.default_rng(0)
    n = 400_000
    codes = rng.integers(0, 4, (n, 40), dtype=np.uint8)
    x = np.array(list("ACGT"))[codes].view("U40").ravel()
    src = tmp_path / "big.csv"
    pd.DataFrame({"x": x, "y": rng.normal(size=n)}).to_csv(src, index=False)
    out = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-m", "cisreg", "convert", str(src), "--out", str(out),
                             "--chunk-rows", "20000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t_end = time.time() + 60
    while time.time() < t_end and not any(p.name.startswith("store.tmp") for p in tmp_path.iterdir()):
        time.sleep(0.01)
    time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:  # finished before the signal: nothing to check
        pytest.skip("the conversion finished before the signal arrived")
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]


def test_a_read_error_after_an_interrupt_is_reported_as_the_interrupt(tmp_path):
    """pandas' C parser turns a KeyboardInterrupt raised inside a file's read into a
    ParserError; the readers must not then blame the file (exit 2) but re-raise the
    interrupt (exit 130). Without an interrupt, the same error names the file's fault."""
    from cisreg import _signals
    from cisreg.data.store import convert
    from cisreg.errors import InputError

    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\nACGTACGT,1\nACGTACGA,1\nACGTACGC,1,7,8\n")
    for read in (lambda: cisreg.read_table(bad), lambda: convert(bad, tmp_path / "s.store")):
        with _signals.handled():
            with pytest.raises(InputError, match="fields"):
                read()
            _signals._received = True  # what interrupt_handler records before raising
            with pytest.raises(KeyboardInterrupt):
                read()
        assert not (tmp_path / "s.store").exists()
