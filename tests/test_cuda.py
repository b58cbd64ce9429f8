"""The CUDA back end.

Everywhere: without CUDA the back end says so clearly, and the device's plan image (built
on the host in every build) reproduces the CPU plan and the CPU's gradient flush for every
stage kind. With a CUDA device (cisreg.cuda_available()): phi, the loss and every gradient
block agree with the CPU (float64 to 1e-12 relative, float32 to the engine's stated float32
tolerances), results are bit-identical run to run, streamed and device-resident
evaluations agree bit for bit, and the device's Adam step is numpy's.
"""

from __future__ import annotations

import numpy as np
import pytest

import cisreg
from cisreg import _core
from cisreg.devices import resolve_device
from cisreg.models import Model, preset, spec_from_dict
from randmodels import random_data, random_model
from test_kinetic import random_kinetic_dict

HAVE_CUDA = cisreg.cuda_available()
needs_cuda = pytest.mark.skipif(not HAVE_CUDA, reason="no CUDA device: cisreg.cuda_available() is False (a build "
                                                      "without CISREG_CUDA=ON, or no GPU visible)")

#: float32 compute, float64 accumulation, against the float64 CPU result (tests/test_engine.py).
F32_LOSS_RTOL = 1e-6
F32_GRAD_TOL = 5e-5
#: float64 on the device against float64 on the CPU.
F64_RTOL = 1e-12


def _counts_dict(noise, link):
    return {"type": "counts", "input": ["in1", "in2"], "output": ["out1", "out2"], "noise": noise, "link": link,
            "hidden": 3}


def _zoo(rng):
    """One model of every stage kind, with random parameters."""
    out = [
        ("thermo_sortseq", random_model(rng, n_sites=3, n_states=5, learn_activity=True)),
        ("ge_gaussian_het", random_model(rng, n_sites=2, n_states=4, measurement={
            "type": "ge", "noise": "gaussian", "hidden": 3, "heteroskedasticity": 2}, scale=0.5)),
        ("ge_cauchy", random_model(rng, n_sites=2, n_states=3, measurement={"type": "ge", "noise": "cauchy",
                                                                             "hidden": 2})),
        ("ge_skewt", random_model(rng, n_sites=2, n_states=3, measurement={"type": "ge", "noise": "skewt",
                                                                           "hidden": 2})),
        ("counts_poisson_loglinear", random_model(rng, n_sites=2, n_states=3,
                                                  measurement=_counts_dict("poisson", "loglinear"), scale=0.3)),
        ("counts_negbin_sigmoid", random_model(rng, n_sites=2, n_states=3,
                                               measurement=_counts_dict("negbin", "sigmoid"), scale=0.3)),
        ("sliding_pairwise", random_model(rng, n_sites=3, n_states=4, kinds=("additive", "neighbor", "pairwise"),
                                          sliding=0.6, L=40, scale=0.5)),
        ("protein_pairwise", random_model(rng, n_sites=2, n_states=3, kinds=("pairwise",), alphabet="protein",
                                          scale=0.3)),
    ]
    for solver in ("king-altman", "linear"):
        d = random_kinetic_dict(np.random.default_rng(7), 4, flux=True, solver=solver)
        k = Model(spec_from_dict(d), seed=1)
        k.theta[:] = np.random.default_rng(8).normal(0, 0.7, k.theta.size)
        k.layout.view(k.theta, "t_sat")[...] = 1.2
        out.append((f"kinetic_{solver}", k))
    return out


def _negbin_large_shape(m):
    """NB dispersions small enough that both forms of the likelihood (shape < 10 and >= 10) occur."""
    lay = m.layout
    for b in lay:
        if b.name.endswith("log_dispersion"):
            lay.view(m.theta, b.name)[...] = [np.log(0.5), np.log(0.01)]
    return m


# ------------------------------------------------------------------ everywhere
def test_cuda_available_asks_the_compiled_core():
    assert cisreg.cuda_available() is bool(_core.cuda_available())
    info = cisreg.devices.cuda_device_info()
    assert set(info) >= {"built", "count", "name", "error"}
    if not HAVE_CUDA:
        assert info["count"] == 0 or not info["built"]
        assert info["error"]


