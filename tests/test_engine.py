"""The engine's contracts: every CPU kernel level against the one-row reference, float32
against float64 (with stated tolerances), thread invariance in each precision, row weights,
and the kinetic solvers against an independent dense linear solve."""

from __future__ import annotations

import numpy as np
import pytest

import cisreg
import reference as ref
from cisreg import _core
from cisreg.models import Model, preset, spec_from_dict
from gradcheck import check_coordinates, check_directional
from randmodels import random_data, random_model
from test_kinetic import random_kinetic_dict

#: float32 compute, float64 accumulation: the loss agrees with float64 to this relative
#: error, every gradient entry to this fraction of the largest gradient entry of its block.
F32_LOSS_RTOL = 1e-6
F32_GRAD_TOL = 5e-5


def _levels():
    """The CPU kernel levels this machine can run (the others raise InputError)."""
    ok = []
    m = Model(preset("lac"))
    codes = np.zeros((1, 75), np.uint8)
    for level in _core.kernel_levels():
        try:
            _core.phi(m.core, codes, m.theta, isa=level)
            ok.append(level)
        except cisreg.InputError:
            pass
    return ok


LEVELS = _levels()


def _models(rng):
    """A thermodynamic model (sort-seq), one with GE noise, and a kinetic model under both
    solvers, each with random parameters and data."""
    out = []
    th = random_model(rng, n_sites=3, n_states=5, learn_activity=True)
    out.append(("thermo_sortseq", th))
    out.append(("thermo_ge", random_model(rng, n_sites=2, n_states=4,
                                          measurement={"type": "ge", "noise": "cauchy", "hidden": 3})))
    out.append(("sliding_pairwise", random_model(rng, n_sites=3, n_states=4, kinds=("additive", "pairwise"),
                                                 sliding=0.6, L=40, scale=0.5)))
    out.append(("protein_pairwise", random_model(rng, n_sites=2, n_states=3, kinds=("pairwise",), alphabet="protein",
                                                 scale=0.3)))
    for solver in ("king-altman", "linear"):
        d = random_kinetic_dict(np.random.default_rng(7), 4, flux=True, solver=solver)
        k = Model(spec_from_dict(d), seed=1)
        k.theta[:] = np.random.default_rng(8).normal(0, 0.7, k.theta.size)
        k.layout.view(k.theta, "t_sat")[...] = 1.2
        out.append((f"kinetic_{solver}", k))
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_kernel_level_matches_the_one_row_reference(dtype, rng):
    """The SIMD copies run the same row functions as the scalar reference: float64 agrees to
    rounding, float32 to float32 rounding."""
    rtol = 1e-12 if dtype == "float64" else 1e-5
    for name, m in _models(rng):
        codes, targets = random_data(rng, m, 700)  # several chunks, partial tiles and lanes
        rows = np.sort(rng.choice(700, 333, replace=False)).astype(np.int64)
        l0, g0 = _core.loss_and_grad(m.core, codes, targets, m.theta, rows, 1, dtype=dtype, isa="scalar")
        p0 = _core.phi(m.core, codes, m.theta, rows, 1, True, dtype=dtype, isa="scalar")
        gs = np.abs(g0).max()
        for level in LEVELS:
            l1, g1 = _core.loss_and_grad(m.core, codes, targets, m.theta, rows, 1, dtype=dtype, isa=level)
            assert l1 == pytest.approx(l0, rel=rtol), (name, level)
            np.testing.assert_allclose(g1, g0, rtol=0, atol=rtol * gs * 10, err_msg=f"{name} {level}")
            p1 = _core.phi(m.core, codes, m.theta, rows, 1, True, dtype=dtype, isa=level)
            for a, b in zip(p1, p0):
                if np.all(np.isnan(b)):
                    assert np.all(np.isnan(a))
                    continue
                np.testing.assert_allclose(a, b, rtol=rtol * 10, atol=rtol * 10, err_msg=f"{name} {level}")


@pytest.mark.usefixtures("kernel_level")
def test_float32_against_float64(rng):
    """float32 compute with float64 accumulation: the stated tolerances, for every model
    class and every parameter block."""
    for name, m in _models(rng):
        codes, targets = random_data(rng, m, 2000)
        l64, g64 = m.loss(codes, targets, grad=True)
        l32, g32 = m.loss(codes, targets, grad=True, dtype="float32")
        assert l32 == pytest.approx(l64, rel=F32_LOSS_RTOL), name
        for b in m.layout:
            if not b.trainable:
                continue
            sl = slice(b.offset, b.stop)
            scale = max(np.abs(g64[sl]).max(), 1e-3 * np.abs(g64).max())
            assert np.abs(g32[sl] - g64[sl]).max() <= F32_GRAD_TOL * scale, (name, b.name)
        np.testing.assert_allclose(m.x_to_phi(codes, dtype="float32"), m.x_to_phi(codes), rtol=1e-5, atol=1e-6)


@pytest.mark.usefixtures("kernel_level")
def test_float32_gradient_against_finite_differences(rng):
    """The float32 gradient against central differences of the float64 loss."""
    m = random_model(rng, n_sites=2, n_states=4, learn_activity=True)
    codes, targets = random_data(rng, m, 400)
    _, g = m.loss(codes, targets, grad=True, dtype="float32")
    gmax = np.abs(g).max()
    check_directional(lambda th: _core.loss_and_grad(m.core, codes, targets, th, None, 1, False)[0], g, m.theta, rng,
                      n_dirs=5, rtol=F32_GRAD_TOL, atol=F32_GRAD_TOL * gmax)


