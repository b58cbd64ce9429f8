"""Measurement processes (layer 3): GE noise models (Gaussian, Cauchy, skewed t,
heteroskedastic, with per-datum measurement error) and MPRA counts (Poisson / negative
binomial, log-linear / sigmoid link, replicates) against independent NumPy references,
hand-written gradients against finite differences in float64 and float32, and the
identities a user relies on (per-barcode and aggregated Poisson give the same gradient)."""

from __future__ import annotations

import numpy as np
import pytest

import cisreg
import reference as ref
from cisreg import _core
from cisreg.models import Model, spec_from_dict
from gradcheck import check_coordinates, check_directional
from randmodels import random_data, random_model

#: precision and agreement tests: once per executable CPU kernel copy (conftest.py)
pytestmark = pytest.mark.usefixtures("kernel_level")

GE_CASES = [(noise, het) for noise in ("gaussian", "cauchy", "skewt") for het in (0, 2)]
COUNT_CASES = [(noise, link, R) for noise in ("poisson", "negbin") for link in ("loglinear", "sigmoid")
               for R in (1, 3)]


def _ge_model(rng, noise, het):
    m = random_model(rng, n_sites=2, n_states=4,
                     measurement={"type": "ge", "noise": noise, "hidden": 3, "heteroskedasticity": het})
    if het:  # a gentle polynomial: log sigma stays in a sane range over g
        m.layout.view(m.theta, "ge.log_sigma_poly")[...] = rng.normal(0, 0.2, het)
    return m


def _counts_model(rng, noise, link, R, pseudocount=0.5):
    meas = {"type": "counts", "input": [f"dna_{r}" for r in range(R)], "output": [f"rna_{r}" for r in range(R)],
            "noise": noise, "link": link, "pseudocount": pseudocount}
    if link == "sigmoid":
        meas["hidden"] = 3
    m = random_model(rng, n_sites=2, n_states=4, measurement=meas)
    lay, th = m.layout, m.theta
    lay.view(th, "counts.log_depth")[...] = rng.normal(-0.3, 0.3, R)
    if noise == "negbin":
        lay.view(th, "counts.log_dispersion")[...] = rng.normal(-1.5, 0.5, R)
    if link == "loglinear":
        lay.view(th, "counts.log_slope")[...] = rng.normal(0, 0.3)
    else:
        lay.view(th, "counts.log_base")[...] = np.log(0.3)
        lay.view(th, "counts.log_w")[...] = rng.normal(-1, 0.3, 3)
        lay.view(th, "counts.log_c")[...] = rng.normal(0, 0.3, 3)
    return m


def _f64_loss(m, codes, targets):
    return lambda th: _core.loss_and_grad(m.core, codes, targets, th, None, 1, False)[0]


def _fd_atol(f, theta):
    """Central differences at h = 1e-6 carry a rounding error of about 1e-10 |f|."""
    return 1e-7 + 1e-8 * abs(f(theta))


def _meas_idx(m):
    return [i for b in m.layout if b.kind == "measurement" for i in range(b.offset, b.stop)]


@pytest.mark.parametrize(("noise", "het"), GE_CASES)
def test_ge_loss_matches_reference(noise, het, rng):
    for _ in range(3):
        m = _ge_model(rng, noise, het)
        codes, targets = random_data(rng, m, 90)
        phi = m.x_to_phi(codes)
        want = ref.ge_nll_rows(m.layout, m.theta, phi, targets, m.spec.measurement)
        _, rows = m.loss(codes, targets, per_row=True)
        np.testing.assert_allclose(rows, want, rtol=1e-10, atol=1e-12)
        _, rows32 = m.loss(codes, targets, per_row=True, dtype="float32")
        np.testing.assert_allclose(rows32, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("noise", "het"), GE_CASES)
def test_ge_gradient_against_finite_differences(noise, het, rng):
    m = _ge_model(rng, noise, het)
    codes, targets = random_data(rng, m, 120)
    f = _f64_loss(m, codes, targets)
    _, g = m.loss(codes, targets, grad=True)
    atol = _fd_atol(f, m.theta)
    check_coordinates(f, g, m.theta, _meas_idx(m), rtol=1e-6, atol=atol)
    check_directional(f, g, m.theta, rng, n_dirs=4, rtol=1e-6, atol=atol)
    _, g32 = m.loss(codes, targets, grad=True, dtype="float32")
    assert np.abs(g32 - g).max() <= 1e-4 * np.abs(g).max()


@pytest.mark.parametrize(("noise", "link", "R"), COUNT_CASES)
def test_counts_loss_matches_reference(noise, link, R, rng):
    for _ in range(3):
        m = _counts_model(rng, noise, link, R)
        codes, targets = random_data(rng, m, 90)
        targets[::7, 0] = 0  # zero input reads: the pseudocount keeps the expectation positive
        targets[::5, R] = 0
        phi = m.x_to_phi(codes)
        want = ref.counts_nll_rows(m.layout, m.theta, phi, targets, m.spec.measurement)
        _, rows = m.loss(codes, targets, per_row=True)
        np.testing.assert_allclose(rows, want, rtol=1e-10, atol=1e-10)
        _, rows32 = m.loss(codes, targets, per_row=True, dtype="float32")
        np.testing.assert_allclose(rows32, want, rtol=2e-5, atol=1e-3)


