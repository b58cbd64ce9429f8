"""Information metrics (in bits), estimated the way MAVE-NN estimates them.

The estimators in this module reproduce, in vectorised numpy and scipy (no
scikit-learn), what MAVE-NN (github.com/jbkinney/mavenn) does, so that numbers
computed by cisreg can be compared with numbers in the literature. The MAVE-NN
sources followed are

* ``mavenn/src/_npeet.py`` -- MAVE-NN's vendored copy of NPEET (Greg Ver
  Steeg): ``entropy``, ``mi``, ``micd``, ``add_noise``, ``query_neighbors``,
  ``avgdigamma``;
* ``mavenn/src/entropy.py`` -- ``entropy_continuous``, ``mi_mixed``,
  ``mi_continuous`` (half-sample uncertainty estimates);
* ``mavenn/src/model.py`` -- ``Model.I_predictive``, ``Model.I_variational``,
  ``Model.set_data`` (entropy of ``y``);
* ``mavenn/src/layers/measurement_process_layers.py`` --
  ``MPAMeasurementProcessLayer.call`` and ``NoiseModelLayer.call`` (the
  ``I_var`` metric reported during training);
* ``mavenn/__init__.py`` -- ``TINY = sqrt(finfo(float32).tiny)``, used to
  regularise logarithms.

Summary of what MAVE-NN does, and therefore what this module does:

* **kNN entropy** (``_npeet.entropy``): Kozachenko-Leonenko with max-norm.
  Uniform noise ``1e-5 * U[0, 1)`` is added to the samples, ``r_i`` is the
  distance to the k-th nearest neighbour (self excluded) and
  ``H = (psi(N) - psi(k) + d ln 2 + d <ln r_i>) / ln 2`` bits.
* **I_pred for MPA / sort-seq data** (``Model.I_predictive``): the data are
  expanded to one observation per read (a sequence with ``c`` reads in bin
  ``y`` contributes ``c`` copies of ``(phi, y)``); Gaussian noise with standard
  deviation ``0.01 * std(phi, ddof=1)`` (over the expanded observations) is
  added to ``phi`` once; then ``mi_mixed`` -> ``_npeet.micd``:
  ``I = |H(phi) - sum_y p(y) H(phi | y)|`` with each entropy the kNN entropy
  above (fresh ``1e-5`` noise per call); a bin with ``<= k`` observations gets
  ``H(phi | y) := H(phi)``.
* **I_pred for GE / continuous data**: ``phi`` is fuzzed the same way and the
  KSG estimator ``_npeet.mi`` is used (``1e-5`` noise on both variables,
  max-norm joint k-th neighbour distance ``eps_i``, marginal counts
  ``n_x(i) = #{j: |x_j - x_i| <= eps_i - 1e-15}`` *including* ``i``,
  ``I = (psi(k) + psi(N) - <psi(n_x)> - <psi(n_y)>) / ln 2``; no absolute
  value, no LNC correction by default).
* **Uncertainty of I_pred** (``entropy.mi_mixed``, ``entropy.mi_continuous``):
  the estimate is recomputed on 25 random subsamples of ``floor(N / 2)``
  observations drawn without replacement (from the already fuzzed data), and
  ``dI = std(I_sub, ddof=1) / sqrt(2)``.
* **I_var for MPA** (``Model.I_variational``): per read,
  ``h_n = -log2(p(y_n | phi_n) + TINY)``; ``H(y)`` is the plug-in entropy of
  the bin distribution of reads; ``I_var = H(y) - mean(h_n)`` and
  ``dI_var = std(h_n, ddof=1) / sqrt(reads)`` (``dH(y)`` is taken as 0). The
  training-time metric (``MPAMeasurementProcessLayer.call``) is
  ``H(y) - log2(e) * sum(NLL) / sum(counts)``.
* **I_var for GE** (``Model.I_variational``): ``y`` is standardised, at most
  10^4 values are subsampled, fuzzed by ``0.01 * std``, and ``H(y)`` is the kNN
  entropy with ``k = 7`` (+ ``log2(y_std)``), with the half-sample
  uncertainty; ``h_n = -log2(p(y_n | phi_n) + TINY)``;
  ``I_var = H(y) - mean(h_n)``, ``dI = sqrt(dH^2 + (std(h_n)/sqrt(N))^2)``.

Randomness: every function takes ``rng`` (a :class:`numpy.random.Generator`;
``None`` means ``np.random.default_rng(0)``); MAVE-NN's use of the global
``np.random`` state is replaced by draws from ``rng`` in the same order, so
results are reproducible but not bit-identical to MAVE-NN.

Implementation: every neighbour search is exact, and its distances are the
floating-point differences a brute-force search computes, so the estimates
depend neither on the search method nor on the number of threads (kNN
queries of 2048 points or more use :func:`cisreg.effective_n_threads`
threads). In 1-D (kNN entropies) the k-th
neighbour distance comes from the sorted sample (the k nearest others of a
value and the value itself are ``k + 1`` consecutive sorted values), and all
the bins of ``micd`` are handled in one pass over one padded array; the joint
k-th neighbour distances of the KSG estimator come from
``scipy.spatial.cKDTree`` (max-norm, ``p = inf``), its marginal counts from
``searchsorted`` on the sorted marginals with the boundaries corrected to the
exact comparison ``|v_j - v_i| <= eps_i - 1e-15``; digamma is
``scipy.special.digamma``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma as _psi

from cisreg._threads import effective_n_threads
from cisreg.errors import InputError

__all__ = [
    "TINY",
    "digamma",
    "entropy_discrete",
    "entropy_knn",
    "i_pred_continuous",
    "i_pred_sortseq",
    "i_var_continuous",
    "i_var_gaussian",
    "i_var_sortseq",
    "i_var_sortseq_from_logp",
    "mi_continuous_discrete",
    "mi_ksg",
    "r2_pearson",
]

#: Regulariser MAVE-NN adds inside logarithms (``mavenn/__init__.py``).
TINY: float = float(np.sqrt(np.finfo(np.float32).tiny))

_LN2 = math.log(2.0)
_NPEET_NOISE = 1e-5  # _npeet.add_noise(intens=1e-5) in MAVE-NN's vendored NPEET
_NPEET_RADIUS_SHIFT = 1e-15  # _npeet.avgdigamma: dvec = dvec - 1e-15

# Below this many points a kNN query runs on one thread (thread start-up dominates).
_PARALLEL_QUERY_MIN = 2048


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _as_rng(rng: np.random.Generator | None) -> np.random.Generator:
    """Return ``rng``, or ``np.random.default_rng(0)`` when it is ``None``."""
    if rng is None:
        return np.random.default_rng(0)
    if not isinstance(rng, np.random.Generator):
        raise InputError(
            f"rng must be a numpy.random.Generator or None, got {type(rng).__name__}",
            source="rng",
        )
    return rng


def _as_1d_float(x: object, name: str) -> np.ndarray:
    """Convert ``x`` to a finite 1-D float64 array (a copy)."""
    arr = np.array(x, dtype=np.float64)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise InputError(f"must be 1-D, got shape {arr.shape}", source=name)
    if not np.all(np.isfinite(arr)):
        raise InputError("contains non-finite values", source=name)
    return arr


def _check_k(k: int, n: int, name: str = "k") -> int:
    """Validate the number of neighbours (NPEET asserts ``k <= N - 1``)."""
    if isinstance(k, bool) or int(k) != k or int(k) < 1:
        raise InputError(f"must be a positive integer, got {k!r}", source=name)
    k = int(k)
    if k > n - 1:
        raise InputError(
            f"k={k} needs at least k+1={k + 1} samples, got {n}", source=name
        )
    return k


def _check_subsamples(n_subsamples: int) -> int:
    if isinstance(n_subsamples, bool) or int(n_subsamples) != n_subsamples:
        raise InputError("must be an integer", source="n_subsamples")
    n_subsamples = int(n_subsamples)
    if n_subsamples < 2:
        raise InputError(
            f"must be >= 2 to estimate an uncertainty, got {n_subsamples}",
            source="n_subsamples",
        )
    return n_subsamples


def _as_counts(counts: object, n_rows: int | None = None) -> np.ndarray:
    """Validate a [N, Y] array of non-negative integer counts; return int64."""
    arr = np.asarray(counts)
    if arr.ndim != 2:
        raise InputError(f"must be 2-D [N, Y], got shape {arr.shape}", source="counts")
    if n_rows is not None and arr.shape[0] != n_rows:
        raise InputError(
            f"has {arr.shape[0]} rows but phi has {n_rows} values", source="counts"
        )
    if arr.dtype.kind not in "iub":
        arr_f = np.asarray(arr, dtype=np.float64)
        if not np.all(np.isfinite(arr_f)) or np.any(arr_f != np.round(arr_f)):
            raise InputError("must contain integer values", source="counts")
        arr = arr_f
    if np.any(arr < 0):
        raise InputError("must be non-negative", source="counts")
    return np.asarray(arr, dtype=np.int64)


def _expand_reads(values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One observation per read: repeat ``values[n]`` ``counts[n, y]`` times.

    Returns ``(values_per_read, bin_per_read)``, ordered by sequence, then bin.
    Only the non-zero cells of ``counts`` are expanded.
    """
    n_bins = counts.shape[1]
    flat = counts.reshape(-1)
    cells = np.flatnonzero(flat != 0)
    reps = flat[cells]
    rows, bins = np.divmod(cells, n_bins)
    return np.repeat(values[rows], reps), np.repeat(bins, reps)


