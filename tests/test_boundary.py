"""Bad input at the _core boundary: a clear ValueError, never a crash, never a silent copy."""

from __future__ import annotations

import numpy as np
import pytest

import cisreg
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
    return _core.loss_and_grad(c.core, codes, counts, lac.theta if theta is None else theta,
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
        _core.phi(lac.core, codes, lac.theta)
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


@pytest.mark.usefixtures("every_thread")
def test_grad_out_and_threads(lac, data):
    codes, counts = data
    c = lac.compiled
    g = np.full(lac.layout.size, 7.0)
    _loss, g2 = _core.loss_and_grad(c.core, codes, counts, lac.theta, None, 1, True, g)
    assert g2 is g  # written in place, no copy
    _, ref = call(lac, codes, counts)
    np.testing.assert_array_equal(g, ref)
    with pytest.raises(ValueError, match="grad_out: expected dtype float64"):
        _core.loss_and_grad(c.core, codes, counts, lac.theta, None, 1, True,
                            np.zeros(lac.layout.size, np.float32))
    ro = np.zeros(lac.layout.size)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _core.loss_and_grad(c.core, codes, counts, lac.theta, None, 1, True, ro)
    with pytest.raises(ValueError, match="n_threads must be >= 1"):
        call(lac, codes, counts, n_threads=0)


def _model(**change):
    """A tiny valid core model, with some of its parts changed."""
    net = dict(a_ptr=[0, 0, 1], a_site=[0], a_coef=[1.0], b_const=[0.0, 0.0], b_ptr=[0, 0, 0], b_param=[], b_coef=[],
               node_state=[0, 1], n_states=2, act_const=[0.0, 1.0], act_param=[-1, -1], tsat_param=-1,
               tsat_const=1.0)
    site = dict(start=0, width=2, e_offset=0, eps_offset=8)
    meas = dict(kind="sortseq", n_bins=2, hidden=1, offset=9)
    top = dict(n_params=17, alphabet_size=4, length=10)
    for k, v in change.items():
        for d in (net, site, meas, top):
            if k in d:
                d[k] = v
    return _core.Model(sites=[_core.Site(**site)], gpmap=_core.Network(**net), measurement=_core.Measurement(**meas),
                       **top)


def test_model_checks():
    assert _model().n_nodes == 2
    for change, msg in [
        (dict(start=9), "lie outside the sequence"),
        (dict(width=5), "does not fit in theta"),
        (dict(a_site=[1]), "is not a site index"),
        (dict(a_ptr=[0, 1]), "a_ptr must have 3 entries"),
        (dict(node_state=[0, 0]), "state 1 has no node"),
        (dict(node_state=[0, 2]), "belongs to state 2"),
        (dict(b_ptr=[0, 0, 1], b_param=[17], b_coef=[1.0]), "outside theta"),
        (dict(act_param=[-1, 20]), "activity of node 1"),
        (dict(alphabet_size=0), "alphabet_size"),
        (dict(offset=12), "does not fit in theta"),
        (dict(n_bins=1), "at least 2 bins"),
        (dict(hidden=0), "hidden must be >= 1"),
    ]:
        with pytest.raises(cisreg.InputError, match=msg):
            _model(**change)


def test_errors_are_input_errors(lac, data):
    """Input errors raised in C++ arrive as cisreg.InputError (a ValueError)."""
    codes, counts = data
    with pytest.raises(cisreg.InputError, match="codes: expected dtype uint8"):
        call(lac, codes.astype(np.int8), counts)
    with pytest.raises(cisreg.InputError, match="unknown"):
        _core.Measurement("poisson")