@pytest.mark.skipif(HAVE_CUDA, reason="checks the behaviour without a CUDA device")
def test_without_cuda_every_entry_point_says_so():
    m = Model(preset("lac"))
    codes = np.zeros((4, 75), np.uint8)
    targets = np.ones((4, 10))
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(cisreg.InputError, match="device='cuda' is not available"):
        resolve_device("cuda")
    with pytest.raises(cisreg.InputError, match="CUDA"):
        _core.CudaSession(m.core, codes, targets)
    with pytest.raises(cisreg.InputError, match="CUDA"):
        _core.loss_and_grad(m.core, codes, targets, m.theta, device="cuda")
    with pytest.raises(cisreg.InputError, match="CUDA"):
        _core.phi(m.core, codes, m.theta, device="cuda")
    with pytest.raises(cisreg.InputError, match="device must be one of"):
        resolve_device("gpu")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_device_plan_image_matches_the_cpu_plan_and_flush(dtype, rng):
    """The image the device refreshes from theta holds what the CPU plan of that theta holds,
    and its sparse flush map gives the CPU stages' gradient (checked on the host)."""
    for name, m in _zoo(rng) + [("lac", Model(preset("lac"), seed=3))]:
        if name == "counts_negbin_sigmoid":
            _negbin_large_shape(m)
        theta0 = m.theta.copy()
        theta1 = theta0 + rng.normal(0, 0.3, theta0.size)
        if name == "counts_negbin_sigmoid":
            theta1[[i for b in m.layout if b.name.endswith("log_dispersion")
                    for i in range(b.offset, b.stop)]] = [np.log(0.5), np.log(0.01)]
        assert _core._cuda_image_check(m.core, theta0, theta1, dtype) == "", name


# ------------------------------------------------------------------ with a device
def _blocks(m):
    return [(b.name, slice(b.offset, b.stop)) for b in m.layout]


def _compare(name, m, l_dev, g_dev, l_cpu, g_cpu, loss_rtol, grad_tol):
    assert l_dev == pytest.approx(l_cpu, rel=loss_rtol), name
    for bname, sl in _blocks(m):
        scale = max(np.abs(g_cpu[sl]).max(), 1e-300)
        np.testing.assert_allclose(g_dev[sl], g_cpu[sl], rtol=0, atol=grad_tol * scale, err_msg=f"{name} {bname}")


@needs_cuda
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cuda_matches_the_cpu(dtype, rng):
    """phi, loss and every gradient block against the float64 CPU kernels."""
    loss_rtol, grad_tol, phi_rtol = ((F64_RTOL, F64_RTOL, F64_RTOL) if dtype == "float64"
                                     else (F32_LOSS_RTOL, F32_GRAD_TOL, 1e-5))
    for name, m in _zoo(rng):
        codes, targets = random_data(rng, m, 1500)
        rows = np.sort(rng.choice(1500, 777, replace=False)).astype(np.int64)
        l0, g0 = _core.loss_and_grad(m.core, codes, targets, m.theta, rows, 2, dtype="float64")
        l1, g1 = _core.loss_and_grad(m.core, codes, targets, m.theta, rows, 1, dtype=dtype, device="cuda")
        _compare(name, m, l1, g1, l0, g0, loss_rtol, grad_tol)
        # the session (data on the device, rows by index) gives the same
        s = _core.CudaSession(m.core, codes, targets, dtype=dtype)
        l2, g2 = s.loss_and_grad(m.theta, rows)
        _compare(name + " session", m, l2, g2, l0, g0, loss_rtol, grad_tol)
        # per-row NLL
        _, _, nr0 = _core.loss_and_grad(m.core, codes, targets, m.theta, rows, 1, per_row=True)
        _, _, nr1 = s.loss_and_grad(m.theta, rows, per_row=True)
        row_tol = 1e-10 if dtype == "float64" else 1e-4
        np.testing.assert_allclose(nr1, nr0, rtol=row_tol, atol=row_tol, err_msg=name)
        # phi and details
        p0 = _core.phi(m.core, codes, m.theta, rows, 1, True)
        p1 = _core.phi(m.core, codes, m.theta, rows, 1, True, dtype=dtype, device="cuda")
        p2 = s.phi(m.theta, rows, details=True)
        for a, b, c in zip(p0, p1, p2):
            if np.all(np.isnan(a)):
                assert np.all(np.isnan(b)) and np.all(np.isnan(c)), name
                continue
            np.testing.assert_allclose(b, a, rtol=phi_rtol, atol=phi_rtol, err_msg=name)
            np.testing.assert_allclose(c, a, rtol=phi_rtol, atol=phi_rtol, err_msg=name)
        # the VJP of phi
        cot = rng.normal(size=len(rows))
        v0 = _core.phi_vjp(m.core, codes, m.theta, cot, rows, 1)
        v1 = _core.phi_vjp(m.core, codes, m.theta, cot, rows, 1, dtype=dtype, device="cuda")
        _compare(name + " vjp", m, 0.0, v1, 0.0, v0, 1.0, grad_tol)


@needs_cuda
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cuda_is_deterministic_and_streaming_does_not_change_results(dtype):
    """Fixed-order reductions: the same bits on every run, from the streamed one-call path and
    from the device-resident session (both cut the batch into the same warps)."""
    rng = np.random.default_rng(5)
    m = Model(preset("lac"), seed=2)
    codes, targets = random_data(rng, m, 200_000)  # many warps, several reduction groups
    s = _core.CudaSession(m.core, codes, targets, dtype=dtype)
    l1, g1 = s.loss_and_grad(m.theta)
    l2, g2 = s.loss_and_grad(m.theta)
    assert l1 == l2
    np.testing.assert_array_equal(g1, g2)
    l3, g3 = _core.loss_and_grad(m.core, codes, targets, m.theta, None, 1, dtype=dtype, device="cuda")
    assert l3 == l1
    np.testing.assert_array_equal(g3, g1)
    l0, g0 = _core.loss_and_grad(m.core, codes, targets, m.theta, None, 2, dtype="float64")
    tol = (F64_RTOL, F64_RTOL) if dtype == "float64" else (F32_LOSS_RTOL, F32_GRAD_TOL)
    _compare("lac 2e5", m, l1, g1, l0, g0, *tol)