def _fuzz(phi: np.ndarray, knn_fuzz: float, rng: np.random.Generator) -> np.ndarray:
    """``phi + knn_fuzz * std(phi, ddof=1) * N(0, 1)`` as in ``Model.I_predictive``."""
    if knn_fuzz < 0:
        raise InputError(f"must be >= 0, got {knn_fuzz}", source="knn_fuzz")
    scale = knn_fuzz * phi.std(ddof=1) if phi.size > 1 else 0.0
    return phi + scale * rng.standard_normal(phi.size)


def _half_subsample_sd(
    estimate_fn: Any, n: int, n_subsamples: int, rng: np.random.Generator
) -> float:
    """MAVE-NN's uncertainty: sd over half-size subsamples divided by sqrt(2).

    ``estimate_fn(ix)`` computes the estimate on the observations ``ix``;
    subsamples have ``floor(n / 2)`` observations drawn without replacement.
    """
    n_half = n // 2
    subs = np.empty(n_subsamples)
    for s in range(n_subsamples):
        ix = rng.choice(n, size=n_half, replace=False)
        subs[s] = estimate_fn(ix)
    return float(np.std(subs, ddof=1) / np.sqrt(2.0))


# ---------------------------------------------------------------------------
# digamma
# ---------------------------------------------------------------------------