@pytest.mark.parametrize(("noise", "link", "R"), COUNT_CASES)
def test_counts_gradient_against_finite_differences(noise, link, R, rng):
    m = _counts_model(rng, noise, link, R)
    codes, targets = random_data(rng, m, 120)
    f = _f64_loss(m, codes, targets)
    _, g = m.loss(codes, targets, grad=True)
    atol = _fd_atol(f, m.theta)
    check_coordinates(f, g, m.theta, _meas_idx(m), rtol=1e-6, atol=atol)
    check_directional(f, g, m.theta, rng, n_dirs=4, rtol=1e-6, atol=atol)
    _, g32 = m.loss(codes, targets, grad=True, dtype="float32")
    assert np.abs(g32 - g).max() <= 1e-4 * np.abs(g).max()


def test_counts_large_and_tiny_rates_stay_finite(rng):
    """Energies of +-50 kT drive g to 0 or to e^50: the loss stays finite (the read counts
    make those rates improbable, not impossible) and the gradient is finite."""
    m = _counts_model(rng, "negbin", "loglinear", 2)
    codes, targets = random_data(rng, m, 50)
    for scale in (50.0, -50.0):
        m.layout.view(m.theta, "counts.log_slope")[...] = np.log(abs(scale))
        th = m.theta.copy()
        if scale < 0:  # phi stays in [0, t_sat]: shift log depth instead
            m.layout.view(th, "counts.log_depth")[...] = -50.0
        loss, g = _core.loss_and_grad(m.core, codes, targets, th, None, 1, True)
        assert np.isfinite(loss) and np.isfinite(g).all()


def test_per_barcode_and_aggregated_poisson_have_the_same_gradient(rng):
    """With no pseudocount, Poisson counts of each barcode of a variant and the Poisson
    count of their sum differ by a parameter-free constant: same gradient, and the loss
    difference does not depend on theta."""
    m = _counts_model(rng, "poisson", "sigmoid", 1, pseudocount=0.0)
    n, B = 60, 4
    codes = rng.integers(0, 4, (n, m.spec.length), dtype=np.uint8)
    dna = rng.integers(1, 30, (n, B)).astype(np.float64)
    rna = rng.poisson(dna * 0.8).astype(np.float64)
    per_bc_codes = np.repeat(codes, B, axis=0)
    per_bc = np.stack([dna.ravel(), rna.ravel()], axis=1)
    agg = np.stack([dna.sum(1), rna.sum(1)], axis=1)
    diffs = []
    for _ in range(3):
        th = m.theta + rng.normal(0, 0.2, m.theta.size)
        l1, g1 = _core.loss_and_grad(m.core, per_bc_codes, per_bc, th, None, 1, True)
        l2, g2 = _core.loss_and_grad(m.core, codes, agg, th, None, 1, True)
        np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-9 * np.abs(g1).max())
        diffs.append(l1 - l2)
    assert np.ptp(diffs) < 1e-8 * abs(l1)


def test_negbin_approaches_poisson_as_dispersion_vanishes(rng):
    m_po = _counts_model(rng, "poisson", "loglinear", 2)
    d = m_po.spec.to_dict()
    d["measurement"]["noise"] = "negbin"
    m_nb = Model(spec_from_dict(d))
    codes, targets = random_data(rng, m_po, 80)
    th_nb = m_nb.theta.copy()
    for b in m_po.layout:  # same shared parameters in both models
        m_nb.layout.view(th_nb, b.name)[...] = m_po.layout.view(m_po.theta, b.name)
    l_po = _core.loss_and_grad(m_po.core, codes, targets, m_po.theta, None, 1, False)[0]
    for dtype in ("float64", "float32"):
        for ld, rel in ((-16.0, 2e-4), (-30.0, 1e-7)):  # NB - Poisson ~ sum mu^2 / (2 rd)
            m_nb.layout.view(th_nb, "counts.log_dispersion")[...] = ld
            l_nb = _core.loss_and_grad(m_nb.core, codes, targets, th_nb, None, 1, False, dtype=dtype)[0]
            assert l_nb == pytest.approx(l_po, rel=rel), (dtype, ld)