@needs_cuda
def test_cuda_adam_step_is_numpys_adam():
    from cisreg.training.adam import Adam

    rng = np.random.default_rng(9)
    m = Model(preset("lac"), seed=4)
    codes, targets = random_data(rng, m, 3000)
    s = _core.CudaSession(m.core, codes, targets, dtype="float64")
    mask = m.layout.trainable_mask()
    l2 = np.full(m.theta.size, 1e-4)
    opt = Adam(m.theta.size, learning_rate=0.01, mask=mask)
    s.adam_configure(opt.lr, opt.b1, opt.b2, opt.eps, l2, np.ascontiguousarray(mask))
    theta = m.theta.copy()
    s.set_theta(theta)
    rows = np.arange(0, 3000, 3, dtype=np.int64)
    s.set_rows(0, rows)
    for step in range(3):
        _, g = s.loss_and_grad(slot=0)  # the device's gradient at the device's theta
        reads = float(targets[rows].sum())
        _loss, status = s.train_step(0, 0, len(rows), reads)
        assert status == 0
        g = g / reads + l2 * theta
        opt.step(theta, g)
        np.testing.assert_array_equal(s.get_theta(), theta, err_msg=f"step {step}")
    mm, vv, t = s.adam_state()
    np.testing.assert_array_equal(mm, opt.m)
    np.testing.assert_array_equal(vv, opt.v)
    assert t == opt.t


@needs_cuda
def test_cuda_session_rejects_invalid_data():
    m = Model(preset("lac"))
    codes = np.zeros((5, 75), np.uint8)
    codes[3, 7] = 9
    with pytest.raises(cisreg.InputError, match="row 3, position 7"):
        _core.CudaSession(m.core, codes, np.ones((5, 10)))
    with pytest.raises(cisreg.InputError, match="row 3, position 7"):
        _core.loss_and_grad(m.core, codes, np.ones((5, 10)), m.theta, device="cuda")
    s = _core.CudaSession(m.core, np.zeros((5, 75), np.uint8), np.ones((5, 10)))
    with pytest.raises(cisreg.InputError, match="out of range"):
        s.set_rows(0, np.array([0, 5], np.int64))


@needs_cuda
def test_cuda_fit_follows_the_cpu_fit():
    """The device loop draws the same minibatches as the CPU loop: in float64 the two fits
    agree closely after a few epochs (Adam can amplify rounding differences of gradient
    entries near 0, hence the absolute tolerance on theta)."""
    from cisreg.training.device import fit_device

    data = cisreg.load_example("lac-sortseq")
    kw = dict(epochs=3, batch_size=500, seed=1, dtype="float64", quiet=True)
    cpu = cisreg.fit(data, "lac", **kw)
    dev = fit_device(data, "lac", **kw)
    # the same minibatches: the histories agree far more closely than two fits of different orders
    np.testing.assert_allclose(dev.history["val_nll"], cpu.history["val_nll"], rtol=1e-5)
    np.testing.assert_allclose(dev.model.theta, cpu.model.theta, rtol=0, atol=5e-3)


@pytest.mark.skipif(HAVE_CUDA, reason="checks the behaviour without a CUDA device")
def test_fit_device_setting_without_cuda(tmp_path, capsys):
    """fit(device=...) and `cisreg fit --device`: auto falls back to the CPU and records it;
    cuda without a device is a one-line error before any work."""
    data = cisreg.load_example("lac-sortseq").subset(np.arange(600))
    res = cisreg.fit(data, "lac", epochs=1, batch_size=200, quiet=True, device="auto")
    assert res.settings["device"] == "cpu"
    with pytest.raises(cisreg.InputError, match="device='cuda' is not available"):
        cisreg.fit(data, "lac", epochs=1, quiet=True, device="cuda")
    from cisreg.cli import main

    rc = main(["fit", "--example", "lac-sortseq", "--out", str(tmp_path / "m"), "--device", "cuda", "--quiet"])
    assert rc != 0 and "device='cuda' is not available" in capsys.readouterr().err
    assert not (tmp_path / "m" / "model.json").exists()


@needs_cuda
def test_fit_on_cuda_via_the_public_api():
    data = cisreg.load_example("lac-sortseq")
    kw = dict(epochs=2, batch_size=500, seed=1, dtype="float64", quiet=True)
    cpu = cisreg.fit(data, "lac", **kw)
    dev = cisreg.fit(data, "lac", device="cuda", **kw)
    assert dev.settings["device"] == "cuda"
    np.testing.assert_allclose(dev.history["val_nll"], cpu.history["val_nll"], rtol=1e-5)
