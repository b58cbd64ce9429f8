"""Tests for cisreg.training.metrics (MAVE-NN-style information estimates)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial import cKDTree

from cisreg.training.metrics import (
    TINY,
    _count_within,
    _kth_gap_sorted,
    _kth_gaps_by_segment,
    _kth_maxnorm_2d,
    digamma,
    entropy_discrete,
    entropy_knn,
    i_pred_continuous,
    i_pred_sortseq,
    i_var_continuous,
    i_var_gaussian,
    i_var_sortseq,
    i_var_sortseq_from_logp,
    mi_continuous_discrete,
    mi_ksg,
    r2_pearson,
)

pytestmark = pytest.mark.filterwarnings("error")

EULER_GAMMA = 0.5772156649015329


def _trapezoid(f: np.ndarray, dx: float) -> float:
    return float(dx * (f.sum() - 0.5 * (f[0] + f[-1])))


def _exact_mi_two_gaussians(mu: float) -> float:
    """I[phi; y] in bits for y ~ Bernoulli(1/2), phi | y ~ N(+-mu, 1)."""
    grid, dx = np.linspace(-mu - 12.0, mu + 12.0, 400_001, retstep=True)
    norm = 1.0 / math.sqrt(2.0 * math.pi)
    p = 0.5 * norm * (np.exp(-0.5 * (grid - mu) ** 2) + np.exp(-0.5 * (grid + mu) ** 2))
    pos = p > 0
    integrand = np.zeros_like(p)
    integrand[pos] = -p[pos] * np.log2(p[pos])
    h_phi = _trapezoid(integrand, dx)
    h_phi_given_y = 0.5 * math.log2(2.0 * math.pi * math.e)
    return h_phi - h_phi_given_y


def _two_bin_data(mu: float, n_per_bin: int, rng: np.random.Generator):
    phi = np.concatenate(
        [rng.normal(-mu, 1.0, n_per_bin), rng.normal(mu, 1.0, n_per_bin)]
    )
    counts = np.zeros((2 * n_per_bin, 2))
    counts[:n_per_bin, 0] = 1.0
    counts[n_per_bin:, 1] = 1.0
    return phi, counts


# --------------------------------------------------------------------------
# digamma
# --------------------------------------------------------------------------


def test_digamma_known_values():
    assert digamma(1.0) == pytest.approx(-EULER_GAMMA, abs=1e-13)
    assert digamma(0.5) == pytest.approx(-EULER_GAMMA - 2.0 * math.log(2.0), abs=1e-13)
    n = np.arange(1, 201, dtype=float)
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / n[:-1])])
    np.testing.assert_allclose(digamma(n), -EULER_GAMMA + harmonic, rtol=0, atol=1e-12)
    # psi(1/4) = -gamma - pi/2 - 3 ln 2
    assert digamma(0.25) == pytest.approx(
        -EULER_GAMMA - math.pi / 2 - 3 * math.log(2.0), abs=1e-12
    )
    # large argument: psi(x) ~ ln x - 1/(2x)
    assert digamma(1e8) == pytest.approx(math.log(1e8) - 0.5e-8, abs=1e-14)


def test_digamma_recurrence_shape_and_type():
    x = np.random.default_rng(3).uniform(0.01, 50.0, size=(7, 11))
    out = digamma(x)
    assert out.shape == x.shape
    np.testing.assert_allclose(digamma(x + 1.0), out + 1.0 / x, rtol=0, atol=1e-12)
    assert isinstance(digamma(2.0), float)
    with pytest.raises(ValueError):
        digamma(np.array([1.0, 0.0]))
    with pytest.raises(ValueError):
        digamma(-1.5)


# --------------------------------------------------------------------------
# nearest-neighbour primitives against brute force
# --------------------------------------------------------------------------


def _brute_kth(points: np.ndarray, k: int) -> np.ndarray:
    d = np.max(np.abs(points[:, None, :] - points[None, :, :]), axis=2)
    return np.sort(d, axis=1)[:, k]  # index 0 is the point itself


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e4])
def test_knn_primitives_match_brute_force(scale):
    rng = np.random.default_rng(11)
    n, k = 600, 5
    x = rng.standard_normal(n) * scale
    y = (0.8 * x / scale + 0.6 * rng.standard_t(3, n)) * scale
    x[:10] = x[10:20]  # duplicated x values
    np.testing.assert_array_equal(_kth_maxnorm_2d(x, y, k), _brute_kth(np.c_[x, y], k))
    gaps = np.empty(n)
    gaps[np.argsort(x, kind="stable")] = _kth_gap_sorted(np.sort(x), k)
    np.testing.assert_array_equal(gaps, _brute_kth(x[:, None], k))
    r = _kth_maxnorm_2d(x, y, k) - 1e-15
    brute_counts = (np.abs(x[None, :] - x[:, None]) <= r[:, None]).sum(axis=1)
    np.testing.assert_array_equal(_count_within(x, r), brute_counts)


def test_kth_maxnorm_2d_threaded_query_matches_brute_force(monkeypatch):
    from cisreg.training import metrics

    monkeypatch.setattr(metrics, "_PARALLEL_QUERY_MIN", 1)  # threaded query even for few points
    rng = np.random.default_rng(19)
    x = np.round(rng.standard_normal(500), 2)  # ties in x
    y = x + rng.standard_normal(500)
    np.testing.assert_array_equal(_kth_maxnorm_2d(x, y, 5), _brute_kth(np.c_[x, y], 5))


def test_kth_gaps_by_segment_match_each_segment():
    rng = np.random.default_rng(16)
    k = 4
    sizes = np.array([300, 5, 41, 5, 120])  # segments of k + 1 values included
    parts = [
        rng.standard_normal(300) * 1e3,
        np.array([-7.0, 3.0, 3.0, 3.0, 9.5]),  # ties: gaps of zero
        rng.integers(-3, 4, 41).astype(np.float64),
        -rng.uniform(0, 1e-6, 5),
        rng.standard_t(1.0, 120),  # heavy tails: the largest |value| sets the sentinels
    ]
    r, starts = _kth_gaps_by_segment(np.concatenate(parts), sizes, k)
    for part, start, size in zip(parts, starts, sizes):
        expected = _brute_kth(np.sort(part)[:, None], k)
        np.testing.assert_array_equal(r[start : start + size], expected)
    # a single segment needs no sentinels
    r1, starts1 = _kth_gaps_by_segment(parts[0], sizes[:1], k)
    np.testing.assert_array_equal(r1, _kth_gap_sorted(np.sort(parts[0]), k))
    assert starts1.tolist() == [0]


def test_kth_gaps_by_segment_near_float_limit():
    rng = np.random.default_rng(18)
    parts = [rng.uniform(-4e307, 4e307, 50), rng.uniform(-1e307, 1e307, 30)]
    r, starts = _kth_gaps_by_segment(np.concatenate(parts), np.array([50, 30]), 5)
    for part, start in zip(parts, starts):
        expected = _brute_kth(np.sort(part)[:, None], 5)
        np.testing.assert_array_equal(r[start : start + part.size], expected)


@pytest.mark.parametrize("discrete", [False, True])
def test_count_within_matches_ckdtree_ball_counts(discrete):
    rng = np.random.default_rng(17)
    n = 2000
    x = rng.integers(0, 30, n) * 0.1 if discrete else rng.standard_normal(n)
    x = x + 1e-5 * rng.random(n)
    # radii equal to actual distances (boundary hits), slightly below and above, and zero
    j = rng.integers(0, n, n)
    r = np.abs(x[j] - x)
    r[::4] = np.nextafter(r[::4], -np.inf).clip(0.0)
    r[1::4] = np.nextafter(r[1::4], np.inf)
    r[2::8] = 0.0
    tree = cKDTree(x[:, None])
    expected = tree.query_ball_point(x[:, None], r, p=np.inf, return_length=True)
    np.testing.assert_array_equal(_count_within(x, r), expected)
    brute = (np.abs(x[None, :] - x[:, None]) <= r[:, None]).sum(axis=1)
    np.testing.assert_array_equal(_count_within(x, r), brute)


# --------------------------------------------------------------------------
# kNN entropy
# --------------------------------------------------------------------------


def test_entropy_knn_gaussian():
    rng = np.random.default_rng(0)
    sigma = 2.5
    x = rng.normal(3.0, sigma, 20_000)
    expected = 0.5 * math.log2(2 * math.pi * math.e * sigma**2)
    assert entropy_knn(x, k=5, rng=rng) == pytest.approx(expected, abs=0.02)


def test_entropy_knn_uniform():
    rng = np.random.default_rng(1)
    a = 7.0
    x = rng.uniform(0.0, a, 20_000)
    assert entropy_knn(x, rng=rng) == pytest.approx(math.log2(a), abs=0.02)


def test_entropy_knn_reproducible_and_default_rng():
    x = np.random.default_rng(5).standard_normal(1000)
    assert entropy_knn(x) == entropy_knn(x)
    assert entropy_knn(x, rng=np.random.default_rng(9)) == entropy_knn(
        x, rng=np.random.default_rng(9)
    )
    with pytest.raises(ValueError):
        entropy_knn(x[:5], k=5)


def test_entropy_discrete():
    assert entropy_discrete(np.array([5, 5, 5, 5])) == pytest.approx(2.0, abs=1e-12)
    assert entropy_discrete(np.array([3.0, 0.0, 3.0])) == pytest.approx(1.0, abs=1e-12)
    counts = np.array([[1, 0], [2, 1], [0, 4]])
    p = np.array([3.0, 5.0]) / 8.0
    assert entropy_discrete(counts) == pytest.approx(-(p * np.log2(p)).sum(), abs=1e-12)


# --------------------------------------------------------------------------
# I_pred for sort-seq (continuous phi, discrete bins)
# --------------------------------------------------------------------------


def test_i_pred_sortseq_well_separated_is_one_bit():
    rng = np.random.default_rng(2)
    phi, counts = _two_bin_data(10.0, 10_000, rng)
    info, d_info = i_pred_sortseq(phi, counts, rng=rng)
    assert info == pytest.approx(1.0, abs=0.03)
    assert d_info > 0


def test_i_pred_sortseq_independent_is_zero():
    rng = np.random.default_rng(3)
    phi, counts = _two_bin_data(0.0, 10_000, rng)
    info, _ = i_pred_sortseq(phi, counts, rng=rng)
    assert info == pytest.approx(0.0, abs=0.03)


@pytest.mark.parametrize("mu", [0.75, 1.5])
def test_i_pred_sortseq_matches_numerical_integration(mu):
    rng = np.random.default_rng(4)
    phi, counts = _two_bin_data(mu, 10_000, rng)
    info, _ = i_pred_sortseq(phi, counts, rng=rng, uncertainty=False)
    exact = _exact_mi_two_gaussians(mu)
    assert 0.1 < exact < 0.95
    assert info == pytest.approx(exact, abs=0.03)


def test_i_pred_sortseq_counts_expand_to_reads():
    rng = np.random.default_rng(5)
    n, n_bins = 300, 3
    phi = rng.standard_normal(n)
    counts = rng.poisson(1.5, size=(n, n_bins))
    counts[0] = [3, 0, 0]
    # one row per read, in the same order (sequence, then bin)
    rows_phi, rows_counts = [], []
    for i in range(n):
        for b in range(n_bins):
            for _ in range(counts[i, b]):
                rows_phi.append(phi[i])
                one = np.zeros(n_bins)
                one[b] = 1.0
                rows_counts.append(one)
    expanded = i_pred_sortseq(
        np.array(rows_phi), np.array(rows_counts), rng=np.random.default_rng(7)
    )
    grouped = i_pred_sortseq(phi, counts.astype(float), rng=np.random.default_rng(7))
    assert grouped == expanded
    # integer and float count arrays are equivalent
    assert i_pred_sortseq(phi, counts, rng=np.random.default_rng(7)) == grouped


def test_i_pred_sortseq_uncertainty_shrinks_with_n():
    rng = np.random.default_rng(6)
    phi_s, counts_s = _two_bin_data(1.0, 1_000, rng)
    phi_l, counts_l = _two_bin_data(1.0, 10_000, rng)
    _, d_small = i_pred_sortseq(phi_s, counts_s, rng=rng)
    _, d_large = i_pred_sortseq(phi_l, counts_l, rng=rng)
    assert d_small > 0 and d_large > 0
    assert d_large < 0.6 * d_small


def test_i_pred_sortseq_input_errors():
    phi = np.zeros(3)
    with pytest.raises(ValueError):
        i_pred_sortseq(phi, np.array([[1, -1], [1, 1], [2, 2]]))
    with pytest.raises(ValueError):
        i_pred_sortseq(phi, np.array([[1.5, 1], [1, 1], [2, 2]]))
    with pytest.raises(ValueError):
        i_pred_sortseq(phi, np.ones((4, 2)))


def test_mi_continuous_discrete_small_bin_uses_marginal_entropy():
    rng = np.random.default_rng(8)
    phi = rng.standard_normal(2000)
    labels = np.where(phi > 0, 1, 0)
    labels[:3] = 7  # a bin with <= k observations: no warning, no error
    info = mi_continuous_discrete(phi, labels, rng=rng)
    assert 0.9 < info < 1.1  # sign of phi is (almost) one bit


# --------------------------------------------------------------------------
# KSG (continuous) mutual information
# --------------------------------------------------------------------------


@pytest.mark.parametrize("rho", [0.0, 0.6, 0.9])
def test_mi_ksg_bivariate_gaussian(rho):
    rng = np.random.default_rng(9)
    n = 10_000
    x = rng.standard_normal(n)
    y = rho * x + math.sqrt(1 - rho**2) * rng.standard_normal(n)
    expected = -0.5 * math.log2(1 - rho**2)
    assert mi_ksg(x, y, rng=rng) == pytest.approx(expected, abs=0.05)


def test_i_pred_continuous_and_uncertainty_shrinks():
    rng = np.random.default_rng(10)
    rho = 0.8
    expected = -0.5 * math.log2(1 - rho**2)
    results = []
    for n in (1000, 10_000):
        phi = rng.standard_normal(n)
        y = rho * phi + math.sqrt(1 - rho**2) * rng.standard_normal(n)
        results.append(i_pred_continuous(phi, y, rng=rng))
    (i_small, d_small), (i_large, d_large) = results
    assert i_large == pytest.approx(expected, abs=0.05)
    assert i_small == pytest.approx(expected, abs=0.1)
    assert d_small > 0 and d_large > 0
    assert d_large < 0.6 * d_small


# --------------------------------------------------------------------------
# I_var
# --------------------------------------------------------------------------


def test_i_var_sortseq_marginal_and_perfect_models():
    rng = np.random.default_rng(12)
    counts = rng.poisson(2.0, size=(500, 4)) * np.array([1, 2, 3, 1])
    per_bin = counts.sum(axis=0)
    p_marg = per_bin / per_bin.sum()
    nll_marginal = -float(np.sum(counts * np.log(p_marg)[None, :]))
    assert i_var_sortseq(nll_marginal, counts) == pytest.approx(0.0, abs=1e-9)
    assert i_var_sortseq(0.0, counts) == pytest.approx(entropy_discrete(per_bin), abs=1e-12)
    # with per-read log-probabilities: same value, and an uncertainty
    logp = np.broadcast_to(np.log(p_marg), counts.shape)
    i_var, d_i_var = i_var_sortseq_from_logp(logp, counts)
    assert i_var == pytest.approx(0.0, abs=1e-9)
    assert d_i_var > 0
    i_perfect, d_perfect = i_var_sortseq_from_logp(np.zeros(counts.shape), counts)
    assert i_perfect == pytest.approx(entropy_discrete(per_bin), abs=1e-12)
    assert d_perfect == 0.0


def test_i_var_sortseq_from_logp_matches_total_nll():
    rng = np.random.default_rng(13)
    n, n_bins = 400, 3
    logits = rng.standard_normal((n, n_bins))
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    counts = rng.poisson(1.0, size=(n, n_bins))
    nll = -float(np.sum(counts * logp))
    i_var, d_i_var = i_var_sortseq_from_logp(logp, counts)
    assert i_var == pytest.approx(i_var_sortseq(nll, counts), abs=1e-9)
    # dI = sd of per-read -log2 p over reads / sqrt(reads), computed by expansion
    h = np.repeat((-logp / math.log(2)).ravel(), counts.ravel())
    assert d_i_var == pytest.approx(np.std(h, ddof=1) / math.sqrt(h.size), rel=1e-9)
    # zero probability for an observed read is capped by TINY, no warning
    logp_bad = logp.copy()
    logp_bad[counts > 0] = -np.inf
    i_bad, _ = i_var_sortseq_from_logp(logp_bad, counts)
    assert i_bad == pytest.approx(
        entropy_discrete(counts) + math.log2(TINY), abs=1e-9
    )


def test_i_var_gaussian_true_model():
    rng = np.random.default_rng(14)
    n, sigma = 10_000, 0.5
    yhat = rng.standard_normal(n)
    y = yhat + sigma * rng.standard_normal(n)
    expected = 0.5 * math.log2(1 + 1 / sigma**2)
    i_var, d_i_var = i_var_gaussian(y, yhat, sigma, rng=rng)
    assert i_var == pytest.approx(expected, abs=0.03)
    assert 0 < d_i_var < 0.05
    # the same through the generic NLL interface, in shifted/scaled units
    scale = 40.0
    nll = 0.5 * ((y - yhat) / sigma) ** 2 + math.log(sigma * scale) + 0.5 * math.log(2 * math.pi)
    i_var2, _ = i_var_continuous(100.0 + scale * y, nll, rng=rng)
    assert i_var2 == pytest.approx(expected, abs=0.03)


# --------------------------------------------------------------------------
# R^2
# --------------------------------------------------------------------------


def test_r2_pearson():
    rng = np.random.default_rng(15)
    x = rng.standard_normal(200)
    y = 0.5 * x + rng.standard_normal(200)
    r2, r = r2_pearson(x, y)
    assert r == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    assert r2 == pytest.approx(r**2, abs=1e-15)
    assert r2_pearson(x, 3 - 2 * x) == pytest.approx((1.0, -1.0), abs=1e-12)
    with pytest.raises(ValueError):
        r2_pearson(x, np.ones_like(x))
