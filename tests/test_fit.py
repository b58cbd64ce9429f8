"""Fitting: recovery of known energies, determinism, restarts, divergence, the lac data."""

from __future__ import annotations

import numpy as np
import pytest

import cisreg
from cisreg.models import Model, spec_from_dict

SPEC = {
    "alphabet": "ACGT", "length": 36,
    "sites": [{"name": "A", "start": 2, "width": 10}, {"name": "P", "start": 20, "width": 14}],
    "thermodynamic": {"states": [
        {"name": "free", "bound": []},
        {"name": "A", "bound": ["A"]},
        {"name": "P", "bound": ["P"], "activity": 1},
        {"name": "AP", "bound": ["A", "P"], "interactions": ["dG_I"], "activity": 1}]},
    "measurement": {"type": "sortseq", "bins": 8, "hidden": 10},
}


def _truth(rng):
    spec = spec_from_dict(SPEC)
    m = Model(spec, seed=1)
    lay = m.layout
    wt_codes = rng.integers(0, 4, 36)
    wt = "".join("ACGT"[c] for c in wt_codes)
    for s in spec.sites:
        E = rng.normal(0, 1.0, (s.width, 4))
        E[np.arange(s.width), wt_codes[s.start:s.start + s.width]] -= 1.5  # the wild type binds
        lay.view(m.theta, f"E.{s.name}")[...] = E
    lay.view(m.theta, "eps.A")[...] = -lay.view(m.theta, "E.A")[np.arange(10), wt_codes[2:12]].sum() - 1.0
    lay.view(m.theta, "eps.P")[...] = -lay.view(m.theta, "E.P")[np.arange(14), wt_codes[20:34]].sum() + 2.0
    lay.view(m.theta, "dG_I")[...] = -3.0
    return m, wt


