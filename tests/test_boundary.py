"""Bad input at the _core boundary: a clear ValueError, never a crash, never a silent copy."""

from __future__ import annotations

import numpy as np
import pytest

from cisreg import _core
from cisreg.models import Model, preset


@pytest.fixture(scope="module")
def lac():
    return Model(preset("lac"), seed=0)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, (20, 75), dtype=np.uint8)
    counts = rng.poisson(1.0, (20, 10)).astype(np.float64)
    return codes, counts


def call(lac, codes, counts, theta=None, rows=None, n_threads=1):
    c = lac.compiled
    return _core.loss_and_grad(c.network, c.measurement, codes, counts, lac.theta if theta is None else theta,
                               rows, n_threads)


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.float64, np.uint16])
def test_codes_wrong_dtype(lac, data, dtype):
    codes, counts = data
    with pytest.raises(ValueError, match="codes: expected dtype uint8"):
        call(lac, codes.astype(dtype), counts)


def test_codes_not_contiguous(lac, data):
    codes, counts = data
    wide = np.zeros((20, 150), np.uint8)
    wide[:, ::2] = codes
    with pytest.raises(ValueError, match="C-contiguous"):
        call(lac, wide[:, ::2], counts)
    with pytest.raises(ValueError, match="C-contiguous"):
        call(lac, np.asfortranarray(codes), counts)


def test_codes_wrong_shape(lac, data):
    codes, counts = data
    with pytest.raises(ValueError, match="codes: axis 1 has length 74, expected 75"):
        call(lac, np.ascontiguousarray(codes[:, :74]), counts)
    with pytest.raises(ValueError, match="2-D"):
        call(lac, codes.ravel(), counts)


def test_codes_outside_alphabet(lac, data):
    codes, counts = data
    codes = codes.copy()
    codes[7, 40] = 4
    with pytest.raises(ValueError, match="row 7, position 40 holds code 4"):
        call(lac, codes, counts)
    with pytest.raises(ValueError, match="row 7, position 40"):
        _core.phi(lac.compiled.network, codes, lac.theta)
    codes[7, 40] = 255
    with pytest.raises(ValueError, match="code 255"):
        call(lac, codes, counts, n_threads=2)


def test_rows_out_of_range(lac, data):
    codes, counts = data
    with pytest.raises(ValueError, match=r"rows\[1\] = 20 is out of range"):
        call(lac, codes, counts, rows=np.array([0, 20], np.int64))
    with pytest.raises(ValueError, match=r"rows\[0\] = -1"):
        call(lac, codes, counts, rows=np.array([-1], np.int64))
    with pytest.raises(ValueError, match="rows: expected dtype int64"):
        call(lac, codes, counts, rows=np.array([0, 1], np.int32))


def test_theta_bad(lac, data):
    codes, counts = data
    th = lac.theta.copy()
    th[17] = np.nan
    with pytest.raises(ValueError, match=r"theta\[17\] is NaN"):
        call(lac, codes, counts, theta=th)
    th[17] = np.inf
    with pytest.raises(ValueError, match=r"theta\[17\] is infinite"):
        call(lac, codes, counts, theta=th)
    with pytest.raises(ValueError, match="theta: axis 0 has length"):
        call(lac, codes, counts, theta=lac.theta[:-1].copy())
    with pytest.raises(ValueError, match="theta: expected dtype float64"):
        call(lac, codes, counts, theta=lac.theta.astype(np.float32))
    with pytest.raises(ValueError, match="numpy array"):
        call(lac, codes, counts, theta=list(lac.theta))


def test_targets_bad(lac, data):
    codes, counts = data
    bad = counts.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="targets: row 3, column 2 is not finite"):
        call(lac, codes, bad)
    bad[3, 2] = -1
    with pytest.raises(ValueError, match="row 3, column 2 is a negative count"):
        call(lac, codes, bad)
    with pytest.raises(ValueError, match="targets: axis 1 has length 9"):
        call(lac, codes, np.ascontiguousarray(counts[:, :9]))
    with pytest.raises(ValueError, match="targets: axis 0"):
        call(lac, codes, np.ascontiguousarray(counts[:10]))


def test_grad_out_and_threads(lac, data):
    codes, counts = data
    c = lac.compiled
    g = np.full(lac.layout.size, 7.0)
    loss, g2 = _core.loss_and_grad(c.network, c.measurement, codes, counts, lac.theta, None, 1, True, g)
    assert g2 is g  # written in place, no copy
    _, ref = call(lac, codes, counts)
    np.testing.assert_array_equal(g, ref)
    with pytest.raises(ValueError, match="grad_out: expected dtype float64"):
        _core.loss_and_grad(c.network, c.measurement, codes, counts, lac.theta, None, 1, True,
                            np.zeros(lac.layout.size, np.float32))
    ro = np.zeros(lac.layout.size)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _core.loss_and_grad(c.network, c.measurement, codes, counts, lac.theta, None, 1, True, ro)
    with pytest.raises(ValueError, match="n_threads must be >= 1"):
        call(lac, codes, counts, n_threads=0)


def test_network_checks():
    base = dict(alphabet_size=4, length=10, n_params=9, sites=[(0, 2, 0, 8)], a_ptr=[0, 0, 1], a_site=[0],
                a_coef=[1.0], b_const=[0.0, 0.0], b_ptr=[0, 0, 0], b_param=[], b_coef=[], node_state=[0, 1],
                n_states=2, act_const=[0.0, 1.0], act_param=[-1, -1], tsat_param=-1, tsat_const=1.0)
    assert _core.Network(**base).n_nodes == 2
    for change, msg in [
        (dict(sites=[(9, 2, 0, 8)]), "lies outside the sequence"),
        (dict(sites=[(0, 3, 0, 8)]), "does not fit in theta"),
        (dict(a_site=[1]), "is not a site index"),
        (dict(a_ptr=[0, 1]), "n_nodes \\+ 1"),
        (dict(node_state=[0, 0]), "state 1 has no node"),
        (dict(node_state=[0, 2]), "belongs to state 2"),
        (dict(b_ptr=[0, 0, 1], b_param=[9], b_coef=[1.0]), "outside theta"),
        (dict(act_param=[-1, 12]), "activity of node 1"),
        (dict(alphabet_size=0), "alphabet_size"),
    ]:
        with pytest.raises(ValueError, match=msg):
            _core.Network(**{**base, **change})


def test_measurement_checks(lac, data):
    codes, counts = data
    with pytest.raises(ValueError, match="unknown"):
        _core.Measurement("poisson")
    m = _core.Measurement("sortseq", n_bins=10, hidden=50, offset=lac.layout.size - 5)
    with pytest.raises(ValueError, match="do not fit in theta"):
        _core.loss_and_grad(lac.compiled.network, m, codes, counts, lac.theta)
    with pytest.raises(ValueError, match="at least 2 bins"):
        _core.loss_and_grad(lac.compiled.network, _core.Measurement("sortseq", 1, 3, 0), codes,
                            np.ascontiguousarray(counts[:, :1]), lac.theta)
