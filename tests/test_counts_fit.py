"""MPRA counts end to end: `cisreg.simulate.counts` draws from exactly the likelihood the
counts measurement fits; a fit recovers the truth with its physical sign; per-barcode rows
and aggregated rows give the same Poisson fit; barcode tables read from files fit as the
simulated frame does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln, xlogy
from scipy.stats import spearmanr

import cisreg
from cisreg import _core
from cisreg.models.measurement import negbin_nll

L = 20


def _spec(noise="poisson", R=2, pseudocount=0.5, link="loglinear"):
    return {
        "name": "one-activator", "alphabet": "dna", "length": L,
        "sites": [{"name": "A", "start": 0, "width": 9}, {"name": "P", "start": 10, "width": 10}],
        "thermodynamic": {"states": [
            {"name": "free", "bound": []},
            {"name": "P", "bound": ["P"], "activity": 1},
            {"name": "A", "bound": ["A"]},
            {"name": "A+P", "bound": ["A", "P"], "interactions": ["dG_I"], "activity": 1},
        ]},
        "measurement": {"type": "counts", "input": [f"dna_{r}" for r in range(R)],
                        "output": [f"rna_{r}" for r in range(R)], "noise": noise, "link": link,
                        "pseudocount": pseudocount},
    }


def _truth(rng, wt=None, **kw):
    """A promoter P activated by A: both sites bind the wild type best, so mutations weaken
    them (ddG ~ 1 kT per mutation in A, ~0.3 kT in P); at the wild type A is bound most of
    the time and P about a quarter of it."""
    wt = wt or _wt(rng)
    m = cisreg.Model(_spec(**kw))
    lay, th = m.layout, m.theta.copy()
    w = np.array(["ACGT".index(c) for c in wt])

    def matrix(lo, hi, width, start):
        e = rng.uniform(lo, hi, (width, 4))
        e[np.arange(width), w[start:start + width]] = 0.0
        return e

    lay.view(th, "E.A")[...] = matrix(0.5, 1.5, 9, 0)
    lay.view(th, "E.P")[...] = matrix(0.2, 0.8, 10, 10)
    lay.view(th, "eps.A")[...] = -2.0
    lay.view(th, "eps.P")[...] = 1.0
    lay.view(th, "dG_I")[...] = -3.0
    R = len(lay.view(th, "counts.log_depth"))
    lay.view(th, "counts.log_depth")[...] = np.linspace(-0.5, 0.3, R)
    if "counts.log_slope" in lay:
        lay.view(th, "counts.log_slope")[...] = np.log(4.0)
    if "counts.log_dispersion" in lay:
        lay.view(th, "counts.log_dispersion")[...] = np.log(0.05)
    m.theta[:] = th
    return m, wt


def _wt(rng):
    return "".join(rng.choice(list("ACGT"), L))


@pytest.mark.parametrize("noise", ["poisson", "negbin"])
def test_simulated_counts_follow_the_fitted_likelihood(rng, noise):
    """The per-row NLL the kernels compute equals the NLL of the simulator's own means:
    the simulator and the measurement agree on depths, link and noise."""
    truth, wt = _truth(rng, noise=noise)
    data = cisreg.simulate.counts(truth, n=300, rng=rng, wt=wt, mutation_rate=0.2)
    assert data.kind == "table" and 250 < data.n <= 300  # the library repeats a few variants
    meas = truth.spec.measurement
    t = meas.targets(data)
    R = meas.replicates
    loss, _, rows = _core.loss_and_grad(truth.core, data.codes, t, truth.theta, None, 1, False, None, True)
    phi = truth.x_to_phi(data.codes)
    lay, th = truth.layout, truth.theta
    depth = lay.view(th, "counts.log_depth")
    g = np.exp(np.exp(lay.view(th, "counts.log_slope")) * phi)
    mu = (t[:, :R] + meas.pseudocount) * np.exp(depth)[None, :] * g[:, None]
    y = t[:, R:]
    if noise == "poisson":
        want = (mu - xlogy(y, mu) + gammaln(y + 1)).sum(axis=1)
    else:
        want = negbin_nll(y, mu, np.exp(-lay.view(th, "counts.log_dispersion"))[None, :]).sum(axis=1)
    np.testing.assert_allclose(rows, want, rtol=1e-9, atol=1e-9)
    assert loss == pytest.approx(want.sum(), rel=1e-9)


@pytest.mark.parametrize("noise", ["poisson", "negbin"])
def test_counts_fit_recovers_the_truth_with_its_sign(rng, noise):
    truth, wt = _truth(rng, noise=noise)
    data = cisreg.simulate.counts(truth, n=6000, rng=rng, wt=wt, mutation_rate=0.25)
    res = cisreg.fit(data, _spec(noise=noise), epochs=400, patience=50, batch_size=2000, learning_rate=0.02, seed=1,
                     quiet=True, dtype="float64")
    fit = res.model
    e_true = truth.get_theta(gauge="uniform")["energies"]["A"].to_numpy().ravel()
    e_fit = fit.get_theta(gauge="uniform")["energies"]["A"].to_numpy().ravel()
    r = np.corrcoef(e_true, e_fit)[0, 1]
    assert r > 0.95, r  # the sign is identified: a flipped matrix would give r near -1
    e_p = [m.get_theta(gauge="uniform")["energies"]["P"].to_numpy().ravel() for m in (truth, fit)]
    assert np.corrcoef(*e_p)[0, 1] > 0.9
    assert fit.get_theta()["interactions"]["dG_I"] < -0.5  # A is found to activate, as it does
    # depths are identified up to what g absorbs: their differences are exact parameters
    d_true = np.diff(truth.layout.view(truth.theta, "counts.log_depth"))
    d_fit = np.diff(fit.layout.view(fit.theta, "counts.log_depth"))
    np.testing.assert_allclose(d_fit, d_true, atol=0.05)
    phi_t, phi_f = truth.x_to_phi(data.codes), fit.x_to_phi(data.codes)
    assert spearmanr(phi_t, phi_f)[0] > 0.95  # phi rises with expression, as in the truth
    if noise == "negbin":
        ld = fit.layout.view(fit.theta, "counts.log_dispersion")
        np.testing.assert_allclose(ld, np.log(0.05), atol=0.5)
    m = cisreg.evaluate(fit, data)["test"]
    assert m["I_var_bits"] > 0 and m["R2"] > 0.5


def test_per_barcode_rows_give_the_aggregated_poisson_fit(rng):
    """With no pseudocount the Poisson likelihood of the barcodes of a variant and that of
    their summed counts differ by a constant: the same full-batch fit, theta for theta
    (without a penalty: the L2 penalty is per row, and here a row is a barcode or a variant)."""
    truth, wt = _truth(rng, noise="poisson", pseudocount=0.0)
    seed = int(rng.integers(1 << 30))
    kw = dict(n=800, wt=wt, mutation_rate=0.2, barcodes_per_variant=4.0)
    per_bc = cisreg.simulate.counts(truth, rng=np.random.default_rng(seed), per_barcode=True, **kw)
    agg = cisreg.simulate.counts(truth, rng=np.random.default_rng(seed), per_barcode=False, **kw)
    assert per_bc.n > 2 * agg.n and agg.n <= 800
    spec = _spec(noise="poisson", pseudocount=0.0)
    fk = dict(epochs=40, batch_size=100_000, learning_rate=0.05, seed=3, quiet=True, dtype="float64", l2=0.0)
    a = cisreg.fit(per_bc, spec, **fk)
    b = cisreg.fit(agg, spec, **fk)
    assert a.history["val_nll"] is not None
    # the steps are normalised per row (barcodes or variants): equal up to Adam's eps
    np.testing.assert_allclose(a.model.theta, b.model.theta, rtol=2e-5, atol=1e-7)
    # the pseudocount breaks the equality (it is added per row): the test can tell
    spec_pc = _spec(noise="poisson", pseudocount=0.5)
    c = cisreg.fit(per_bc, spec_pc, **fk)
    d = cisreg.fit(agg, spec_pc, **fk)
    assert np.abs(c.model.theta - d.model.theta).max() > 1e-4


def test_barcode_tables_from_files_read_back_as_the_aggregated_set(rng, tmp_path):
    """The per-barcode simulation written as an MPRA pipeline's two tables (barcode counts,
    barcode -> sequence) and read back with read_barcodes, aggregated, is the aggregated set."""
    truth, wt = _truth(rng, noise="poisson", pseudocount=0.0)  # then the sums are the same draws
    seed = int(rng.integers(1 << 30))
    kw = dict(n=300, wt=wt, mutation_rate=0.2)
    per_bc = cisreg.simulate.counts(truth, rng=np.random.default_rng(seed), per_barcode=True, **kw)
    agg = cisreg.simulate.counts(truth, rng=np.random.default_rng(seed), **kw)
    import pandas as pd

    cols = ["dna_0", "rna_0", "dna_1", "rna_1"]
    bc = per_bc.extra["barcode"]
    counts = pd.DataFrame({"barcode": bc, **{c: per_bc.extra[c].astype(np.int64) for c in cols}})
    counts.to_csv(tmp_path / "counts.tsv.gz", sep="\t", index=False)
    pd.DataFrame({"barcode": bc, "x": per_bc.x}).to_csv(tmp_path / "map.csv", index=False)
    read = cisreg.read_barcodes(tmp_path / "counts.tsv.gz", tmp_path / "map.csv", seed=0)
    order = np.argsort(read.x)
    want = np.argsort(agg.x)
    np.testing.assert_array_equal(read.x[order], agg.x[want])
    np.testing.assert_array_equal(read.columns(cols)[order], agg.columns(cols)[want])


def test_simulate_counts_refuses_other_measurements(rng):
    with pytest.raises(cisreg.InputError, match="counts"):
        cisreg.simulate.counts(cisreg.Model("lac"), n=10, rng=rng)


def test_a_split_without_reads_is_refused():
    """Output counts that are all 0 leave no read to average the loss over: an error naming
    the split, not a division by zero."""
    rng = np.random.default_rng(0)
    n = 300
    x = ["".join(rng.choice(list("ACGT"), 20)) for _ in range(n)]
    df = pd.DataFrame({"x": x, "dna_1": rng.integers(1, 10, n), "rna_1": np.zeros(n, int)})
    spec = {"alphabet": "ACGT", "length": 20, "sites": [{"name": "A", "start": 2, "width": 6}],
            "thermodynamic": {"states": [{"name": "e", "bound": []}, {"name": "A", "bound": ["A"], "activity": 1}]},
            "measurement": {"type": "counts", "input": ["dna_1"], "output": ["rna_1"]}}
    with pytest.raises(cisreg.InputError, match="training rows hold no reads"):
        cisreg.fit(cisreg.from_dataframe(df), cisreg.spec_from_dict(spec), quiet=True, epochs=2)


def test_the_l2_penalty_does_not_depend_on_sequencing_depth():
    """L2 is per variant (row): the same library read 10x deeper gives the same energies
    within noise. (Per read, as before, the penalty grew with depth: with this l2 and these
    depths both fits collapsed towards zero energies.)"""
    truth, wt = _truth(np.random.default_rng(0), noise="negbin")
    fits = []
    for reads in (20.0, 200.0):
        data = cisreg.simulate.counts(truth, n=4000, rng=np.random.default_rng(1), wt=wt, mutation_rate=0.25,
                                      dna_reads_per_barcode=reads)
        res = cisreg.fit(data, _spec(noise="negbin"), epochs=150, patience=30, batch_size=500, learning_rate=0.02,
                         seed=1, quiet=True, dtype="float64", l2=1e-3)
        fits.append(res.model.get_theta(gauge="uniform")["energies"]["A"].to_numpy().ravel())
    e_true = truth.get_theta(gauge="uniform")["energies"]["A"].to_numpy().ravel()
    for e in fits:
        assert np.corrcoef(e, e_true)[0, 1] > 0.95
        assert 0.85 < np.linalg.norm(e) / np.linalg.norm(e_true) < 1.2
    assert 0.9 < np.linalg.norm(fits[1]) / np.linalg.norm(fits[0]) < 1.1
