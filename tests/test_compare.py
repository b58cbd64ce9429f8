"""Mechanism comparison: the held-out likelihood picks the mechanism that generated the data
(kinetic escape vs equilibrium), the interval is a paired bootstrap, and the CLI writes the
table, the verdict and one model directory per candidate."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import cisreg
from cisreg.compare import compare, paired_bootstrap
from cisreg.models import Model, read_spec, spec_from_dict

KSPEC = read_spec(cisreg.models.presets.example_path("activator-rnap-kinetic"))


def _thermo_spec():
    d = KSPEC.to_dict()
    del d["kinetic"]
    d["thermodynamic"] = {"states": [
        {"name": "empty", "bound": []}, {"name": "A", "bound": ["A"]},
        {"name": "P", "bound": ["P"], "activity": 1},
        {"name": "AP", "bound": ["A", "P"], "interactions": ["dG_I"], "activity": 1}]}
    return spec_from_dict(d)


def _site_energies(rng):
    """Energy matrices that make a random wild type a good binder of both sites."""
    wt_codes = rng.integers(0, 4, KSPEC.length)
    out = {}
    for s in KSPEC.sites:
        E = rng.normal(0, 1.0, (s.width, 4))
        E[np.arange(s.width), wt_codes[s.start:s.start + s.width]] -= 1.0
        E *= 0.8
        wtE = E[np.arange(s.width), wt_codes[s.start:s.start + s.width]].sum()
        out[s.name] = (E, -wtE + (-1.0 if s.name == "A" else 1.0))
    return "".join("ACGT"[c] for c in wt_codes), out


def _simulate(truth_kind, seed):
    rng = np.random.default_rng(seed)
    wt, sites = _site_energies(rng)
    spec = KSPEC if truth_kind == "kinetic" else _thermo_spec()
    truth = Model(spec, seed=0)
    lay = truth.layout
    for name, (E, eps) in sites.items():
        lay.view(truth.theta, f"E.{name}")[...] = E
        lay.view(truth.theta, f"eps.{name}")[...] = eps
    if truth_kind == "kinetic":  # promoter escape: far from equilibrium
        lay.view(truth.theta, "kappa.coop")[...] = -3.0
        lay.view(truth.theta, "kappa.esc")[...] = 2.0
    else:
        lay.view(truth.theta, "dG_I")[...] = -3.0
    return cisreg.simulate.sortseq(truth, n=12_000, rng=rng, wt=wt, mutation_rate=0.12, bins=8, noise_sd=0.2,
                                   log_activity=True)


@pytest.fixture(scope="module")
def comparisons():
    out = {}
    for truth in ("kinetic", "thermodynamic"):
        data = _simulate(truth, seed=0 if truth == "kinetic" else 5)
        out[truth] = compare(data, [KSPEC, _thermo_spec()], names=["kinetic", "thermo"], n_threads=2, epochs=150)
    return out


def test_kinetic_truth_picks_the_kinetic_model(comparisons):
    c = comparisons["kinetic"]
    assert c.table["model"].iloc[0] == "kinetic"
    assert c.verdict.startswith("kinetic is preferred")
    other = c.table.iloc[1]
    assert other["llr_per_read_lo"] > 0 and other["llr_best_over_this_nats"] > 10


def test_thermodynamic_truth_does_not_prefer_the_kinetic_model(comparisons):
    """The kinetic model has more freedom (it contains the equilibrium model); on held-out
    data that freedom must not win."""
    c = comparisons["thermodynamic"]
    assert not c.verdict.startswith("kinetic is preferred"), c.verdict
    row = c.table.set_index("model")
    assert row.loc["kinetic", "test_nll_per_read"] >= row.loc["thermo", "test_nll_per_read"] - 1e-3


def test_table_columns_and_consistency(comparisons):
    c = comparisons["kinetic"]
    t = c.table
    for col in ("parameters", "train_nll_per_read", "test_nll_per_read", "AIC", "BIC", "I_var_bits",
                "I_pred_bits", "dI_pred_bits", "llr_per_read_lo", "llr_per_read_hi"):
        assert col in t, col
    assert t["test_nll_per_read"].is_monotonic_increasing
    # the held-out NLL difference per read is what the ratio says
    d = t["test_nll_per_read"].iloc[1] - t["test_nll_per_read"].iloc[0]
    assert t["llr_per_read"].iloc[1] == pytest.approx(d, rel=1e-9)
    assert t["llr_per_read_lo"].iloc[1] <= t["llr_per_read"].iloc[1] <= t["llr_per_read_hi"].iloc[1]
    json.dumps(c.to_dict())  # serialisable


def test_paired_bootstrap_interval_covers_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    widths = []
    for n in (400, 6400):
        d = rng.normal(0.01, 0.1, n)
        lo, hi = paired_bootstrap(d, np.ones(n), n_boot=2000, level=0.95, rng=rng)
        assert lo < d.mean() < hi
        se = d.std(ddof=1) / np.sqrt(n)
        assert (hi - lo) == pytest.approx(2 * 1.96 * se, rel=0.15)
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 3


def test_compare_refuses_models_measuring_the_data_differently(rng):
    data = _simulate("thermodynamic", seed=1)
    d = _thermo_spec().to_dict()
    d["measurement"] = {"type": "sortseq", "bins": 7, "hidden": 3}
    with pytest.raises(cisreg.InputError, match="at least two"):
        compare(data, [KSPEC])
    with pytest.raises(cisreg.InputError):
        compare(data, [_thermo_spec(), spec_from_dict(d)], epochs=1)


def test_cli_compare_writes_table_verdict_and_model_dirs(tmp_path, capsys):
    from cisreg.cli import main

    data = _simulate("kinetic", seed=2)
    df = pd.DataFrame({"x": data.x, **{f"ct_{i}": data.counts[:, i].astype(int) for i in range(data.counts.shape[1])},
                       "set": np.array(["training", "validation", "test"])[data.split]})
    src = tmp_path / "data.csv"
    df.to_csv(src, index=False)
    kfile = tmp_path / "kinetic.json"
    tfile = tmp_path / "thermo.json"
    kfile.write_text(json.dumps(KSPEC.to_dict()))
    tfile.write_text(json.dumps(_thermo_spec().to_dict()))
    out = tmp_path / "cmp"
    rc = main(["compare", str(src), "--model", str(kfile), "--model", str(tfile), "--out", str(out), "--epochs",
               "40", "--threads", "2", "--quiet", "--n-boot", "500"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "verdict:" in printed
    table = pd.read_csv(out / "comparison.csv")
    assert set(table["model"]) == {"kinetic", "thermo"}
    doc = json.loads((out / "comparison.json").read_text())
    assert doc["verdict"] in printed
    for name in ("kinetic", "thermo"):
        m = cisreg.load(out / name)
        assert m.spec.kind == ("kinetic" if name == "kinetic" else "thermodynamic")
        assert (out / name / "report.json").exists()
