"""The selection-rounds measurement (SELEX, phage / yeast display): read counts of each
variant in rounds 0..R, round r given round r-1 Poisson or negative binomial with mean
(c_{r-1} + pseudocount) exp(depth_r) g(phi)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.stats import spearmanr

import cisreg
from cisreg import _core
from cisreg.errors import InputError, ModelFileError

from .gradcheck import check_directional

L = 16


def _spec(noise="poisson", rounds=3, link="loglinear", pseudocount=0.5, columns=None):
    meas = {"type": "rounds", "columns": columns or [f"round{r}" for r in range(rounds + 1)], "noise": noise,
            "link": link, "pseudocount": pseudocount}
    return {
        "name": "binder", "alphabet": "dna", "length": L,
        "sites": [{"name": "B", "start": 3, "width": 10}],
        "thermodynamic": {"states": [{"name": "free", "bound": []},
                                     {"name": "B", "bound": ["B"], "activity": 1}]},
        "measurement": meas,
    }


def _truth(rng, **kw):
    """A binder whose best site is the wild type (about 1 kT per mutation), bound about half
    the time at the wild type."""
    wt = "".join(rng.choice(list("ACGT"), L))
    m = cisreg.Model(_spec(**kw))
    lay, th = m.layout, m.theta.copy()
    w = np.array(["ACGT".index(c) for c in wt])
    e = rng.uniform(0.5, 1.5, (10, 4))
    e[np.arange(10), w[3:13]] = 0.0
    lay.view(th, "E.B")[...] = e
    lay.view(th, "eps.B")[...] = 0.0
    R = len(lay.view(th, "rounds.log_depth"))
    lay.view(th, "rounds.log_depth")[...] = np.linspace(-1.0, 0.5, R)
    if "rounds.log_slope" in lay:
        lay.view(th, "rounds.log_slope")[...] = np.log(3.0)
    if "rounds.log_dispersion" in lay:
        lay.view(th, "rounds.log_dispersion")[...] = np.log(0.05)
    m.theta[:] = th
    return m, wt


def test_the_model_file_keys_round_trip_and_bad_ones_are_named():
    m = cisreg.Model(_spec(noise="negbin", link="sigmoid"))
    meas = m.spec.measurement
    assert meas.kind == "rounds" and meas.columns == ("round0", "round1", "round2", "round3")
    assert meas.input == ("round0", "round1", "round2") and meas.output == ("round1", "round2", "round3")
    d = meas.to_dict()
    assert d["type"] == "rounds" and d["columns"] == list(meas.columns) and d["hidden"] == meas.hidden
    assert type(meas).parse(d, None) == meas
    assert {"rounds.log_depth", "rounds.log_dispersion", "rounds.log_base", "rounds.log_w"} <= set(m.layout.names())
    assert m.layout.view(m.theta, "rounds.log_depth").shape == (3,)
    for bad, key in [({"columns": ["r0"]}, "measurement.columns"),
                     ({"columns": ["r0", "r0"]}, "measurement.columns"),
                     ({"columns": "r0"}, "measurement.columns"),
                     ({"columns": ["r0", "r1"], "noise": "gaussian"}, "measurement.noise"),
                     ({"columns": ["r0", "r1"], "input": ["r0"]}, "measurement.input")]:
        spec = _spec()
        spec["measurement"] = {"type": "rounds", **bad}
        with pytest.raises(ModelFileError) as e:
            cisreg.Model(spec)
        assert key in str(e.value), (bad, str(e.value))


@pytest.mark.parametrize("noise", ["poisson", "negbin"])
@pytest.mark.parametrize("link", ["loglinear", "sigmoid"])
def test_the_kernels_give_the_likelihood_of_each_round_given_the_last(rng, noise, link):
    """An independent reference (scipy's Poisson and negative binomial pmfs, the link written
    out) of the per-row NLL; and the gradient against central differences."""
    truth, _ = _truth(rng, noise=noise, link=link)
    theta = truth.theta + rng.normal(0, 0.05, truth.theta.size)
    truth.theta[:] = theta
    meas = truth.spec.measurement
    n, R = 200, 3
    codes = rng.integers(0, 4, (n, L), dtype=np.uint8)
    c = np.zeros((n, R + 1))
    c[:, 0] = rng.poisson(20, n)
    for r in range(1, R + 1):
        c[:, r] = rng.poisson(0.8 * c[:, r - 1] + 1)
    frame = pd.DataFrame({f"round{r}": c[:, r] for r in range(R + 1)})
    frame.insert(0, "x", cisreg.data.decode(codes, "ACGT"))
    data = cisreg.from_dataframe(frame, aggregate=False)
    t = meas.targets(data)
    np.testing.assert_array_equal(t, np.hstack([c[:, :R], c[:, 1:]]))

    lay = truth.layout
    phi = truth.x_to_phi(codes)
    if link == "loglinear":
        g = np.exp(np.exp(lay.view(theta, "rounds.log_slope")) * phi)
    else:
        w, cc, d = (lay.view(theta, k) for k in ("rounds.log_w", "rounds.log_c", "rounds.d"))
        z = np.exp(cc)[None, :] * phi[:, None] + d[None, :]
        g = np.exp(lay.view(theta, "rounds.log_base")) + (np.exp(w)[None, :] / (1 + np.exp(-z))).sum(axis=1)
    depth = lay.view(theta, "rounds.log_depth")
    mu = (c[:, :R] + meas.pseudocount) * np.exp(depth)[None, :] * g[:, None]
    y = c[:, 1:]
    if noise == "poisson":
        want = -stats.poisson.logpmf(y, mu).sum(axis=1)
    else:
        rd = np.exp(-lay.view(theta, "rounds.log_dispersion"))[None, :]
        want = -stats.nbinom.logpmf(y, rd, rd / (rd + mu)).sum(axis=1)
    loss, grad, rows = _core.loss_and_grad(truth.core, codes, t, theta, None, 1, True, None, True)
    np.testing.assert_allclose(rows, want, rtol=1e-8, atol=1e-8)
    assert loss == pytest.approx(want.sum(), rel=1e-9)

    def f(th):
        return _core.loss_and_grad(truth.core, codes, t, th, None, 1, False, None, False)[0]

    check_directional(f, grad, theta, rng, n_dirs=6, rtol=1e-5, atol=1e-6)
    mask = np.zeros(theta.size, bool)
    for b in lay:
        if b.name.startswith("rounds."):
            mask[b.offset:b.offset + b.size] = True
    check_directional(f, grad, theta, rng, n_dirs=4, mask=mask, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("noise", ["poisson", "negbin"])
def test_simulated_rounds_follow_the_likelihood_and_a_fit_recovers_the_binder(rng, noise):
    truth, wt = _truth(rng, noise=noise)
    data = cisreg.simulate.rounds(truth, n=6000, rng=rng, wt=wt, mutation_rate=0.2)
    meas = truth.spec.measurement
    assert set(meas.columns) <= set(data.extra)
    t = meas.targets(data)
    assert (np.diff(t[:, :1].sum(0))).size == 0 and t[:, 3:].sum() > 0
    # the enriched variants are the good binders: round-3 share rises with phi
    phi = truth.x_to_phi(data.codes)
    share = (t[:, -1] + 0.5) / (t[:, 0] + 0.5)
    assert spearmanr(phi, share)[0] > 0.5

    res = cisreg.fit(data, _spec(noise=noise), epochs=300, patience=40, batch_size=2000, learning_rate=0.02,
                     seed=1, quiet=True, dtype="float64")
    fit = res.model
    e = [m.get_theta(gauge="uniform")["energies"]["B"].to_numpy().ravel() for m in (truth, fit)]
    assert np.corrcoef(*e)[0, 1] > 0.95
    d_true = np.diff(truth.layout.view(truth.theta, "rounds.log_depth"))
    d_fit = np.diff(fit.layout.view(fit.theta, "rounds.log_depth"))
    np.testing.assert_allclose(d_fit, d_true, atol=0.1)
    m = cisreg.evaluate(fit, data)["test"]
    assert m["I_var_bits"] > 0 and m["R2"] > 0.5


def test_a_bad_count_in_a_later_round_names_its_row_and_column(rng):
    truth, wt = _truth(rng)
    data = cisreg.simulate.rounds(truth, n=50, rng=rng, wt=wt)
    frame = pd.DataFrame({"x": cisreg.data.decode(data.codes, "ACGT"),
                          **{k: data.columns(k)[:, 0] for k in truth.spec.measurement.columns}})
    frame.loc[7, "round2"] = -1
    bad = cisreg.from_dataframe(frame, aggregate=False)
    with pytest.raises(InputError) as e:
        truth.spec.measurement.targets(bad)
    assert "round2" in str(e.value) and "7" in str(e.value)
    with pytest.raises(InputError):
        cisreg.simulate.rounds(cisreg.Model({**_spec(), "measurement": {"type": "ge"}}), n=10, rng=rng)


def test_the_cli_fits_and_predicts_a_rounds_model(rng, tmp_path):
    truth, wt = _truth(rng)
    data = cisreg.simulate.rounds(truth, n=1500, rng=rng, wt=wt)
    cols = list(truth.spec.measurement.columns)
    frame = pd.DataFrame({"x": cisreg.data.decode(data.codes, "ACGT"),
                          **{k: data.columns(k)[:, 0].astype(np.int64) for k in cols}})
    frame.to_csv(tmp_path / "selex.csv", index=False)
    (tmp_path / "model.json").write_text(json.dumps(_spec()))
    run = [sys.executable, "-m", "cisreg"]
    p = subprocess.run(run + ["fit", str(tmp_path / "selex.csv"), "--model", str(tmp_path / "model.json"),
                              "--out", str(tmp_path / "fit"), "--epochs", "30", "--threads", "1"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    report = json.loads((tmp_path / "fit" / "report.json").read_text())
    assert report["metrics"]["test"]["reads"] > 0
    p = subprocess.run(run + ["predict", str(tmp_path / "fit"), str(tmp_path / "selex.csv"), "--out",
                              str(tmp_path / "pred.csv")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert {"phi", "yhat"} <= set(pred.columns) and len(pred) == len(frame)
