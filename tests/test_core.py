"""The compiled core against the NumPy reference: forward passes and gradients."""

from __future__ import annotations

import numpy as np
import pytest

import reference as ref
from cisreg import _core
from cisreg.models import Model, preset
from gradcheck import check_coordinates, check_directional
from randmodels import random_data, random_model

#: precision and agreement tests: once per executable CPU kernel copy (conftest.py)
pytestmark = pytest.mark.usefixtures("kernel_level")


def _loss(model, codes, targets, theta, rows=None, n_threads=1):
    c = model.compiled
    return _core.loss_and_grad(c.core, codes, targets, theta, rows, n_threads, False)[0]


@pytest.mark.parametrize("seed", range(12))
def test_forward_matches_reference(seed):
    rng = np.random.default_rng(seed)
    model = random_model(rng, scale=2.0)
    codes, targets = random_data(rng, model, 57)
    phi, dG, logp, logZ = _core.phi(model.core, codes, model.theta, None, 1, True)
    rphi, rlogp, rlogZ, rdG = ref.thermo_phi(model.spec, model.layout, model.theta, codes)
    np.testing.assert_allclose(dG, rdG, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(logZ, rlogZ, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(logp, rlogp, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(phi, rphi, rtol=1e-10, atol=1e-14)
    loss, _, rows_nll = _core.loss_and_grad(model.core, codes, targets,
                                            model.theta, None, 1, False, None, True)
    rnll = ref.nll_rows(model.spec, model.layout, model.theta, rphi, targets)
    np.testing.assert_allclose(rows_nll, rnll, rtol=1e-10, atol=1e-12)
    assert loss == pytest.approx(rnll.sum(), rel=1e-10)


@pytest.mark.parametrize("noise", ["gaussian", "cauchy"])
def test_ge_forward_matches_reference(noise):
    rng = np.random.default_rng(7)
    for _ in range(4):
        model = random_model(rng, measurement={"type": "ge", "noise": noise, "hidden": 3})
        codes, y = random_data(rng, model, 40)
        phi = model.x_to_phi(codes)
        _, per_row = model.loss(codes, y, per_row=True)
        np.testing.assert_allclose(per_row, ref.nll_rows(model.spec, model.layout, model.theta, phi, y), rtol=1e-10)
        np.testing.assert_allclose(model.phi_to_yhat(phi), ref.ge_g(model.layout, model.theta, phi), rtol=1e-10)


def test_lac_measurement_forward_matches_reference():
    rng = np.random.default_rng(3)
    model = Model(preset("lac"), seed=3)
    phi = rng.uniform(0, 1, 100)
    np.testing.assert_allclose(np.log(model.p_of_y_given_phi(phi)), ref.mpa_logp(model.layout, model.theta, phi),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_gradient_every_coordinate(seed):
    """Whole loss vs central differences in every coordinate of a small model."""
    rng = np.random.default_rng(100 + seed)
    model = random_model(rng, learn_activity=bool(seed % 2), n_sites=int(rng.integers(1, 4)))
    codes, targets = random_data(rng, model, 30)
    lay = model.layout
    lay_t = lay["t_sat"]
    _, g = model.loss(codes, targets, grad=True)
    f = lambda th: _loss(model, codes, targets, th)  # noqa: E731
    idx = np.arange(lay.size)
    check_coordinates(f, g, model.theta, idx, rtol=1e-6, atol=1e-7)
    assert lay_t.size == 1


@pytest.mark.parametrize("noise", ["gaussian", "cauchy"])
def test_gradient_ge(noise):
    rng = np.random.default_rng(11)
    model = random_model(rng, measurement={"type": "ge", "noise": noise, "hidden": 4})
    codes, y = random_data(rng, model, 40)
    _, g = model.loss(codes, y, grad=True)
    check_coordinates(lambda th: _loss(model, codes, y, th), g, model.theta, range(model.layout.size),
                      rtol=1e-6, atol=1e-7)


def test_phi_vjp_in_isolation():
    """phi_vjp gives d(sum_i w_i phi_i)/d theta: the G-P map's VJP without a measurement."""
    rng = np.random.default_rng(5)
    model = random_model(rng, n_sites=3, n_states=6, learn_activity=True)
    codes, _ = random_data(rng, model, 64)
    w = rng.normal(size=64)
    g = model.phi_vjp(codes, w)

    def f(th):
        return float(w @ ref.thermo_phi(model.spec, model.layout, th, codes)[0])

    check_coordinates(f, g, model.theta, range(model.layout.size), rtol=1e-6, atol=1e-8)
    rows = np.array([3, 1, 60], np.int64)
    g_rows = model.phi_vjp(codes, w[:3], rows)
    check_coordinates(lambda th: float(w[:3] @ ref.thermo_phi(model.spec, model.layout, th, codes[rows])[0]),
                      g_rows, model.theta, range(model.layout.size), rtol=1e-6, atol=1e-8)


def test_lac_gradient_by_block(rng):
    """Every parameter block of the lac model, directional checks restricted to the block."""
    model = Model(preset("lac"), seed=1)
    lay = model.layout
    lay.view(model.theta, "dG_I")[...] = -2.5
    codes = rng.integers(0, 4, (300, 75), dtype=np.uint8)
    counts = rng.poisson(0.3, (300, 10)).astype(np.float64)
    counts[:20] = 0  # rows with zero counts
    _, g = model.loss(codes, counts, grad=True)
    f = lambda th: _loss(model, codes, counts, th)  # noqa: E731
    for b in lay:
        mask = np.zeros(lay.size, bool)
        mask[b.offset:b.stop] = True
        check_directional(f, g, model.theta, rng, n_dirs=3, mask=mask, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("energy", [-50.0, 50.0])
def test_extreme_energies(energy, rng):
    """Site energies at +-50 kT: finite results, saturated probabilities, correct gradients."""
    model = random_model(rng, n_sites=2, n_states=4)
    lay, th = model.layout, model.theta
    for s in model.spec.sites:
        lay.view(th, f"E.{s.name}")[...] = 0.0
        lay.view(th, f"eps.{s.name}")[...] = energy
    codes, targets = random_data(rng, model, 50)
    phi, dG, _logp, logZ = _core.phi(model.core, codes, th, None, 1, True)
    assert np.all(np.isfinite(phi)) and np.all(np.isfinite(logZ))
    np.testing.assert_allclose(dG, energy)
    rphi, _rlogp, rlogZ, _ = ref.thermo_phi(model.spec, lay, th, codes)
    np.testing.assert_allclose(phi, rphi, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(logZ, rlogZ, rtol=1e-10)
    loss, g = model.loss(codes, targets, grad=True)
    assert np.isfinite(loss) and np.all(np.isfinite(g))
    check_directional(lambda t: _loss(model, codes, targets, t), g, th, rng, n_dirs=4, rtol=1e-6, atol=1e-6)


def test_saturated_measurement(rng):
    """Huge MPA weights saturate the softmax and tanh units; everything stays finite."""
    model = Model(preset("lac"), seed=2)
    lay, th = model.layout, model.theta
    lay.view(th, "mpa.b")[...] *= 400.0
    lay.view(th, "mpa.c")[...] *= 300.0
    codes = rng.integers(0, 4, (100, 75), dtype=np.uint8)
    counts = rng.poisson(0.5, (100, 10)).astype(np.float64)
    loss, g = model.loss(codes, counts, grad=True)
    assert np.isfinite(loss) and np.all(np.isfinite(g))
    phi = model.x_to_phi(codes)
    np.testing.assert_allclose(loss, ref.mpa_nll_rows(lay, th, phi, counts).sum(), rtol=1e-9)


def test_zero_count_rows_contribute_nothing(rng):
    model = Model(preset("lac"), seed=4)
    codes = rng.integers(0, 4, (50, 75), dtype=np.uint8)
    counts = np.zeros((50, 10))
    loss, g = model.loss(codes, counts, grad=True)
    assert loss == 0.0 and not np.any(g)


def test_rows_select_without_copy_semantics(rng):
    model = random_model(rng)
    codes, targets = random_data(rng, model, 500)
    rows = rng.choice(500, 137, replace=False).astype(np.int64)
    l1, g1 = model.loss(codes, targets, rows, grad=True)
    l2, g2 = model.loss(np.ascontiguousarray(codes[rows]), np.ascontiguousarray(targets[rows]), grad=True)
    assert l1 == pytest.approx(l2, rel=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-10, atol=1e-12)


@pytest.mark.usefixtures("every_thread")
def test_threads_give_identical_results(rng):
    model = Model(preset("lac"), seed=9)
    codes = rng.integers(0, 4, (3000, 75), dtype=np.uint8)
    counts = rng.poisson(0.3, (3000, 10)).astype(np.float64)
    c = model.compiled
    r1 = _core.loss_and_grad(c.core, codes, counts, model.theta, None, 1)
    r2 = _core.loss_and_grad(c.core, codes, counts, model.theta, None, 2)
    r3 = _core.loss_and_grad(c.core, codes, counts, model.theta, None, 3)
    assert r1[0] == r2[0] == r3[0]
    assert np.array_equal(r1[1], r2[1]) and np.array_equal(r1[1], r3[1])
    p1 = _core.phi(c.core, codes, model.theta, None, 1)
    p2 = _core.phi(c.core, codes, model.theta, None, 2)
    assert np.array_equal(p1, p2)


def test_energies_spanning_plus_minus_50_kT(rng):
    """Site energies that vary over +-50 kT across sequences: results match the reference
    and the gradient matches finite differences."""
    model = random_model(rng, n_sites=2, n_states=4)
    lay, th = model.layout, model.theta
    for s in model.spec.sites:
        lay.view(th, f"E.{s.name}")[...] = rng.uniform(-50.0 / s.width, 50.0 / s.width, (s.width, 4))
        lay.view(th, f"eps.{s.name}")[...] = 0.0
    codes, targets = random_data(rng, model, 200)
    phi, dG, _, logZ = _core.phi(model.core, codes, th, None, 1, True)
    assert dG.min() < -15 and dG.max() > 15
    rphi, _, rlogZ, _ = ref.thermo_phi(model.spec, lay, th, codes)
    np.testing.assert_allclose(phi, rphi, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(logZ, rlogZ, rtol=1e-10)
    loss, g = model.loss(codes, targets, grad=True)
    assert np.isfinite(loss) and np.all(np.isfinite(g))
    check_directional(lambda t: _loss(model, codes, targets, t), g, th, rng, n_dirs=4, rtol=1e-6, atol=1e-6)
