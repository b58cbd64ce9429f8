"""Property tests (hypothesis) of the compiled core."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reference as ref
from cisreg import _core
from randmodels import random_data, random_model

#: precision and agreement tests: once per executable CPU kernel copy (conftest.py)
pytestmark = pytest.mark.usefixtures("kernel_level")

seeds = st.integers(0, 2**31 - 1)


def _setup(seed, n=40, **kw):
    rng = np.random.default_rng(seed)
    model = random_model(rng, scale=float(rng.uniform(0.1, 5.0)), **kw)
    codes, targets = random_data(rng, model, n)
    return rng, model, codes, targets


@given(seeds)
def test_state_probabilities_sum_to_one(seed):
    _, model, codes, _ = _setup(seed)
    _, _, logp, logZ = _core.phi(model.core, codes, model.theta, None, 1, True)
    np.testing.assert_allclose(np.exp(logp).sum(axis=1), 1.0, rtol=1e-12)
    # logZ >= the largest state log-weight
    dG = ref.site_energies(model.spec, model.layout, model.theta, codes)
    logw = ref.thermo_state_logw(model.spec, model.layout, model.theta, dG)
    assert np.all(logZ >= logw.max(axis=1) - 1e-12)


@given(seeds, st.floats(-20, 20))
def test_gauge_invariance(seed, c):
    rng, model, codes, _ = _setup(seed)
    th = model.theta.copy()
    s = model.spec.sites[int(rng.integers(len(model.spec.sites)))]
    pos = int(rng.integers(s.width))
    model.layout.view(th, f"E.{s.name}")[pos, :] += c
    model.layout.view(th, f"eps.{s.name}")[...] -= c
    net = model.core
    a = _core.phi(net, codes, model.theta, None, 1, True)
    b = _core.phi(net, codes, th, None, 1, True)
    np.testing.assert_allclose(b[1], a[1], rtol=1e-9, atol=1e-9)  # dG unchanged
    np.testing.assert_allclose(b[0], a[0], rtol=1e-9, atol=1e-12)


@given(seeds, st.floats(-30, 30))
def test_shifting_every_state_energy(seed, c):
    """Adding c to every state's energy shifts logZ by -c and leaves the state
    probabilities unchanged. Every state binds the single site, so adding c to the
    site's offset adds c to every state energy."""
    from cisreg.models import Model, spec_from_dict
    from randmodels import random_thermo_dict

    rng = np.random.default_rng(seed)
    d = random_thermo_dict(rng, n_sites=1)
    for st_ in d["thermodynamic"]["states"]:
        st_["bound"] = ["s0"]
    model = Model(spec_from_dict(d), seed=seed)
    model.theta[:] += rng.normal(0, 1, model.theta.size)
    codes = rng.integers(0, 4, (30, model.spec.length), dtype=np.uint8)
    th = model.theta.copy()
    model.layout.view(th, "eps.s0")[...] += c
    net = model.core
    a = _core.phi(net, codes, model.theta, None, 1, True)
    b = _core.phi(net, codes, th, None, 1, True)
    np.testing.assert_allclose(b[3], a[3] - c, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(b[2], a[2], atol=1e-9)
    np.testing.assert_allclose(b[0], a[0], rtol=1e-9, atol=1e-12)


@given(seeds)
def test_permuting_rows_permutes_outputs(seed):
    rng, model, codes, targets = _setup(seed)
    perm = rng.permutation(codes.shape[0])
    _, _, r1 = model.loss(codes, targets, None, grad=True, per_row=True)
    _, _, r2 = model.loss(codes, targets, perm.astype(np.int64), grad=True, per_row=True)
    np.testing.assert_allclose(r2, r1[perm], rtol=1e-12)
    np.testing.assert_array_equal(model.x_to_phi(codes[perm]), model.x_to_phi(codes)[perm])


@given(seeds, st.integers(1, 39))
def test_loss_is_additive_over_disjoint_rows(seed, k):
    rng, model, codes, targets = _setup(seed)
    perm = rng.permutation(codes.shape[0]).astype(np.int64)
    A, B = np.sort(perm[:k]), np.sort(perm[k:])
    la, ga = model.loss(codes, targets, A, grad=True)
    lb, gb = model.loss(codes, targets, B, grad=True)
    l_all, g_all = model.loss(codes, targets, None, grad=True)
    np.testing.assert_allclose(la + lb, l_all, rtol=1e-12)
    np.testing.assert_allclose(ga + gb, g_all, rtol=1e-9, atol=1e-9)


@given(seeds, st.integers(1, 1500))
def test_one_and_two_threads_identical(seed, n):
    rng = np.random.default_rng(seed)
    model = random_model(rng)
    codes, targets = random_data(rng, model, n)
    c = model.compiled
    l1, g1 = _core.loss_and_grad(c.core, codes, targets, model.theta, None, 1)
    before = _core.set_min_thread_work(0)  # two threads however few the rows
    try:
        l2, g2 = _core.loss_and_grad(c.core, codes, targets, model.theta, None, 2)
    finally:
        _core.set_min_thread_work(before)
    assert l1 == l2
    assert np.array_equal(g1, g2)