@pytest.mark.usefixtures("every_thread")
@pytest.mark.usefixtures("kernel_level")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_threads_bit_identical_in_each_precision(dtype, rng):
    for name, m in _models(rng):
        codes, targets = random_data(rng, m, 5000)
        rows = np.sort(rng.choice(5000, 3100, replace=False)).astype(np.int64)
        w = rng.uniform(0, 2, 5000)
        outs = [_core.loss_and_grad(m.core, codes, targets, m.theta, rows, nt, True, None, True, weights=w,
                                    dtype=dtype) for nt in (1, 2, 3)]
        for o in outs[1:]:
            assert o[0] == outs[0][0], name
            assert np.array_equal(o[1], outs[0][1]) and np.array_equal(o[2], outs[0][2]), name
        phis = [_core.phi(m.core, codes, m.theta, rows, nt, dtype=dtype) for nt in (1, 2)]
        assert np.array_equal(phis[0], phis[1])


@pytest.mark.usefixtures("kernel_level")
def test_row_weights(rng):
    """weights multiply each row's NLL: integer weights equal repeated rows, and the
    gradient is that of the weighted loss."""
    m = random_model(rng, n_sites=2, n_states=3)
    codes, targets = random_data(rng, m, 60)
    w = rng.integers(0, 4, 60).astype(np.float64)
    lw, gw, per = m.loss(codes, targets, grad=True, per_row=True, weights=w)
    rep = np.repeat(np.arange(60), w.astype(int))
    lr, gr = m.loss(np.ascontiguousarray(codes[rep]), np.ascontiguousarray(targets[rep]), grad=True)
    assert lw == pytest.approx(lr, rel=1e-12)
    np.testing.assert_allclose(gw, gr, rtol=1e-10, atol=1e-10)
    _, per1 = m.loss(codes, targets, per_row=True)
    np.testing.assert_allclose(per, w * per1, rtol=1e-12, atol=1e-14)
    w = rng.uniform(0, 3, 60)
    _, g = m.loss(codes, targets, grad=True, weights=w)
    check_coordinates(lambda th: _core.loss_and_grad(m.core, codes, targets, th, None, 1, False, weights=w)[0], g,
                      m.theta, range(m.layout.size), rtol=1e-6, atol=1e-7)
    with pytest.raises(cisreg.InputError, match=r"weights\[7\]"):
        w[7] = -1.0
        m.loss(codes, targets, weights=w)


@pytest.mark.usefixtures("kernel_level")
@pytest.mark.parametrize("flux", [False, True])
@pytest.mark.parametrize("n_states", [2, 3, 5])
def test_kinetic_solvers_against_dense_solve(flux, n_states):
    """Both kinetic solvers (King-Altman network, per-sequence reduction) against an
    independent dense least-squares solve of pi Q = 0."""
    rng = np.random.default_rng(100 * n_states + flux)
    for solver in ("king-altman", "linear"):
        d = random_kinetic_dict(rng, n_states, flux=flux, solver=solver)
        m = Model(spec_from_dict(d), seed=2)
        m.theta[:] = rng.normal(0, 1.0, m.theta.size)
        m.layout.view(m.theta, "t_sat")[...] = 0.8
        codes = rng.integers(0, 4, (40, m.spec.length), dtype=np.uint8)
        phi_ref, pi_ref = ref.kinetic_phi(m.spec, m.layout, m.theta, codes)
        out = _core.phi(m.core, codes, m.theta, None, 1, True)
        np.testing.assert_allclose(out[0], phi_ref, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(np.exp(out[2]), pi_ref, rtol=1e-8, atol=1e-12)


def test_c_errors_are_input_errors():
    m = Model(preset("lac"))
    with pytest.raises(cisreg.InputError, match="row 0, position 3 holds code 7"):
        codes = np.zeros((2, 75), np.uint8)
        codes[0, 3] = 7
        m.x_to_phi(codes)


def test_fit_package_is_callable_and_importable():
    import cisreg.training.metrics

    assert callable(cisreg.fit) and cisreg.training.metrics.digamma(1.0) == pytest.approx(-0.5772156649015329)
    from cisreg.training import FitResult

    assert FitResult.__name__ == "FitResult"
    # tools that show a callable's signature and help see the fitting function's
    import inspect

    params = inspect.signature(cisreg.fit).parameters
    assert list(params)[:2] == ["data", "model"] and {"epochs", "n_threads", "quiet", "on_epoch"} <= set(params)
    doc = cisreg.fit.__doc__ or ""
    assert doc.startswith("Fit a model") and all(f"    {p}:" in doc for p in ("n_threads", "quiet", "on_epoch"))


def test_chunk_rows_depends_on_model_and_batch_only():
    m = Model(preset("lac"))
    assert m.core.chunk_rows(500) == 256
    assert m.core.chunk_rows(10**6) == 4096


def test_kernel_level_runs_that_copy_everywhere(rng):
    """cisreg.kernel_level makes every call of the block (Model methods included) run the
    named copy, bit for bit the copy that isa= names, and restores the level after it."""
    _, m = _models(rng)[0]
    codes, targets = random_data(rng, m, 300)
    here = _core.cpu_kernel_level()
    assert cisreg.cpu_kernel_levels()[0] == "scalar" and here in cisreg.cpu_kernel_levels()
    for level in cisreg.cpu_kernel_levels():
        want = _core.loss_and_grad(m.core, codes, targets, m.theta, None, 1, dtype="float32", isa=level)
        with cisreg.kernel_level(level) as before:
            assert before == here and _core.cpu_kernel_level() == level
            got = m.loss(codes, targets, grad=True, dtype="float32", n_threads=1)
        assert _core.cpu_kernel_level() == here
        assert got[0] == want[0] and np.array_equal(got[1], want[1]), level
    with pytest.raises(cisreg.InputError, match="isa"), cisreg.kernel_level("x86-64-v9"):
        pass
    assert _core.cpu_kernel_level() == here