def digamma(x: float | np.ndarray) -> float | np.ndarray:
    """Digamma function ``psi(x) = d ln Gamma(x) / dx`` for positive ``x``.

    A validating wrapper of :func:`scipy.special.digamma` (Cephes ``psi``),
    accurate to a few ulp for positive arguments.

    Parameters
    ----------
    x : float or numpy.ndarray
        Positive argument(s).

    Returns
    -------
    float or numpy.ndarray
        ``psi(x)``; a float for scalar input, otherwise an array of the same
        shape as ``x``.

    Raises
    ------
    InputError
        If any ``x`` is not a positive finite number.
    """
    xv = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(xv)) or np.any(xv <= 0):
        raise InputError("digamma is implemented for positive finite x only", source="x")
    out = _psi(xv)
    if xv.ndim == 0:
        return float(out)
    res: np.ndarray = out
    return res


# ---------------------------------------------------------------------------
# nearest-neighbour primitives (1-D and 2-D max-norm)
# ---------------------------------------------------------------------------


def _kth_gap_sorted(xs: np.ndarray, k: int) -> np.ndarray:
    """Distance from each sorted value to its k-th nearest other value.

    The k nearest others of ``xs[i]`` are, with ``xs[i]`` itself, ``k + 1``
    consecutive values ``xs[j .. j+k]`` (``i - k <= j <= i``), so the k-th
    distance is ``min_j max(xs[i] - xs[j], xs[j+k] - xs[i])``: one
    vectorised pass per position of ``i`` in its window, no partial sort.
    The distances are the same floating-point differences a kNN search
    computes (rounding is monotone), so the result is exact.

    Parameters
    ----------
    xs : numpy.ndarray
        Sorted 1-D array of ``N > k`` values.
    k : int
        Number of neighbours.

    Returns
    -------
    numpy.ndarray
        ``r[i]``, the distance from ``xs[i]`` to its k-th nearest other value.
    """
    n = xs.size
    m = n - k  # number of windows xs[j .. j+k]
    left, right = xs[:m], xs[k:]
    out = np.empty(n)
    np.subtract(right, left, out=out[:m])  # point first in its window: max(0, right - mid)
    out[m:] = np.inf
    d = np.empty(m)
    d2 = np.empty(m)
    for a in range(1, k + 1):  # position of the point inside its window (k passes)
        mid = xs[a : m + a]
        np.subtract(mid, left, out=d)
        np.subtract(right, mid, out=d2)
        np.maximum(d, d2, out=d)
        view = out[a : m + a]
        np.minimum(view, d, out=view)
    return out