def _gauge(E):
    return E - E.mean(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(2024)
    truth, wt = _truth(rng)
    data = cisreg.simulate.sortseq(truth, n=25_000, rng=rng, wt=wt, mutation_rate=0.12, bins=8, noise_sd=0.3)
    return truth, wt, data


@pytest.fixture(scope="module")
def fitted(simulated):
    truth, _wt, data = simulated
    return cisreg.fit(data, truth.spec, quiet=True, seed=0, epochs=150, n_threads=2)


def test_simulated_energies_are_recovered(simulated, fitted):
    truth, _, _ = simulated
    got = fitted.model.get_theta()
    want = truth.get_theta()
    for site in ("A", "P"):
        r = np.corrcoef(got["energies"][site].to_numpy().ravel(), want["energies"][site].to_numpy().ravel())[0, 1]
        assert r >= 0.95, f"site {site}: energy-matrix Pearson r = {r:.3f}"
    # the physical sign: cooperative interaction, as simulated
    assert got["interactions"]["dG_I"] < -1.0


def test_simulated_fit_is_informative_and_monotone(simulated, fitted):
    _, _, data = simulated
    ev = cisreg.evaluate(fitted.model, data, splits=("test",), uncertainty=False)
    assert ev["test"]["I_pred_bits"] > 0.5
    assert ev["test"]["phi_vs_mean_bin_r"] > 0.3  # fitted phi increases with the bin, as simulated
    h = fitted.history["val_nll"]
    assert min(h) < h[0]
    assert fitted.best_epoch >= 1 and fitted.stop_reason in ("early_stopping", "max_epochs")


@pytest.mark.usefixtures("every_thread")
def test_same_seed_same_result_any_threads(simulated):
    _, _, data = simulated
    sub = data.subset(np.arange(3000))
    spec = spec_from_dict(SPEC)
    a = cisreg.fit(sub, spec, quiet=True, seed=7, epochs=4, n_threads=1)
    b = cisreg.fit(sub, spec, quiet=True, seed=7, epochs=4, n_threads=1)
    c = cisreg.fit(sub, spec, quiet=True, seed=7, epochs=4, n_threads=2)
    d = cisreg.fit(sub, spec, quiet=True, seed=8, epochs=4, n_threads=1)
    assert np.array_equal(a.model.theta, b.model.theta)
    assert np.array_equal(a.model.theta, c.model.theta)
    assert not np.array_equal(a.model.theta, d.model.theta)


def test_restarts_report_spread(simulated):
    _, _, data = simulated
    sub = data.subset(np.arange(3000))
    r = cisreg.fit(sub, spec_from_dict(SPEC), quiet=True, seed=1, epochs=3, restarts=3)
    assert len(r.restarts) == 3
    vals = [x["best_val_nll"] for x in r.restarts]
    assert r.best_val_nll == pytest.approx(min(vals))
    assert all("dG_I" in x["interactions_kcal_mol"] for x in r.restarts)


def test_absurd_learning_rate_keeps_the_best_parameters(simulated):
    """Adam's steps are bounded by the learning rate and the core works in log space, so
    even lr = 1e6 gives finite numbers; the returned parameters are the best seen."""
    _, _, data = simulated
    sub = data.subset(np.arange(2000))
    r = cisreg.fit(sub, spec_from_dict(SPEC), quiet=True, seed=0, epochs=10, learning_rate=1e6, patience=100)
    assert np.all(np.isfinite(r.model.theta))
    assert r.best_val_nll == pytest.approx(min(r.history["val_nll"]), rel=1e-6)
    val = sub.indices("validation")
    got = r.model.loss(sub.codes, sub.counts, val, dtype=r.settings["dtype"]) / sub.counts[val].sum()
    assert got == pytest.approx(r.best_val_nll, rel=1e-12)


def test_divergence_on_nan_gradient(simulated, monkeypatch):
    """A non-finite gradient stops the fit at once and keeps the best parameters: the epoch
    in the core reports it (tests/test_stepper.py), and the loop stops on the report."""
    from cisreg import _core

    _, _, data = simulated
    sub = data.subset(np.arange(2000))
    calls = {"n": 0}
    real = _core.adam_epoch

    def flaky(model, codes, targets, theta, *args, **kw):
        out = real(model, codes, targets, theta, *args, **kw)
        calls["n"] += 1
        if calls["n"] > 3:  # the fourth epoch meets a NaN gradient
            theta[0] = np.nan
            return (out[0], out[1], out[2], "diverged")
        return out

    monkeypatch.setattr(_core, "adam_epoch", flaky)
    r = cisreg.fit(sub, spec_from_dict(SPEC), quiet=True, seed=0, epochs=10, batch_size=500)
    assert r.diverged and "diverged" in r.stop_reason and "learning rate" in r.stop_reason
    assert np.all(np.isfinite(r.model.theta))
    assert r.epochs_run == 3 and 1 <= r.best_epoch <= 3  # the epochs completed before the NaN
    assert len(r.history["val_nll"]) == 3


def test_diverging_learning_rate_stops_the_fit(simulated):
    """A step size that sends the parameters to non-finite values is caught in the core."""
    _, _, data = simulated
    r = cisreg.fit(data.subset(np.arange(2000)), spec_from_dict(SPEC), quiet=True, seed=0, epochs=5,
                   learning_rate=1e300)
    assert r.diverged and r.epochs_run == 0 and np.all(np.isfinite(r.model.theta))


def test_bad_settings_are_errors(simulated):
    _, _, data = simulated
    spec = spec_from_dict(SPEC)
    for kw, msg in [({"epochs": 0}, "epochs"), ({"batch_size": -1}, "batch_size"),
                    ({"learning_rate": float("nan")}, "learning_rate"), ({"l2": -1.0}, "l2")]:
        with pytest.raises(cisreg.InputError, match=msg):
            cisreg.fit(data, spec, quiet=True, **kw)


def test_model_data_mismatch(simulated):
    _, _, data = simulated
    d = dict(SPEC, measurement={"type": "sortseq", "bins": 5, "hidden": 3})
    with pytest.raises(cisreg.InputError, match="8 count columns but the model has 5 bins"):
        cisreg.fit(data, spec_from_dict(d), quiet=True)
    d = dict(SPEC, length=40)
    with pytest.raises(cisreg.InputError, match="length 36, the model expects 40"):
        cisreg.fit(data, spec_from_dict(d), quiet=True)


def test_lac_end_to_end_small_budget(tmp_path):
    data = cisreg.load_example("lac-sortseq")
    r = cisreg.fit(data, cisreg.preset("lac"), quiet=True, epochs=3, n_threads=2)
    assert r.epochs_run == 3 and len(r.history["val_nll"]) == 3
    ev = cisreg.evaluate(r.model, data, splits=("validation",), uncertainty=False)
    assert 0.0 < ev["validation"]["I_var_bits"] < 3.4
    assert ev["validation"]["I_pred_bits"] > 0.2  # even 3 epochs learn something
    r.model.save(tmp_path / "m")
    m2 = cisreg.load(tmp_path / "m")
    x = data.x[:500]
    np.testing.assert_array_equal(m2.x_to_phi(x), r.model.x_to_phi(x))
    assert np.array_equal(m2.theta, r.model.theta)


def test_continuous_ge_fit_and_predict(tmp_path):
    """GE measurement: simulated continuous data, fit, R^2 and I_pred, and yhat from the CLI."""
    import json
    import os
    import subprocess
    import sys

    rng = np.random.default_rng(8)
    truth, wt = _truth(rng)
    d = dict(SPEC, measurement={"type": "ge", "noise": "gaussian", "hidden": 5})
    spec = spec_from_dict(d)
    truth_ge = Model(spec, seed=0)
    for b in truth.layout:
        if b.kind in ("energy", "offset", "interaction"):
            truth_ge.layout.view(truth_ge.theta, b.name)[...] = truth.layout.view(truth.theta, b.name)
    data = cisreg.simulate.continuous(truth_ge, n=8000, rng=rng, wt=wt, mutation_rate=0.12, noise_sd=0.2)
    assert data.kind == "continuous"
    r = cisreg.fit(data, spec, quiet=True, seed=0, epochs=100, n_threads=2)
    ev = cisreg.evaluate(r.model, data, splits=("test",))["test"]
    assert ev["R2"] > 0.8 and ev["pearson_r"] > 0.9 and ev["I_pred_bits"] > 0.5
    assert np.isfinite(ev["I_var_bits"])
    r.model.save(tmp_path / "ge")
    (tmp_path / "x.csv").write_text("x\n" + "\n".join(data.x[:20]) + "\n")
    out = subprocess.run([sys.executable, "-m", "cisreg", "predict", str(tmp_path / "ge"), str(tmp_path / "x.csv"),
                          "--out", str(tmp_path / "p.csv")], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert out.returncode == 0, out.stderr
    import pandas as pd

    p = pd.read_csv(tmp_path / "p.csv")
    assert list(p.columns) == ["x", "phi", "yhat"]
    np.testing.assert_allclose(p["yhat"], r.model.x_to_yhat(data.x[:20]), rtol=1e-8)
    info = subprocess.run([sys.executable, "-m", "cisreg", "info", str(tmp_path / "ge"), "--json"],
                          capture_output=True, text=True)
    assert json.loads(info.stdout)["model"]["measurement"]["type"] == "ge"


def test_fit_accepts_a_dataframe_and_a_model_dict():
    import pandas as pd

    data = cisreg.load_example().subset(np.arange(0, 50518, 25))
    df = pd.DataFrame({"x": data.x, **{f"ct_{i}": data.counts[:, i].astype(int) for i in range(10)},
                       "set": np.array(["training", "validation", "test"])[data.split]})
    spec = cisreg.preset("lac").to_dict()
    r = cisreg.fit(df, spec, epochs=1, quiet=True)
    assert r.epochs_run == 1
    assert isinstance(cisreg.Model(spec), cisreg.Model)


def test_set_theta_names_and_units():
    m = cisreg.Model("lac")
    E = np.arange(26 * 4, dtype=float).reshape(26, 4)
    m.set_theta(energies={"CRP": E}, offsets={"RNAP": 2.0}, interactions={"dG_I": -3.0}, units="kcal/mol")
    th = m.get_theta(gauge="none", units="kcal/mol")
    np.testing.assert_allclose(th["energies"]["CRP"].to_numpy(), E)
    assert th["interactions"]["dG_I"] == pytest.approx(-3.0)
    assert m.get_theta()["interactions"]["dG_I"] == pytest.approx(-3.0 / 0.61633, rel=1e-4)
    with pytest.raises(cisreg.InputError, match="no site 'XYZ'"):
        m.set_theta(energies={"XYZ": E})
    with pytest.raises(cisreg.InputError, match="shape"):
        m.set_theta(energies={"CRP": E[:3]})
    with pytest.raises(cisreg.InputError, match="no interaction 't_sat'"):
        m.set_theta(interactions={"t_sat": 1.0})


def test_fit_accepts_names_and_paths_and_has_a_short_repr(tmp_path):
    import json

    data = cisreg.load_example().subset(np.arange(0, 50518, 25))
    r1 = cisreg.fit(data, "lac", epochs=1, quiet=True)
    p = tmp_path / "lac.json"
    p.write_text(json.dumps(cisreg.preset("lac").to_dict()))
    r2 = cisreg.fit(data, str(p), epochs=1, quiet=True)
    assert np.array_equal(r1.model.theta, r2.model.theta)
    assert "FitResult(complete, 1 epochs" in repr(r1) and len(repr(r1)) < 400
    with pytest.raises(TypeError, match="built-in name"):
        cisreg.fit(data, 42, epochs=1, quiet=True)


def test_notebook_summaries(simulated):
    """Model and FitResult show a table in notebooks (_repr_html_), text escaped."""
    _, _, data = simulated
    r = cisreg.fit(data.subset(np.arange(1500)), spec_from_dict(SPEC), quiet=True, seed=0, epochs=2)
    html = r._repr_html_()
    assert html.startswith("<table><caption>cisreg FitResult</caption>") and "cisreg Model" in html
    assert "max_epochs" in html and all(f"site {s.name}" in html for s in r.model.spec.sites)
    assert "<script" not in html and r.model._repr_html_() in html