@pytest.mark.parametrize("log_dispersion", [-4.0, -12.0, -20.0])
def test_negbin_near_poisson_keeps_float32_precision(log_dispersion, rng):
    """Large NB shapes (rd = e^20) lose nothing to cancellation: float32 agrees with float64
    in the loss and in the dispersion gradient, and the float64 gradient with differences."""
    m = _counts_model(rng, "negbin", "loglinear", 2)
    m.layout.view(m.theta, "counts.log_dispersion")[...] = log_dispersion
    codes, targets = random_data(rng, m, 300)
    l64, g64 = m.loss(codes, targets, grad=True)
    l32, g32 = m.loss(codes, targets, grad=True, dtype="float32")
    assert l32 == pytest.approx(l64, rel=1e-6)
    b = m.layout["counts.log_dispersion"]
    sl = slice(b.offset, b.stop)
    # float32 rounding of terms of size y / rd, times rd: an error of about eps32 per output read
    np.testing.assert_allclose(g32[sl], g64[sl], rtol=1e-3, atol=6e-8 * targets[:, 2:].sum())
    f = _f64_loss(m, codes, targets)
    check_coordinates(f, g64, m.theta, list(range(b.offset, b.stop)), rtol=1e-5, atol=_fd_atol(f, m.theta))


def test_python_negbin_matches_the_textbook_form():
    """cisreg.models.measurement.negbin_nll (used for metrics) against scipy's NB pmf where
    the textbook form is accurate, and against the Poisson limit where it is not."""
    from scipy.stats import nbinom, poisson

    from cisreg.models.measurement import negbin_nll

    y = np.arange(0, 60, dtype=float)
    for mu in (0.3, 7.0, 40.0):
        for rd in (0.2, 3.0, 9.99, 10.0, 55.0, 1e3):
            want = -nbinom.logpmf(y, rd, rd / (rd + mu))
            np.testing.assert_allclose(negbin_nll(y, mu, rd), want, rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(negbin_nll(y, mu, 1e14), -poisson.logpmf(y, mu), rtol=1e-9, atol=1e-9)


def test_ge_measurement_error_widens_the_noise(rng):
    """dy enters as sqrt(sigma^2 + dy^2): with sigma tiny, a row's NLL is that of N(g, dy^2)."""
    m = _ge_model(rng, "gaussian", 0)
    codes, targets = random_data(rng, m, 40)
    targets[:, 1] = rng.uniform(0.5, 2.0, 40)
    m.layout.view(m.theta, "ge.log_sigma")[...] = -30.0
    g = m.phi_to_yhat(m.x_to_phi(codes))
    _, rows = m.loss(codes, targets, per_row=True)
    dy = targets[:, 1]
    want = 0.5 * np.log(2 * np.pi) + np.log(dy) + 0.5 * ((targets[:, 0] - g) / dy) ** 2
    np.testing.assert_allclose(rows, want, rtol=1e-10)


def test_skewt_is_normalised_and_peaks_at_g(rng):
    """The skewed-t density (centred at its mode) integrates to 1 and is largest at y = g."""
    m = _ge_model(rng, "skewt", 0)
    m.layout.view(m.theta, "ge.log_a")[...] = np.log(1.5)
    m.layout.view(m.theta, "ge.log_b")[...] = np.log(4.0)
    codes = np.repeat(rng.integers(0, 4, (1, m.spec.length), dtype=np.uint8), 4001, axis=0)
    g = float(m.phi_to_yhat(m.x_to_phi(codes[:1]))[0])
    s = float(np.exp(m.layout.view(m.theta, "ge.log_sigma")))
    y = g + s * np.linspace(-60, 60, 4001)
    _, rows = m.loss(codes, np.stack([y, np.zeros_like(y)], axis=1), per_row=True)
    dens = np.exp(-rows)
    assert np.trapezoid(dens, y) == pytest.approx(1.0, abs=2e-3)
    assert abs(y[np.argmax(dens)] - g) <= 1.01 * (y[1] - y[0])


@pytest.mark.parametrize(("col", "value", "what"), [(1, -0.5, "dy"), (0, np.nan, "y")])
def test_ge_bad_targets_name_the_row(col, value, what, rng):
    m = _ge_model(rng, "gaussian", 0)
    codes, targets = random_data(rng, m, 30)
    targets[17, col] = value
    with pytest.raises(cisreg.InputError, match="row 17"):
        m.loss(codes, targets)


def test_counts_bad_targets_name_the_row(rng):
    m = _counts_model(rng, "poisson", "loglinear", 2)
    codes, targets = random_data(rng, m, 30)
    targets[11, 3] = -1.0
    with pytest.raises(cisreg.InputError, match="row 11"):
        m.loss(codes, targets)
    targets[11, 3] = np.inf
    with pytest.raises(cisreg.InputError, match="row 11"):
        m.loss(codes, targets)


def test_zero_input_without_pseudocount_is_refused(rng):
    m = _counts_model(rng, "poisson", "loglinear", 2, pseudocount=0.0)
    codes, targets = random_data(rng, m, 30)
    targets[:, :2] += 1
    m.loss(codes, targets)
    targets[9, 1] = 0
    with pytest.raises(cisreg.InputError, match="row 9.*no pseudocount"):
        m.loss(codes, targets)
    with pytest.raises(cisreg.InputError, match="row 9.*no pseudocount"):
        _core.loss_and_grad(m.core, codes, targets, m.theta, None, 1, True, dtype="float32")