def _kth_gaps_by_segment(
    values: np.ndarray, sizes: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """k-th nearest-neighbour gaps within each segment of ``values``, in one pass.

    ``values`` is the concatenation of segments of ``sizes[s] > k`` values
    each (unsorted). Each segment is sorted into its place in one padded
    array, in which consecutive segments are separated by ``k`` copies of
    ``+B`` and then ``k`` copies of ``-B``, ``B = 4 max(max |value|, 1)``: a
    window ``xs[j .. j+k]`` that leaves a segment reaches a sentinel, whose
    distance to the segment's values (``> 2 max |value|``) exceeds every
    distance within a segment, so one :func:`_kth_gap_sorted` call gives
    every segment's own k-th gaps, exactly. (Values so large that ``2 B``
    overflows are handled one segment at a time.)

    Parameters
    ----------
    values : numpy.ndarray
        Concatenated segments, 1-D.
    sizes : numpy.ndarray
        Segment lengths (each ``> k``), summing to ``values.size``.
    k : int
        Number of neighbours.

    Returns
    -------
    r : numpy.ndarray
        k-th gaps in the padded layout (sentinel positions hold 1.0).
    starts : numpy.ndarray
        Start of each segment in ``r``; segment ``s`` (sorted) occupies
        ``r[starts[s] : starts[s] + sizes[s]]``.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if sizes.size == 1:
        return _kth_gap_sorted(np.sort(values), k), np.zeros(1, dtype=np.int64)
    pad = 2 * k
    starts = np.concatenate(([0], np.cumsum(sizes[:-1] + pad)))
    stops = starts + sizes
    xs = np.empty(int(stops[-1]))
    src = 0
    for start, stop in zip(starts.tolist(), stops.tolist()):  # segments (bins), not points
        seg = xs[start:stop]
        seg[:] = values[src : src + stop - start]
        seg.sort()
        src += stop - start
    pads = (starts[1:, None] - pad + np.arange(pad)[None, :]).ravel()
    # largest |value|: at the ends of the sorted segments
    extent = 4.0 * max(float(np.abs(xs[starts]).max()), float(np.abs(xs[stops - 1]).max()), 1.0)
    if math.isfinite(2.0 * extent):  # sentinel differences do not overflow
        xs[pads] = np.tile(np.repeat([extent, -extent], k), sizes.size - 1)
        r = _kth_gap_sorted(xs, k)
    else:  # values near the float64 limit: one segment at a time
        r = np.empty(xs.size)
        for start, size in zip(starts.tolist(), sizes.tolist()):
            r[start : start + size] = _kth_gap_sorted(xs[start : start + size], k)
    r[pads] = 1.0
    return r, starts


def _kth_maxnorm_2d(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Exact max-norm distance from each point (x_i, y_i) to its k-th neighbour.

    NPEET's ``query_neighbors(KDTree(points, 'chebyshev'), points, k)``: the
    (k+1)-th smallest distance counting the point itself, from
    ``scipy.spatial.cKDTree.query(..., k=[k + 1], p=inf)`` (exact search;
    the distance is ``max(|x_j - x_i|, |y_j - y_i|)``). The points are
    queried in the tree's leaf order, which is a little faster.

    Parameters
    ----------
    x, y : numpy.ndarray
        Coordinates, 1-D arrays of equal length ``N > k``.
    k : int
        Number of neighbours (the point itself not counted).

    Returns
    -------
    numpy.ndarray
        ``eps[i]``, the k-th neighbour distance of point ``i``.
    """
    points = np.column_stack((x, y))
    tree = cKDTree(points)
    # queries in the tree's leaf order (neighbouring queries visit the same nodes)
    order = tree.indices
    dist, _ = tree.query(points[order], k=[k + 1], p=np.inf, workers=_query_workers(x.size))
    out = np.empty(x.size)
    out[order] = dist[:, 0]
    return out


def _query_workers(n: int) -> int:
    """Threads for a kNN query of ``n`` points (one below a few thousand)."""
    if n < _PARALLEL_QUERY_MIN:
        return 1
    return effective_n_threads(None)


def _settle(
    vs: np.ndarray, c: np.ndarray, radius: np.ndarray, idx: np.ndarray, upper: bool
) -> np.ndarray:
    """Exact boundary indices in the sorted array ``vs``, from close guesses.

    With ``upper``: ``idx[i] = #{j : vs[j] - c[i] <= radius[i]}``; otherwise
    ``idx[i] = #{j : c[i] - vs[j] > radius[i]}``. Both conditions are monotone
    in ``j`` (rounding is monotone), so a guess is moved one step at a time;
    after the first pass only the indices that moved are checked again.
    """
    n = vs.size
    todo = np.arange(c.size)
    while todo.size:
        h = idx[todo]
        ci, ri = c[todo], radius[todo]
        at = vs[np.minimum(h, n - 1)]
        before = vs[np.maximum(h - 1, 0)]
        if upper:
            grow = (h < n) & (at - ci <= ri)
            shrink = (h > 0) & (before - ci > ri)
        else:
            grow = (h < n) & (ci - at > ri)
            shrink = (h > 0) & (ci - before <= ri)
        step = grow.astype(np.int64) - shrink
        moved = step != 0
        todo = todo[moved]
        idx[todo] += step[moved]
    return idx


def _count_within(values: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """``#{j : |values_j - values_i| <= radius_i}`` (self included), exactly.

    Matches ``KDTree.query_radius(..., count_only=True)`` (and
    ``cKDTree.query_ball_point(..., p=inf, return_length=True)``) in 1-D: the
    comparison is made on the rounded difference ``|v_j - v_i|``. The values
    are sorted once, ``searchsorted`` (queries in sorted order) gives both
    ends of every interval, and the ends are corrected to the exact
    comparison.

    Parameters
    ----------
    values : numpy.ndarray
        1-D array.
    radius : numpy.ndarray
        Radius per value, same shape.

    Returns
    -------
    numpy.ndarray
        Counts (int64), in the order of ``values``.
    """
    order = np.argsort(values)
    vs = values[order]
    r = radius[order]
    hi = _settle(vs, vs, r, np.searchsorted(vs, vs + r, side="right"), upper=True)
    lo = _settle(vs, vs, r, np.searchsorted(vs, vs - r, side="left"), upper=False)
    out = np.empty(values.size, dtype=np.int64)
    out[order] = hi - lo
    return out


# ---------------------------------------------------------------------------
# entropy and mutual information estimators (NPEET, as vendored in MAVE-NN)
# ---------------------------------------------------------------------------


def _knn_entropies(values: np.ndarray, sizes: np.ndarray, k: int) -> list[float]:
    """``_npeet.entropy(., k, base=2)`` of each (noised) segment of ``values``.

    ``H_s = (psi(N_s) - psi(k) + ln 2 + mean_s(ln r_i)) / ln 2`` with ``r_i``
    the k-th gap within segment ``s`` (``N_s = sizes[s] > k``), the mean
    taken over the segment's values in sorted order (as NPEET's, up to
    summation order).
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    r, starts = _kth_gaps_by_segment(values, sizes, k)
    if np.any(r <= 0):
        raise InputError(
            "coincident samples after the 1e-5 tie-breaking noise; "
            "rescale or fuzz the data",
            source="x",
        )
    log_r = np.log(r)
    const = _psi(sizes.astype(np.float64)) - _psi(float(k)) + _LN2
    out = []
    for s, (start, size) in enumerate(zip(starts.tolist(), sizes.tolist())):  # segments
        # np.mean's pairwise sum, without its per-call overhead
        mean_log_r = np.add.reduce(log_r[start : start + size]) / size
        out.append(float((const[s] + mean_log_r) / _LN2))
    return out


def _entropy_knn_noised(x: np.ndarray, k: int, rng: np.random.Generator) -> float:
    """``_npeet.entropy(x[:, None], k, base=2)`` for a validated 1-D array."""
    n = x.size
    return _knn_entropies(x + _NPEET_NOISE * rng.random(n), np.array([n]), k)[0]


def entropy_knn(x: np.ndarray, k: int = 5, rng: np.random.Generator | None = None) -> float:
    """Kozachenko-Leonenko kNN entropy of 1-D continuous samples, in bits.

    Exactly NPEET's ``entropy(x, k, base=2)`` as vendored in MAVE-NN
    (``mavenn/src/_npeet.py``): noise ``1e-5 * U[0, 1)`` is added to every
    sample (``add_noise``), ``r_i`` is the distance to the k-th nearest other
    sample, and ``H = (psi(N) - psi(k) + ln 2 + mean(ln r_i)) / ln 2``.

    Parameters
    ----------
    x : numpy.ndarray
        1-D array of ``N > k`` samples.
    k : int, default 5
        Number of nearest neighbours.
    rng : numpy.random.Generator, optional
        Source of the tie-breaking noise; ``None`` means ``default_rng(0)``.

    Returns
    -------
    float
        Differential entropy estimate in bits.

    Raises
    ------
    InputError
        If ``N <= k`` or if two samples still coincide after the noise (NPEET
        would return ``-inf``).
    """
    xv = _as_1d_float(x, "x")
    k = _check_k(k, xv.size)
    return _entropy_knn_noised(xv, k, _as_rng(rng))


def entropy_discrete(counts_per_bin: np.ndarray) -> float:
    """Plug-in entropy (bits) of a distribution given by counts per bin.

    As in ``Model.set_data`` / ``Model.I_variational`` (MPA branch):
    ``p = c / sum(c)``, ``H = -sum_{p > 0} p log2(p + TINY)``.

    Parameters
    ----------
    counts_per_bin : numpy.ndarray
        1-D non-negative counts per bin; a 2-D ``[N, Y]`` count matrix is
        summed over sequences first.

    Returns
    -------
    float
        Entropy in bits.
    """
    c = np.asarray(counts_per_bin, dtype=np.float64)
    if c.ndim == 2:
        c = c.sum(axis=0)
    if c.ndim != 1 or c.size == 0:
        raise InputError(f"must be 1-D or 2-D, got shape {c.shape}", source="counts_per_bin")
    if not np.all(np.isfinite(c)) or np.any(c < 0):
        raise InputError("must be finite and non-negative", source="counts_per_bin")
    total = c.sum()
    if total <= 0:
        raise InputError("total count must be positive", source="counts_per_bin")
    p = c[c > 0] / total
    return float(-np.sum(p * np.log2(p + TINY)))


def _micd(phi: np.ndarray, labels: np.ndarray, k: int, rng: np.random.Generator) -> float:
    """``_npeet.micd(phi, labels, k, base=2, warning=False)`` (validated input)."""
    uniq, codes = np.unique(labels, return_inverse=True)
    return _micd_codes(phi, codes.reshape(-1), uniq.size, k, rng)


def _micd_codes(
    phi: np.ndarray, codes: np.ndarray, n_codes: int, k: int, rng: np.random.Generator
) -> float:
    """``_npeet.micd`` for labels coded ``0 .. n_codes - 1`` in sorted label order.

    The random numbers are drawn as ``micd`` draws them: ``N`` for ``H(phi)``,
    then ``N_y`` for each label ``y`` with ``N_y > k``, in label order (one
    draw of the concatenation: ``Generator.random`` produces the same
    stream either way). All entropies are then computed in one pass: the
    noised ``phi`` and the noised values of every such label are sorted
    segments of one array (:func:`_knn_entropies`).

    Parameters
    ----------
    phi : numpy.ndarray
        Continuous values, shape ``[N]``.
    codes : numpy.ndarray
        Integer label codes in ``0 .. n_codes - 1``, shape ``[N]``.
    n_codes : int
        Number of codes.
    k : int
        Number of nearest neighbours.
    rng : numpy.random.Generator
        Source of the tie-breaking noise.

    Returns
    -------
    float
        ``|H(phi) - sum_y p(y) H(phi | y)|`` in bits.
    """
    n = phi.size
    cnt = np.bincount(codes, minlength=n_codes)
    big = cnt > k  # NPEET: k <= N_y - 1, else "assuming maximal entropy"
    sizes = cnt[big]
    noise = rng.random(n + int(sizes.sum()))
    # members of each big label, label by label, in their original order
    key = codes.astype(np.int16) if n_codes <= np.iinfo(np.int16).max else codes
    order = np.argsort(key, kind="stable")
    if not big.all():
        order = order[big[codes[order]]]
    values = np.empty(noise.size)
    values[:n] = phi
    np.take(phi, order, out=values[n:])
    values += _NPEET_NOISE * noise  # x + 1e-5 * U, as _npeet.add_noise
    entropies = _knn_entropies(values, np.concatenate(([n], sizes)), k)
    h_x = entropies[0]
    p = cnt / n
    h_cond = 0.0
    seg = 1
    for idx in np.flatnonzero(cnt).tolist():  # labels present, in sorted order
        if big[idx]:
            h_cond += p[idx] * entropies[seg]
            seg += 1
        else:  # NPEET: "insufficient data, assuming maximal entropy"
            h_cond += p[idx] * h_x
    return float(abs(h_x - h_cond))


def mi_continuous_discrete(
    phi: np.ndarray,
    labels: np.ndarray,
    k: int = 5,
    rng: np.random.Generator | None = None,
) -> float:
    """Mutual information (bits) between a continuous and a discrete variable.

    NPEET's ``micd`` as used by MAVE-NN's ``mi_mixed``:
    ``I = |H(phi) - sum_y p(y) H(phi | y)|``, each entropy by
    :func:`entropy_knn` (fresh tie-breaking noise per call, in the order
    ``H(phi)`` then the labels in sorted order); a label with ``<= k``
    observations contributes ``p(y) H(phi)``. No fuzzing is done here.

    Parameters
    ----------
    phi : numpy.ndarray
        1-D continuous values (one per observation).
    labels : numpy.ndarray
        1-D discrete labels (e.g. bin numbers), same length as ``phi``.
    k : int, default 5
        Number of nearest neighbours.
    rng : numpy.random.Generator, optional
        ``None`` means ``default_rng(0)``.

    Returns
    -------
    float
        Mutual information estimate in bits (non-negative).
    """
    x = _as_1d_float(phi, "phi")
    lab = np.asarray(labels).reshape(-1)
    if lab.size != x.size:
        raise InputError(
            f"has {lab.size} values but phi has {x.size}", source="labels"
        )
    k = _check_k(k, x.size)
    return _micd(x, lab, k, _as_rng(rng))


def _ksg(x: np.ndarray, y: np.ndarray, k: int, rng: np.random.Generator) -> float:
    """``_npeet.mi(x, y, k=k, base=2, alpha=0)`` for validated 1-D arrays."""
    n = x.size
    xn = x + _NPEET_NOISE * rng.random(n)
    yn = y + _NPEET_NOISE * rng.random(n)
    r = _kth_maxnorm_2d(xn, yn, k) - _NPEET_RADIUS_SHIFT
    a = np.mean(_psi(_count_within(xn, r).astype(np.float64)))
    b = np.mean(_psi(_count_within(yn, r).astype(np.float64)))
    return float((-a - b + _psi(float(k)) + _psi(float(n))) / _LN2)


def mi_ksg(
    x: np.ndarray,
    y: np.ndarray,
    k: int = 5,
    rng: np.random.Generator | None = None,
) -> float:
    """KSG mutual information (bits) between two 1-D continuous variables.

    NPEET's ``mi(x, y, k, base=2)`` as vendored in MAVE-NN (KSG estimator 1):
    ``1e-5 * U[0, 1)`` noise on ``x`` and on ``y``; ``eps_i`` is the max-norm
    distance to the k-th nearest neighbour in the joint space;
    ``n_x(i) = #{j : |x_j - x_i| <= eps_i - 1e-15}`` (``i`` included), same
    for ``y``; ``I = (psi(k) + psi(N) - <psi(n_x)> - <psi(n_y)>) / ln 2``.
    Can be slightly negative. The joint kNN search is exact
    (``scipy.spatial.cKDTree`` with the max-norm).

    Parameters
    ----------
    x, y : numpy.ndarray
        1-D arrays of equal length ``N > k``.
    k : int, default 5
        Number of nearest neighbours.
    rng : numpy.random.Generator, optional
        ``None`` means ``default_rng(0)``.

    Returns
    -------
    float
        Mutual information estimate in bits.
    """
    xv = _as_1d_float(x, "x")
    yv = _as_1d_float(y, "y")
    if xv.size != yv.size:
        raise InputError(f"has {yv.size} values but x has {xv.size}", source="y")
    k = _check_k(k, xv.size)
    return _ksg(xv, yv, k, _as_rng(rng))


# ---------------------------------------------------------------------------
# predictive information
# ---------------------------------------------------------------------------


def i_pred_sortseq(
    phi: np.ndarray,
    counts: np.ndarray,
    *,
    k: int = 5,
    n_subsamples: int = 25,
    knn_fuzz: float = 0.01,
    uncertainty: bool = True,
    rng: np.random.Generator | None = None,
) -> tuple[float, float]:
    """Predictive information ``I[phi; y]`` (bits) for sort-seq / MPA data.

    Follows ``Model.I_predictive`` (MPA branch, ``mavenn/src/model.py``) and
    ``mi_mixed`` (``mavenn/src/entropy.py``):

    1. one observation per read: sequence ``n`` contributes ``counts[n, y]``
       copies of ``(phi[n], y)``;
    2. ``phi += knn_fuzz * std(phi, ddof=1) * N(0, 1)`` over the expanded
       observations (once);
    3. ``I = micd(phi, y, k)`` (see :func:`mi_continuous_discrete`);
    4. ``dI``: ``micd`` on ``n_subsamples`` random subsets of ``floor(R / 2)``
       of the fuzzed observations (without replacement),
       ``dI = std(ddof=1) / sqrt(2)``.

    Parameters
    ----------
    phi : numpy.ndarray
        Latent phenotype of each sequence, shape ``[N]``.
    counts : numpy.ndarray
        Read counts, shape ``[N, Y]``, non-negative integers (int or float).
    k : int, default 5
        Number of nearest neighbours (MAVE-NN's ``knn``).
    n_subsamples : int, default 25
        Number of half-size subsamples for the uncertainty.
    knn_fuzz : float, default 0.01
        Relative standard deviation of the Gaussian fuzz added to ``phi``.
    uncertainty : bool, default True
        If False, skip the subsampling and return ``dI = 0.0``.
    rng : numpy.random.Generator, optional
        ``None`` means ``default_rng(0)``.

    Returns
    -------
    tuple of float
        ``(I, dI)`` in bits.
    """
    rng = _as_rng(rng)
    phi_v = _as_1d_float(phi, "phi")
    cts = _as_counts(counts, phi_v.size)
    phi_r, y_r = _expand_reads(phi_v, cts)
    n = phi_r.size
    k = _check_k(k, n)
    phi_r = _fuzz(phi_r, knn_fuzz, rng)
    n_bins = cts.shape[1]
    info = _micd_codes(phi_r, y_r, n_bins, k, rng)
    if not uncertainty:
        return info, 0.0
    n_subsamples = _check_subsamples(n_subsamples)
    _check_k(k, n // 2)
    d_info = _half_subsample_sd(
        lambda ix: _micd_codes(phi_r[ix], y_r[ix], n_bins, k, rng), n, n_subsamples, rng
    )
    return info, d_info


def i_pred_continuous(
    phi: np.ndarray,
    y: np.ndarray,
    *,
    k: int = 5,
    n_subsamples: int = 25,
    knn_fuzz: float = 0.01,
    uncertainty: bool = True,
    rng: np.random.Generator | None = None,
) -> tuple[float, float]:
    """Predictive information ``I[phi; y]`` (bits) for continuous (GE) data.

    Follows ``Model.I_predictive`` (GE branch) and ``mi_continuous``
    (``mavenn/src/entropy.py``): ``phi`` (not ``y``) is fuzzed by
    ``knn_fuzz * std(phi, ddof=1) * N(0, 1)``, then ``I`` is the KSG estimate
    :func:`mi_ksg` (no LNC correction, MAVE-NN's default), and ``dI`` is
    ``std(ddof=1) / sqrt(2)`` of the KSG estimates on ``n_subsamples`` random
    half-size subsets.

    Parameters
    ----------
    phi : numpy.ndarray
        Latent phenotypes (or predictions), shape ``[N]``.
    y : numpy.ndarray
        Measurements, shape ``[N]``.
    k : int, default 5
        Number of nearest neighbours.
    n_subsamples : int, default 25
        Number of half-size subsamples for the uncertainty.
    knn_fuzz : float, default 0.01
        Relative standard deviation of the Gaussian fuzz added to ``phi``.
    uncertainty : bool, default True
        If False, return ``dI = 0.0``.
    rng : numpy.random.Generator, optional
        ``None`` means ``default_rng(0)``.

    Returns
    -------
    tuple of float
        ``(I, dI)`` in bits.
    """
    rng = _as_rng(rng)
    x = _as_1d_float(phi, "phi")
    yv = _as_1d_float(y, "y")
    if x.size != yv.size:
        raise InputError(f"has {yv.size} values but phi has {x.size}", source="y")
    n = x.size
    k = _check_k(k, n)
    x = _fuzz(x, knn_fuzz, rng)
    info = _ksg(x, yv, k, rng)
    if not uncertainty:
        return info, 0.0
    n_subsamples = _check_subsamples(n_subsamples)
    _check_k(k, n // 2)
    d_info = _half_subsample_sd(lambda ix: _ksg(x[ix], yv[ix], k, rng), n, n_subsamples, rng)
    return info, d_info


# ---------------------------------------------------------------------------
# variational information
# ---------------------------------------------------------------------------


def i_var_sortseq(nll_total_nats: float, counts: np.ndarray) -> float:
    """Variational information (bits per read) from a total NLL, sort-seq data.

    The ``I_var`` metric of ``MPAMeasurementProcessLayer.call``
    (``mavenn/src/layers/measurement_process_layers.py``):
    ``I_var = H(y) - log2(e) * NLL_total / total_reads`` where ``H(y)`` is
    :func:`entropy_discrete` of the reads per bin. For ``dI`` (which needs
    per-read log-likelihoods) use :func:`i_var_sortseq_from_logp`.

    Parameters
    ----------
    nll_total_nats : float
        ``-sum_{n,y} counts[n, y] ln p(y | phi_n)`` in nats.
    counts : numpy.ndarray
        Read counts ``[N, Y]``.

    Returns
    -------
    float
        ``I_var`` in bits.
    """
    cts = _as_counts(counts)
    total = int(cts.sum())
    if total <= 0:
        raise InputError("total read count must be positive", source="counts")
    nll = float(nll_total_nats)
    if not math.isfinite(nll):
        raise InputError("must be finite", source="nll_total_nats")
    return entropy_discrete(cts.sum(axis=0)) - nll / (_LN2 * total)


def i_var_sortseq_from_logp(
    log_p_y_given_phi: np.ndarray, counts: np.ndarray
) -> tuple[float, float]:
    """Variational information and its uncertainty (bits), sort-seq data.

    ``Model.I_variational`` (MPA branch): per read
    ``h = -log2(p(y | phi) + TINY)``; ``I_var = H(y) - mean_reads(h)``;
    ``dI_var = std_reads(h, ddof=1) / sqrt(reads)`` (``dH(y)`` taken as 0,
    as in MAVE-NN). Read-weighted statistics are computed without expanding.

    Parameters
    ----------
    log_p_y_given_phi : numpy.ndarray
        Natural-log probabilities ``ln p(y | phi_n)``, shape ``[N, Y]``.
    counts : numpy.ndarray
        Read counts ``[N, Y]``.

    Returns
    -------
    tuple of float
        ``(I_var, dI_var)`` in bits.
    """
    cts = _as_counts(counts)
    logp = np.asarray(log_p_y_given_phi, dtype=np.float64)
    if logp.shape != cts.shape:
        raise InputError(
            f"shape {logp.shape} does not match counts {cts.shape}",
            source="log_p_y_given_phi",
        )
    mask = cts > 0
    c = cts[mask].astype(np.float64)
    lp = logp[mask]
    if np.any(np.isnan(lp)) or np.any(lp > 1e-6):
        raise InputError("must be log-probabilities (<= 0)", source="log_p_y_given_phi")
    total = c.sum()
    if total < 2:
        raise InputError("need at least 2 reads", source="counts")
    h = -np.logaddexp(lp, math.log(TINY)) / _LN2  # -log2(p + TINY)
    mean_h = float(np.sum(c * h) / total)
    var_h = float(np.sum(c * (h - mean_h) ** 2) / (total - 1.0))
    return entropy_discrete(cts.sum(axis=0)) - mean_h, math.sqrt(var_h / total)


def i_var_continuous(
    y: np.ndarray,
    nll_nats: np.ndarray,
    *,
    y_mean: float | None = None,
    y_std: float | None = None,
    k: int = 7,
    knn_fuzz: float = 0.01,
    n_max: int = 10_000,
    n_subsamples: int = 25,
    uncertainty: bool = True,
    rng: np.random.Generator | None = None,
) -> tuple[float, float]:
    """Variational information and its uncertainty (bits), continuous data.

    ``Model.I_variational`` (GE branch, ``mavenn/src/model.py``), for any noise
    model given its per-datum negative log-likelihoods:

    * ``z = (y - y_mean) / y_std``; if ``N > n_max``, ``n_max`` values are
      drawn without replacement; ``z += knn_fuzz * std(z, ddof=1) * N(0, 1)``;
    * ``H(y) = entropy_knn(z, k=7) + log2(y_std + TINY)`` with
      ``dH = std(ddof=1)/sqrt(2)`` over ``n_subsamples`` half-size subsamples
      (``entropy_continuous(z, knn=7, resolution=0)``);
    * ``h_n = -log2(p(y_n | phi_n) + TINY)`` with ``p = exp(-nll_nats)``;
    * ``I_var = H(y) - mean(h)``, ``dI = sqrt(dH^2 + (std(h, ddof=1)/sqrt(N))^2)``.

    Parameters
    ----------
    y : numpy.ndarray
        Measurements, shape ``[N]``.
    nll_nats : numpy.ndarray
        ``-ln p(y_n | phi_n)`` per datum, in nats, for the density of ``y`` in
        the units of ``y`` (a model working on standardised ``y`` must add
        ``ln(y_std)``).
    y_mean, y_std : float, optional
        Standardisation constants (MAVE-NN uses the training-set mean and
        ``std(ddof=0)``); default: those of ``y``.
    k : int, default 7
        Neighbours for the entropy of ``y`` (MAVE-NN uses 7 here).
    knn_fuzz : float, default 0.01
        Relative fuzz added to ``z`` before the entropy estimate.
    n_max : int, default 10000
        Maximum number of values used for the entropy estimate.
    n_subsamples : int, default 25
        Half-size subsamples for ``dH``.
    uncertainty : bool, default True
        If False, return ``dI = 0.0``.
    rng : numpy.random.Generator, optional
        ``None`` means ``default_rng(0)``.

    Returns
    -------
    tuple of float
        ``(I_var, dI_var)`` in bits.
    """
    rng = _as_rng(rng)
    yv = _as_1d_float(y, "y")
    nll = _as_1d_float(nll_nats, "nll_nats")
    if nll.size != yv.size:
        raise InputError(f"has {nll.size} values but y has {yv.size}", source="nll_nats")
    n = yv.size
    mu = float(yv.mean()) if y_mean is None else float(y_mean)
    sd = float(yv.std()) if y_std is None else float(y_std)
    if not (math.isfinite(sd) and sd > 0):
        raise InputError(f"must be positive, got {sd}", source="y_std")
    z = (yv - mu) / sd
    if n > n_max:
        z = rng.choice(z, size=int(n_max), replace=False)
    k = _check_k(k, z.size)
    z = _fuzz(z, knn_fuzz, rng)
    h_y = _entropy_knn_noised(z, k, rng) + math.log2(sd + TINY)
    h = -np.logaddexp(-nll, math.log(TINY)) / _LN2  # -log2(exp(-nll) + TINY)
    i_var = float(h_y - h.mean())
    if not uncertainty:
        return i_var, 0.0
    n_subsamples = _check_subsamples(n_subsamples)
    _check_k(k, z.size // 2)
    d_h_y = _half_subsample_sd(
        lambda ix: _entropy_knn_noised(z[ix], k, rng), z.size, n_subsamples, rng
    )
    d_h_cond = float(np.std(h, ddof=1) / np.sqrt(n)) if n > 1 else 0.0
    return i_var, math.sqrt(d_h_y**2 + d_h_cond**2)


def i_var_gaussian(
    y: np.ndarray,
    yhat: np.ndarray,
    sigma: float | np.ndarray,
    **kwargs: Any,
) -> tuple[float, float]:
    """Variational information (bits) under a Gaussian noise model.

    Convenience wrapper of :func:`i_var_continuous` with
    ``nll = 0.5 ((y - yhat) / sigma)^2 + ln sigma + 0.5 ln(2 pi)`` (MAVE-NN's
    ``GaussianNoiseModelLayer.compute_nlls``).

    Parameters
    ----------
    y, yhat : numpy.ndarray
        Measurements and predicted means, shape ``[N]``.
    sigma : float or numpy.ndarray
        Noise standard deviation(s) (> 0), scalar or shape ``[N]``.
    **kwargs
        Passed to :func:`i_var_continuous` (``rng``, ``k``, ...).

    Returns
    -------
    tuple of float
        ``(I_var, dI_var)`` in bits.
    """
    yv = _as_1d_float(y, "y")
    yh = _as_1d_float(yhat, "yhat")
    if yh.size != yv.size:
        raise InputError(f"has {yh.size} values but y has {yv.size}", source="yhat")
    s = np.broadcast_to(np.asarray(sigma, dtype=np.float64), yv.shape)
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise InputError("must be positive and finite", source="sigma")
    nll = 0.5 * ((yv - yh) / s) ** 2 + np.log(s) + 0.5 * math.log(2.0 * math.pi)
    return i_var_continuous(yv, nll, **kwargs)


# ---------------------------------------------------------------------------
# correlation
# ---------------------------------------------------------------------------


def r2_pearson(yhat: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Squared Pearson correlation and Pearson correlation of ``yhat`` vs ``y``.

    MAVE-NN's tutorials report ``R^2 = corrcoef(yhat, y)[0, 1] ** 2``.

    Parameters
    ----------
    yhat, y : numpy.ndarray
        1-D arrays of equal length (at least 2).

    Returns
    -------
    tuple of float
        ``(R^2, r)``.
    """
    a = _as_1d_float(yhat, "yhat")
    b = _as_1d_float(y, "y")
    if a.size != b.size:
        raise InputError(f"has {b.size} values but yhat has {a.size}", source="y")
    if a.size < 2:
        raise InputError("need at least 2 values", source="y")
    a = a - a.mean()
    b = b - b.mean()
    saa = float(np.dot(a, a))
    sbb = float(np.dot(b, b))
    if saa <= 0 or sbb <= 0:
        raise InputError("correlation undefined for constant input", source="y")
    r = float(np.dot(a, b) / math.sqrt(saa * sbb))
    r = max(-1.0, min(1.0, r))
    return r * r, r
