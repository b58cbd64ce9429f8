"""A fit that explains nothing says so: status "degenerate" in the report, exit status 4 on
the command line, recorded by fit-many."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd

import cisreg
from cisreg.training.report import degenerate_reason

SPEC = {"name": "one-site", "alphabet": "dna", "length": 10,
        "sites": [{"name": "A", "start": 1, "width": 8}],
        "thermodynamic": {"states": [{"name": "free", "bound": []}, {"name": "A", "bound": ["A"], "activity": 1}]},
        "measurement": {"type": "ge", "hidden": 3}}


def _table(path, rng, signal):
    n = 3000
    codes = rng.integers(0, 4, (n, 10), dtype=np.uint8)
    if signal:
        truth = cisreg.Model(cisreg.spec_from_dict(SPEC), seed=0)
        truth.layout.view(truth.theta, "E.A")[...] = rng.normal(0, 1.0, (8, 4))
        y = truth.x_to_phi(codes) + rng.normal(0, 0.05, n)
    else:
        y = rng.normal(size=n)  # independent of the sequence
    pd.DataFrame({"x": cisreg.decode(codes, "ACGT"), "y": y}).to_csv(path, index=False)
    return path


def test_the_reasons():
    assert "same for every sequence" in degenerate_reason({"validation": {"phi_sd": 0.0, "I_pred_bits": 0.5}})
    assert degenerate_reason({"validation": {"phi_sd": 0.3, "I_pred_bits": 0.5, "dI_pred_bits": 0.01}}) is None
    assert "no information" in degenerate_reason({"validation": {"phi_sd": 0.3, "I_pred_bits": 0.001}})
    assert "no information" in degenerate_reason({"test": {"phi_sd": 1, "I_pred_bits": 0.01, "dI_pred_bits": 0.02,
                                                           "I_var_bits": -0.01}})
    # a weak signal measured with large uncertainty, or a likelihood gain, is not nothing
    assert degenerate_reason({"validation": {"phi_sd": 1, "I_pred_bits": 0.03, "dI_pred_bits": 0.02}}) is None
    assert degenerate_reason({"validation": {"phi_sd": 1, "I_pred_bits": 0.01, "dI_pred_bits": 0.02,
                                             "I_var_bits": 0.05}}) is None
    assert degenerate_reason({"training": {"phi_sd": 0.0}}) is None  # nothing held out: nothing to say


def test_a_fit_to_sequence_blind_data_is_degenerate_and_exits_4(tmp_path):
    rng = np.random.default_rng(3)
    run = [sys.executable, "-m", "cisreg", "fit"]
    (tmp_path / "m.json").write_text(json.dumps(SPEC))
    noise = _table(tmp_path / "noise.csv", rng, signal=False)
    p = subprocess.run(run + [str(noise), "--model", str(tmp_path / "m.json"), "--out", str(tmp_path / "noise"),
                              "--epochs", "20", "--threads", "1"], capture_output=True, text=True)
    assert p.returncode == 4, p.stderr
    assert "explains nothing" in p.stderr
    rep = json.loads((tmp_path / "noise" / "report.json").read_text())
    assert rep["status"] == "degenerate" and rep["degenerate"]["advice"]
    assert cisreg.load(tmp_path / "noise")  # the model is written all the same
    good = _table(tmp_path / "good.csv", rng, signal=True)
    p = subprocess.run(run + [str(good), "--model", str(tmp_path / "m.json"), "--out", str(tmp_path / "good"),
                              "--epochs", "20", "--threads", "1"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads((tmp_path / "good" / "report.json").read_text())["status"] == "complete"

    # fit-many records the status, and a rerun counts the job as finished
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps({"job": [{"name": "noise", "data": str(noise), "model": str(tmp_path / "m.json"),
                                         "epochs": 20},
                                        {"name": "good", "data": str(good), "model": str(tmp_path / "m.json"),
                                         "epochs": 20}]}))
    fm = [sys.executable, "-m", "cisreg", "fit-many", str(jobs), "--out", str(tmp_path / "many"), "--workers", "1"]
    p = subprocess.run(fm, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    table = pd.read_csv(tmp_path / "many" / "summary.csv").set_index("name")
    assert table.loc["noise", "status"] == "degenerate" and table.loc["good", "status"] == "complete"
    p = subprocess.run(fm, capture_output=True, text=True)
    table = pd.read_csv(tmp_path / "many" / "summary.csv").set_index("name")
    assert set(table["status"]) == {"skipped (complete)"}, table
    assert table["test_I_pred_bits"].notna().all()  # a rerun's summary keeps the finished jobs' metrics
