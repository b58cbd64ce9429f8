"""Golden values of the information metrics in :mod:`cisreg.training.metrics`.

The literals in ``GOLDEN`` were produced by the pure-NumPy estimator that
preceded the scipy-based one (hand-written digamma; sorted-array kNN in 1-D;
window bounds plus blocked brute force for the 2-D max-norm kNN; commit
9f39ef6), evaluated on the inputs built by the ``_case_*`` functions below.
Every input is generated inside this file from
``np.random.default_rng(<fixed seed>)``, and every estimator gets its own
``default_rng(<fixed seed>)``, so the values pin down both the estimates and
the order in which random numbers are drawn (fuzz, tie-breaking noise,
half-subsamples).

The cases cover a realistic size (20,000 points or sequences), small samples
(N close to k), data with many ties (discrete-ish values, broken only by the
fuzz and NPEET's ``1e-5`` tie-breaking noise), very different scales of the two
variables of the KSG estimator, bins with at most ``k`` observations, and a
``digamma`` grid from ``1e-8`` to ``1e15``.

Tolerances: the estimates are functions of exactly the same neighbour
distances and counts as before (the distances are the same floating-point
differences, whatever the search method); what may change is the last bit of
``digamma`` (scipy's implementation instead of the asymptotic series), and
hence of sums of digamma values. ``digamma`` itself is compared with
``DIGAMMA_RTOL`` (plus a small absolute tolerance near its root at
``x = 1.4616...``), every estimate with ``RTOL``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from cisreg.training.metrics import (
    digamma,
    entropy_knn,
    i_pred_continuous,
    i_pred_sortseq,
    i_var_continuous,
    i_var_gaussian,
    i_var_sortseq_from_logp,
    mi_continuous_discrete,
    mi_ksg,
)

#: Relative tolerance of every estimate against its golden value.
RTOL = 1e-12
#: Tolerances of digamma against the previous (asymptotic-series) digamma.
DIGAMMA_RTOL = 1e-14
DIGAMMA_ATOL = 1e-15

DIGAMMA_POINTS = np.array(
    [
        1e-8, 1e-4, 0.01, 0.1, 0.25, 0.5, 0.999, 1.0, 1.4616321449683622, 1.5,
        2.0, 3.0, 5.0, 7.5, 9.999, 10.0, 10.001, 12.0, 31.0, 50.0, 100.0, 1e3,
        12345.678, 2e4, 1e6, 1e8, 1e12, 1e15,
    ]
)


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------


def _sortseq_counts(
    phi: np.ndarray, n_bins: int, depth: float, rng: np.random.Generator
) -> np.ndarray:
    """Poisson read counts whose bin profile moves with ``phi`` (sort-seq-like)."""
    centre = (n_bins - 1) / (1.0 + np.exp(-phi))
    bins = np.arange(n_bins)
    weight = np.exp(-0.5 * ((bins[None, :] - centre[:, None]) / 1.5) ** 2)
    weight /= weight.sum(axis=1, keepdims=True)
    return rng.poisson(depth * weight)


def _case_entropy_gaussian_20k() -> float:
    x = np.random.default_rng(101).normal(3.0, 2.5, 20_000)
    return entropy_knn(x, k=5, rng=np.random.default_rng(1))


def _case_entropy_uniform_small() -> float:
    x = np.random.default_rng(102).uniform(0.0, 7.0, 40)
    return entropy_knn(x, k=3, rng=np.random.default_rng(2))


def _case_entropy_ties() -> float:
    x = np.random.default_rng(103).integers(0, 40, 3000) * 0.25
    return entropy_knn(x, k=5, rng=np.random.default_rng(3))


def _case_entropy_heavy_tail() -> float:
    x = np.random.default_rng(104).standard_t(2.0, 5000)
    return entropy_knn(x, k=7, rng=np.random.default_rng(4))


def _case_ksg_gaussian_20k() -> float:
    g = np.random.default_rng(111)
    x = g.standard_normal(20_000)
    y = 0.7 * x + math.sqrt(1 - 0.7**2) * g.standard_normal(20_000)
    return mi_ksg(x, y, k=5, rng=np.random.default_rng(11))


def _case_ksg_small_independent() -> float:
    g = np.random.default_rng(112)
    x, y = g.standard_normal(200), g.standard_normal(200)
    return mi_ksg(x, y, k=3, rng=np.random.default_rng(12))


def _case_ksg_ties() -> float:
    g = np.random.default_rng(113)
    x = g.integers(0, 20, 5000).astype(np.float64)
    y = x + g.integers(0, 5, 5000)
    return mi_ksg(x, y, k=5, rng=np.random.default_rng(13))


def _case_ksg_scales() -> float:
    g = np.random.default_rng(114)
    x = 1e-3 * g.standard_normal(3000)
    y = 1e4 * (x / 1e-3 + g.standard_t(3.0, 3000))
    return mi_ksg(x, y, k=4, rng=np.random.default_rng(14))


def _case_micd_20k() -> float:
    g = np.random.default_rng(121)
    phi = g.standard_normal(20_000)
    noisy = phi + g.standard_normal(20_000)
    labels = np.searchsorted(np.quantile(noisy, np.linspace(0, 1, 11)[1:-1]), noisy)
    return mi_continuous_discrete(phi, labels, k=5, rng=np.random.default_rng(21))


def _case_micd_small_bins() -> float:
    g = np.random.default_rng(122)
    phi = g.standard_normal(2000)
    labels = np.where(phi > 0, 100, 3)
    labels[:3] = 7  # a bin with <= k observations
    labels[3:9] = 50  # a bin with k + 1 observations
    return mi_continuous_discrete(phi, labels, k=5, rng=np.random.default_rng(22))


def _case_micd_ties() -> float:
    g = np.random.default_rng(123)
    phi = g.integers(0, 12, 4000) * 0.5
    labels = (phi + g.integers(0, 3, 4000) > 3).astype(np.int64)
    return mi_continuous_discrete(phi, labels, k=5, rng=np.random.default_rng(23))


def _sortseq_realistic() -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(131)
    phi = g.standard_normal(20_000)
    return phi, _sortseq_counts(phi, 10, 1.1, g)


def _case_ipred_sortseq_20k() -> tuple[float, float]:
    phi, counts = _sortseq_realistic()
    return i_pred_sortseq(phi, counts, rng=np.random.default_rng(31))


def _case_ipred_sortseq_20k_no_uncertainty() -> tuple[float, float]:
    phi, counts = _sortseq_realistic()
    return i_pred_sortseq(phi, counts, uncertainty=False, rng=np.random.default_rng(32))


def _case_ipred_sortseq_ties() -> tuple[float, float]:
    g = np.random.default_rng(133)
    phi = g.integers(0, 30, 3000) / 3.0 - 5.0
    counts = _sortseq_counts(phi, 6, 2.0, g).astype(np.float64)
    return i_pred_sortseq(phi, counts, k=4, n_subsamples=10, rng=np.random.default_rng(33))


def _case_ipred_sortseq_ties_no_fuzz() -> tuple[float, float]:
    g = np.random.default_rng(135)
    phi = g.integers(0, 8, 2000).astype(np.float64)  # ties broken by the 1e-5 noise only
    counts = _sortseq_counts(phi - 4.0, 5, 1.5, g)
    return i_pred_sortseq(phi, counts, knn_fuzz=0.0, rng=np.random.default_rng(35))


def _case_ipred_sortseq_sparse_bin() -> tuple[float, float]:
    g = np.random.default_rng(134)
    phi = g.standard_normal(1500)
    counts = _sortseq_counts(phi, 4, 1.0, g)
    counts[:, 3] = 0
    counts[:4, 3] = 1  # 4 reads in the last bin: <= k in every subsample
    return i_pred_sortseq(phi, counts, rng=np.random.default_rng(34))


def _continuous_realistic() -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(141)
    phi = g.standard_normal(20_000)
    y = np.tanh(phi) + 0.3 * g.standard_normal(20_000)
    return phi, y


def _case_ipred_continuous_20k() -> tuple[float, float]:
    phi, y = _continuous_realistic()
    return i_pred_continuous(phi, y, rng=np.random.default_rng(41))


def _case_ipred_continuous_20k_no_uncertainty() -> tuple[float, float]:
    phi, y = _continuous_realistic()
    return i_pred_continuous(phi, y, uncertainty=False, rng=np.random.default_rng(42))


def _case_ipred_continuous_ties() -> tuple[float, float]:
    g = np.random.default_rng(143)
    phi = g.standard_normal(3000)
    y = np.round(2.0 * phi + g.standard_normal(3000))  # integer y: many ties
    return i_pred_continuous(phi, y, rng=np.random.default_rng(43))


def _case_ipred_continuous_ties_no_fuzz() -> tuple[float, float]:
    g = np.random.default_rng(145)
    phi = g.integers(0, 15, 2500).astype(np.float64)
    y = phi + g.integers(0, 4, 2500)  # ties in both variables, broken by the 1e-5 noise only
    return i_pred_continuous(phi, y, knn_fuzz=0.0, n_subsamples=8, rng=np.random.default_rng(45))


def _case_ipred_continuous_small() -> tuple[float, float]:
    g = np.random.default_rng(144)
    phi = g.standard_normal(60)
    y = phi + g.standard_normal(60)
    return i_pred_continuous(phi, y, k=5, n_subsamples=5, rng=np.random.default_rng(44))


def _case_ivar_continuous_20k() -> tuple[float, float]:
    g = np.random.default_rng(151)
    yhat = g.standard_normal(20_000)
    y = 5.0 + 2.0 * (yhat + 0.5 * g.standard_normal(20_000))
    nll = 0.5 * ((y - 5.0 - 2.0 * yhat) / 1.0) ** 2 + math.log(1.0) + 0.5 * math.log(2 * math.pi)
    return i_var_continuous(y, nll, rng=np.random.default_rng(51))


def _case_ivar_continuous_ties() -> tuple[float, float]:
    g = np.random.default_rng(152)
    y = g.integers(0, 25, 3000) * 0.2
    nll = g.uniform(0.0, 2.0, 3000)
    return i_var_continuous(
        y, nll, y_mean=2.0, y_std=1.5, n_max=2000, rng=np.random.default_rng(52)
    )


def _case_ivar_continuous_no_uncertainty() -> tuple[float, float]:
    g = np.random.default_rng(153)
    y = g.standard_normal(800)
    nll = g.uniform(0.5, 1.5, 800)
    return i_var_continuous(y, nll, uncertainty=False, rng=np.random.default_rng(53))


def _case_ivar_gaussian() -> tuple[float, float]:
    g = np.random.default_rng(154)
    yhat = g.standard_normal(5000)
    y = yhat + 0.5 * g.standard_normal(5000)
    return i_var_gaussian(y, yhat, 0.5, k=5, n_subsamples=7, rng=np.random.default_rng(54))


def _case_ivar_sortseq_from_logp_20k() -> tuple[float, float]:
    g = np.random.default_rng(161)
    logits = g.standard_normal((20_000, 10))
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    counts = g.poisson(0.12, size=(20_000, 10))
    return i_var_sortseq_from_logp(logp, counts)


CASES: dict[str, Callable[[], float | tuple[float, float]]] = {
    name[len("_case_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("_case_")
}


# ---------------------------------------------------------------------------
# golden values (pure-NumPy estimator, see the module docstring)
# ---------------------------------------------------------------------------

GOLDEN_DIGAMMA: list[float] = [
    -100000000.57721566,  # x = 1e-08
    -10000.577051183514,  # x = 0.0001
    -100.56088545786865,  # x = 0.01
    -10.423754940411076,  # x = 0.1
    -4.2274535333762655,  # x = 0.25
    -1.9635100260214227,  # x = 0.5
    -0.5788618021086456,  # x = 0.999
    -0.5772156649015323,  # x = 1.0
    -4.440892098500626e-16,  # x = 1.4616321449683622
    0.03648997397857645,  # x = 1.5
    0.42278433509846747,  # x = 2.0
    0.9227843350984675,  # x = 3.0
    1.5061176684318007,  # x = 5.0
    1.946757484246087,  # x = 7.5
    2.2516474172057355,  # x = 9.999
    2.2517525890667214,  # x = 10.0
    2.2518577498778716,  # x = 10.001
    2.4426616799758123,  # x = 12.0
    3.4177714660188583,  # x = 31.0
    3.9019896734278925,  # x = 50.0
    4.600161852738088,  # x = 100.0
    6.907255195648812,  # x = 1000.0
    9.421020820741761,  # x = 12345.678
    9.903462552327793,  # x = 20000.0
    13.81551005796419,  # x = 1000000.0
    18.420680738952367,  # x = 100000000.0
    27.631021115928046,  # x = 1000000000000.0
    34.538776394910684,  # x = 1000000000000000.0
]

GOLDEN: dict[str, float | tuple[float, float]] = {
    'entropy_gaussian_20k': 3.3839798307688675,
    'entropy_heavy_tail': 2.8479326930108733,
    'entropy_ties': -11.265705697888558,
    'entropy_uniform_small': 2.7275300235918856,
    'ipred_continuous_20k': (1.1491173841883193, 0.007926807364023089),
    'ipred_continuous_20k_no_uncertainty': (1.1557239703457263, 0.0),
    'ipred_continuous_small': (0.40168725607752687, 0.13581846730429098),
    'ipred_continuous_ties': (1.09108778296852, 0.017708608013501662),
    'ipred_continuous_ties_no_fuzz': (2.068716112969334, 0.022140085700345938),
    'ipred_sortseq_20k': (0.6345390036059608, 0.007848714313049612),
    'ipred_sortseq_20k_no_uncertainty': (0.6437487067481318, 0.0),
    'ipred_sortseq_sparse_bin': (0.063840164402585, 0.02421213752545412),
    'ipred_sortseq_ties': (0.5442687472342909, 0.013402871862942187),
    'ipred_sortseq_ties_no_fuzz': (0.24980730971661735, 0.04087286077596536),
    'ivar_continuous_20k': (1.1593231495510459, 0.012637052635552181),
    'ivar_continuous_no_uncertainty': (0.6061080287805969, 0.0),
    'ivar_continuous_ties': (-0.9443755911804124, 0.02414688990829515),
    'ivar_gaussian': (1.201365128022673, 0.0154409529024148),
    'ivar_sortseq_from_logp_20k': (-0.6109839247934903, 0.009105950541677385),
    'ksg_gaussian_20k': 0.479704808148466,
    'ksg_scales': -0.32232211705194314,
    'ksg_small_independent': 0.00026475413318392224,
    'ksg_ties': 2.1785585760245256,
    'micd_20k': 0.47314098478594135,
    'micd_small_bins': 0.9972743506952035,
    'micd_ties': 0.6549146304700724,
}


# ---------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------


def test_digamma_golden() -> None:
    got = digamma(DIGAMMA_POINTS)
    np.testing.assert_allclose(got, GOLDEN_DIGAMMA, rtol=DIGAMMA_RTOL, atol=DIGAMMA_ATOL)
    for x, expected in zip(DIGAMMA_POINTS, GOLDEN_DIGAMMA):
        value = digamma(float(x))
        assert isinstance(value, float)
        assert value == pytest.approx(expected, rel=DIGAMMA_RTOL, abs=DIGAMMA_ATOL)


def test_golden_cases_are_all_recorded() -> None:
    assert sorted(GOLDEN) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    got = np.atleast_1d(np.asarray(CASES[name](), dtype=np.float64))
    expected = np.atleast_1d(np.asarray(GOLDEN[name], dtype=np.float64))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0.0)
