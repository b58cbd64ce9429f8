"""Measurement processes: how the activity phi reaches the data.

Each process is one component that owns everything about itself: its model-file keys
(:meth:`parse`, :meth:`to_dict`), its parameter blocks in theta (:meth:`add_params`), the
C++ object the kernels run (:meth:`core`), the targets it reads from a
:class:`~cisreg.data.Dataset` (:meth:`targets`), its initialisation, its predictions and
its metrics. Nothing else in the package switches on the kind of measurement: a new
process is a new class here (registered in :data:`MEASUREMENTS`) plus its C++ stage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .. import _core
from .._threads import effective_n_threads
from ..errors import InputError, ModelFileError
from .params import ParamLayout

if TYPE_CHECKING:
    from ..data.dataset import Dataset

__all__ = ["GE", "MEASUREMENTS", "Counts", "MeasurementProcess", "Rounds", "SortSeq", "data_columns",
           "parse_measurement"]


def _err(key: str, msg: str, source: str | None) -> ModelFileError:
    return ModelFileError(msg, source=source, key=key)


def _int(v: Any, key: str, lo: int, hi: int, source: str | None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _err(key, f"must be an integer, got {v!r}", source)
    if not lo <= v <= hi:
        raise _err(key, f"must be between {lo} and {hi}, got {v}", source)
    return v


def _keys(d: dict[str, Any], allowed: set[str], required: set[str], source: str | None) -> None:
    unknown = sorted(str(k) for k in d if k not in allowed)
    if unknown:
        raise _err(f"measurement.{unknown[0]}", f"unknown key; allowed keys here are {sorted(allowed)}", source)
    missing = sorted(required - set(d))
    if missing:
        raise _err(f"measurement.{missing[0]}", "required key is missing", source)


class MeasurementProcess:
    """The interface every measurement process implements."""

    #: The model-file ``"type"``.
    kind: ClassVar[str] = ""
    #: Prefix of its parameter blocks in theta.
    prefix: ClassVar[str] = ""

    @classmethod
    def parse(cls, d: dict[str, Any], source: str | None) -> MeasurementProcess:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def add_params(self, layout: ParamLayout) -> int:
        """Add this process's parameter blocks to ``layout``; return the first offset."""
        raise NotImplementedError

    def core(self, offset: int) -> _core.Measurement:
        raise NotImplementedError

    def targets(self, data: Dataset) -> np.ndarray:
        """The C-contiguous float64 target array [N, T] the kernels read from ``data``."""
        raise NotImplementedError

    def amounts(self, targets: np.ndarray) -> np.ndarray:
        """Per row, the unit the loss is averaged over (reads, or measurements) [N]."""
        raise NotImplementedError

    def amount(self, targets: np.ndarray, rows: np.ndarray) -> float:
        """The total of :meth:`amounts` over ``rows``."""
        return float(self.amounts(targets)[rows].sum())

    def init(self, layout: ParamLayout, theta: np.ndarray, rng: np.random.Generator, targets: np.ndarray | None,
             t_sat: float) -> None:
        """Initialise this process's blocks of ``theta`` in place (``targets``: training rows)."""
        raise NotImplementedError

    def yhat(self, model: Any, phi: np.ndarray) -> np.ndarray:
        """The prediction for each phi: g(phi), or the mean bin."""
        raise NotImplementedError

    def score(self, targets: np.ndarray) -> np.ndarray:
        """A per-row activity read off the targets (increasing with expression), used to
        seed sliding sites from enriched k-mers."""
        raise NotImplementedError

    def prediction_columns(self, model: Any, phi: np.ndarray) -> dict[str, np.ndarray]:
        """Columns that ``cisreg predict`` writes after ``phi``."""
        raise NotImplementedError

    def metrics(self, model: Any, phi: np.ndarray, targets: np.ndarray, nll: float, nll_rows: np.ndarray,
                rng: np.random.Generator, uncertainty: bool) -> dict[str, Any]:
        """Per-split metrics from phi, the targets and the NLL of the split's rows."""
        raise NotImplementedError

    @property
    def unit(self) -> str:
        """What the per-split NLL is normalised by, for the report's key names."""
        raise NotImplementedError

    def figure(self, model: Any, phi: np.ndarray, targets: np.ndarray, *, label: str, n_groups: int) -> Any:
        """phi against this measurement (:func:`cisreg.plot.phi_vs_measurement` draws it)."""
        raise NotImplementedError


def _safe(m: dict[str, Any], keys: tuple[str, ...], fn: Any, *args: Any, **kw: Any) -> None:
    """Store fn(...) under keys; a metric that cannot be computed becomes NaN with a note."""
    try:
        v = fn(*args, **kw)
    except (ValueError, FloatingPointError, ZeroDivisionError) as e:
        for k in keys:
            m[k] = math.nan
        m.setdefault("notes", []).append(f"{keys[0]}: not computed ({e})")
        return
    vals = v if isinstance(v, tuple) else (v,)
    for k, x in zip(keys, vals):
        m[k] = x


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


@dataclass(frozen=True)
class SortSeq(MeasurementProcess):
    """Sort-seq read counts in fluorescence bins: MAVE-NN's measurement process
    approximation, p(y | phi) = softmax_y(a_y + sum_k b_yk tanh(c_yk phi + d_yk))."""

    bins: int
    hidden: int = 50
    kind: ClassVar[str] = "sortseq"
    prefix: ClassVar[str] = "mpa."

    @classmethod
    def parse(cls, d: dict[str, Any], source: str | None) -> SortSeq:
        _keys(d, {"type", "bins", "hidden"}, {"bins"}, source)
        return cls(_int(d["bins"], "measurement.bins", 2, 1000, source),
                   _int(d.get("hidden", 50), "measurement.hidden", 1, 10_000, source))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "sortseq", "bins": self.bins, "hidden": self.hidden}

    def add_params(self, layout: ParamLayout) -> int:
        a = layout.add("mpa.a", (self.bins,), "measurement")
        for name in ("mpa.b", "mpa.c", "mpa.d"):
            layout.add(name, (self.bins, self.hidden), "measurement")
        return a.offset

    def core(self, offset: int) -> _core.Measurement:
        return _core.Measurement("sortseq", n_bins=self.bins, hidden=self.hidden, offset=offset)

    def targets(self, data: Dataset) -> np.ndarray:
        if data.counts is None:
            raise InputError("this model has a sort-seq measurement but the data have no count columns ct_0..; "
                             "use a GE model for a continuous column y", source=data.source)
        if data.counts.shape[1] != self.bins:
            raise InputError(f"the data have {data.counts.shape[1]} count columns but the model has {self.bins} "
                             f"bins; set measurement.bins to {data.counts.shape[1]}", source=data.source)
        return data.counts

    def amounts(self, targets: np.ndarray) -> np.ndarray:
        out: np.ndarray = targets.sum(axis=1, dtype=np.float64)  # float64 also for float32 (store) counts
        return out

    @property
    def unit(self) -> str:
        return "read"

    def init(self, layout: ParamLayout, theta: np.ndarray, rng: np.random.Generator, targets: np.ndarray | None,
             t_sat: float) -> None:
        """a_y = log of the marginal bin frequencies; the hidden units arranged so that the
        mean bin increases with phi (bins are ordered by fluorescence: this puts the
        energies on the physical side of the likelihood's sign symmetry)."""
        Y, K = self.bins, self.hidden
        freq = targets.sum(axis=0) + 1.0 if targets is not None and targets.shape[1] == Y else np.ones(Y)
        layout.view(theta, "mpa.a")[...] = np.log(freq / freq.sum())
        ramp = (np.arange(Y) - (Y - 1) / 2.0) / max(Y - 1, 1)  # -0.5 .. 0.5
        layout.view(theta, "mpa.b")[...] = (4.0 * ramp[:, None] / K) + rng.normal(0, 0.01, (Y, K))
        layout.view(theta, "mpa.c")[...] = rng.uniform(1.0, 4.0, (Y, K)) / t_sat
        layout.view(theta, "mpa.d")[...] = rng.uniform(-2.0, 0.0, (Y, K))

    def score(self, targets: np.ndarray) -> np.ndarray:
        out: np.ndarray = (targets @ np.arange(targets.shape[1])) / np.maximum(targets.sum(axis=1), 1e-300)
        return out  # the mean bin

    def p_of_y_given_phi(self, model: Any, phi: np.ndarray) -> np.ndarray:
        phi = np.ascontiguousarray(phi, dtype=np.float64).ravel()
        return np.exp(_core.measurement_forward(model.compiled.core, model.theta, phi, effective_n_threads(None)))

    def yhat(self, model: Any, phi: np.ndarray) -> np.ndarray:
        p = self.p_of_y_given_phi(model, phi)
        return p @ np.arange(p.shape[1], dtype=np.float64)

    def prediction_columns(self, model: Any, phi: np.ndarray) -> dict[str, np.ndarray]:
        return {"ybar": self.yhat(model, phi)}  # the mean bin under p(y | phi)

    def metrics(self, model: Any, phi: np.ndarray, targets: np.ndarray, nll: float, nll_rows: np.ndarray,
                rng: np.random.Generator, uncertainty: bool) -> dict[str, Any]:
        from ..training import metrics as M

        reads = float(targets.sum())
        m: dict[str, Any] = {"reads": int(reads), "nll_per_read_nats": nll / reads if reads else math.nan}
        _safe(m, ("H_y_bits",), M.entropy_discrete, targets.sum(axis=0))
        _safe(m, ("I_var_bits",), M.i_var_sortseq, nll, targets)
        if reads >= 20:
            _safe(m, ("I_pred_bits", "dI_pred_bits"), M.i_pred_sortseq, phi, targets, rng=rng,
                  uncertainty=uncertainty)
        # does the mean bin increase with phi? (sign of the energies; see the design notes)
        ybar = (targets @ np.arange(targets.shape[1])) / np.maximum(targets.sum(axis=1), 1)
        m["phi_vs_mean_bin_r"] = _pearson(phi, ybar)
        return m

    def figure(self, model: Any, phi: np.ndarray, targets: np.ndarray, *, label: str, n_groups: int) -> Any:
        from ..plot import _base, curves

        fig = _base.new_figure(11.0, 4.2)
        curves.sortseq_panels(fig, model, phi, targets, n_groups)
        r = curves.pearson(phi, (targets @ np.arange(targets.shape[1])) / np.maximum(targets.sum(axis=1), 1))
        fig.suptitle(f"φ against the sort-seq bins, {label} ({len(phi):,} sequences, {int(targets.sum()):,} reads; "
                     f"Pearson r of φ with the mean bin {r:+.2f})", fontsize=10)
        return fig


@dataclass(frozen=True)
class GE(MeasurementProcess):
    """Continuous measurements: y = g(phi) + noise, g a sum of tanh units (global
    epistasis). Noise: Gaussian, Cauchy, or the Jones-Faddy skewed t (``"skewt"``, centred
    at its mode, learnable shapes a, b), of scale sigma; with ``heteroskedasticity`` h > 0,
    log sigma is a polynomial of order h in g(phi). When the data carry a measurement error
    (a ``dy`` column), the noise scale of a row is sqrt(sigma^2 + dy^2)."""

    noise: str = "gaussian"
    hidden: int = 20
    heteroskedasticity: int = 0
    kind: ClassVar[str] = "ge"
    prefix: ClassVar[str] = "ge."
    NOISES: ClassVar[tuple[str, ...]] = ("gaussian", "cauchy", "skewt")

    @classmethod
    def parse(cls, d: dict[str, Any], source: str | None) -> GE:
        _keys(d, {"type", "noise", "hidden", "heteroskedasticity"}, set(), source)
        noise = d.get("noise", "gaussian")
        if noise not in cls.NOISES:
            raise _err("measurement.noise", f"must be one of {', '.join(map(repr, cls.NOISES))}, got {noise!r}",
                       source)
        return cls(noise, _int(d.get("hidden", 20), "measurement.hidden", 1, 10_000, source),
                   _int(d.get("heteroskedasticity", 0), "measurement.heteroskedasticity", 0, 4, source))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "ge", "noise": self.noise, "hidden": self.hidden}
        if self.heteroskedasticity:
            d["heteroskedasticity"] = self.heteroskedasticity
        return d

    def add_params(self, layout: ParamLayout) -> int:
        a = layout.add("ge.a", (), "measurement")
        for name in ("ge.b", "ge.c", "ge.d"):
            layout.add(name, (self.hidden,), "measurement")
        layout.add("ge.log_sigma", (), "measurement")
        if self.heteroskedasticity:
            layout.add("ge.log_sigma_poly", (self.heteroskedasticity,), "measurement")
        if self.noise == "skewt":
            layout.add("ge.log_a", (), "measurement")
            layout.add("ge.log_b", (), "measurement")
        return a.offset

    def core(self, offset: int) -> _core.Measurement:
        return _core.Measurement("ge", n_bins=1, hidden=self.hidden, noise=self.noise, offset=offset,
                                 het=self.heteroskedasticity)

    def targets(self, data: Dataset) -> np.ndarray:
        """[N, 2]: y and its measurement error dy (0 where the data have none)."""
        if data.y is None:
            raise InputError("this model has a GE measurement but the data have no column y", source=data.source)
        dy = getattr(data, "dy", None)
        out = np.zeros((data.n, 2))
        out[:, 0] = data.y
        if dy is not None:
            out[:, 1] = dy
        return out

    def amounts(self, targets: np.ndarray) -> np.ndarray:
        return np.ones(targets.shape[0])

    @property
    def unit(self) -> str:
        return "datum"

    def init(self, layout: ParamLayout, theta: np.ndarray, rng: np.random.Generator, targets: np.ndarray | None,
             t_sat: float) -> None:
        """g(phi) starts increasing, matched to the mean and spread of y."""
        K = self.hidden
        y = targets[:, 0] if targets is not None else None
        mu = float(np.mean(y)) if y is not None and len(y) else 0.0
        sd = float(np.std(y)) if y is not None and len(y) > 1 else 1.0
        sd = sd if sd > 0 else 1.0
        layout.view(theta, "ge.a")[...] = mu
        layout.view(theta, "ge.b")[...] = sd * rng.uniform(0.5, 1.5, K) / K
        layout.view(theta, "ge.c")[...] = rng.uniform(1.0, 4.0, K) / t_sat
        layout.view(theta, "ge.d")[...] = rng.uniform(-2.0, 0.0, K)
        layout.view(theta, "ge.log_sigma")[...] = np.log(sd)
        if self.noise == "skewt":  # symmetric to start with
            layout.view(theta, "ge.log_a")[...] = np.log(2.0)
            layout.view(theta, "ge.log_b")[...] = np.log(2.0)

    def yhat(self, model: Any, phi: np.ndarray) -> np.ndarray:
        phi = np.ascontiguousarray(phi, dtype=np.float64).ravel()
        nt = effective_n_threads(None)
        out: np.ndarray = _core.measurement_forward(model.compiled.core, model.theta, phi, nt)[:, 0]
        return out

    def score(self, targets: np.ndarray) -> np.ndarray:
        out: np.ndarray = targets[:, 0]
        return out

    def prediction_columns(self, model: Any, phi: np.ndarray) -> dict[str, np.ndarray]:
        return {"yhat": self.yhat(model, phi)}

    def metrics(self, model: Any, phi: np.ndarray, targets: np.ndarray, nll: float, nll_rows: np.ndarray,
                rng: np.random.Generator, uncertainty: bool) -> dict[str, Any]:
        from ..training import metrics as M

        y = targets[:, 0]
        n = len(y)
        m: dict[str, Any] = {"nll_per_datum_nats": nll / n if n else math.nan}
        _safe(m, ("R2", "pearson_r"), M.r2_pearson, self.yhat(model, phi), y)
        if n >= 20:
            _safe(m, ("I_pred_bits", "dI_pred_bits"), M.i_pred_continuous, phi, y, rng=rng, uncertainty=uncertainty)
            _safe(m, ("I_var_bits", "dI_var_bits"), M.i_var_continuous, y, nll_rows, rng=rng,
                  uncertainty=uncertainty)
            if len(np.unique(y)) < 0.1 * n:
                m.setdefault("notes", []).append("y takes few distinct values: the kNN entropy behind I_var and "
                                                 "I_pred assumes a continuous y and is unreliable here")
        return m

    def figure(self, model: Any, phi: np.ndarray, targets: np.ndarray, *, label: str, n_groups: int) -> Any:
        from ..plot import _base, curves

        y = targets[:, 0]
        r2 = curves.r2(self.yhat(model, phi), y)
        fig = _base.new_figure(6.5, 4.6)
        curves.continuous_panel(fig, model, phi, y, "y (measurement)", "model: g(φ)", n_groups,
                                f"y against φ, {label}; R² of g(φ) = {r2:.3f}")
        return fig


def _column_names(v: Any, key: str, source: str | None) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not v or not all(isinstance(c, str) and c for c in v):
        raise _err(key, f"must be a column name or a non-empty list of column names, got {v!r}", source)
    if len(set(v)) != len(v):
        raise _err(key, "lists a column twice", source)
    return tuple(v)


def data_columns(data: Dataset, names: tuple[str, ...], what: str) -> np.ndarray:
    """The named columns of a Dataset as one float array [N, len(names)]."""
    get = getattr(data, "columns", None)
    if get is None:
        raise InputError(f"{what}: this Dataset holds no extra columns; read the table with cisreg.read_table",
                         source=data.source)
    out: np.ndarray = np.ascontiguousarray(get(list(names)), dtype=np.float64)
    return out


def negbin_nll(y: Any, mu: Any, rd: Any) -> np.ndarray:
    """-log NB(y; mean mu, variance mu + mu^2 / rd), elementwise, in the form the kernels
    use: free of the cancellation of lgamma(y + rd) against lgamma(rd) when rd is large
    (near-Poisson data). With D = lgamma(y + rd) - lgamma(rd) - y log rd (from Stirling's
    series for rd >= 10), nll = lgamma(y + 1) - D + (y + rd) log1p(mu / rd) - y log mu."""
    from scipy.special import gammaln, xlogy

    y, mu, rd = np.broadcast_arrays(np.asarray(y, float), np.asarray(mu, float), np.asarray(rd, float))
    large = rd >= 10.0
    r = np.where(large, rd, 10.0)  # keeps the unused branch finite
    yr = y + r
    d_large = (yr - 0.5) * np.log1p(y / r) - y + (_lgamma_tail(yr) - _lgamma_tail(r))
    d_small = gammaln(y + rd) - gammaln(rd) - xlogy(y, rd)
    D = np.where(large, d_large, d_small)
    out: np.ndarray = gammaln(y + 1) - D + (y + rd) * np.log1p(mu / rd) - xlogy(y, mu)
    return out


def _lgamma_tail(z: np.ndarray) -> np.ndarray:
    """Stirling's series 1/(12z) - 1/(360z^3) + ... of log Gamma beyond its leading terms (z >= 10)."""
    iz = 1.0 / z
    iz2 = iz * iz
    c = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360)
    ser = np.full_like(z, c[-1])
    for a in c[-2::-1]:
        ser = ser * iz2 + a
    out: np.ndarray = ser * iz
    return out


@dataclass(frozen=True)
class Counts(MeasurementProcess):
    """MPRA barcode / enrichment counts. For replicate r, with input (DNA, plasmid, unselected)
    counts in column input[r] and output (RNA, selected) counts in output[r]:

        output_r ~ Poisson or NB(mean (input_r + pseudocount) exp(c_r) g(phi)),

    c_r a learnable per-replicate depth, g a learnable increasing function (``"loglinear"``:
    g = exp(e^beta phi); ``"sigmoid"``: a positive baseline plus ``hidden`` increasing
    sigmoids), NB dispersion learned per replicate. g is increasing, so phi rises with
    expression: the sign of the energies is identified."""

    input: tuple[str, ...]
    output: tuple[str, ...]
    noise: str = "poisson"
    link: str = "loglinear"
    hidden: int = 5
    pseudocount: float = 0.5
    kind: ClassVar[str] = "counts"
    prefix: ClassVar[str] = "counts."
    NOISES: ClassVar[tuple[str, ...]] = ("poisson", "negbin")
    LINKS: ClassVar[tuple[str, ...]] = ("loglinear", "sigmoid")

    @classmethod
    def parse(cls, d: dict[str, Any], source: str | None) -> Counts:
        _keys(d, {"type", "input", "output", *cls.OPTIONS}, {"input", "output"}, source)
        inp = _column_names(d["input"], "measurement.input", source)
        out = _column_names(d["output"], "measurement.output", source)
        if len(inp) != len(out):
            raise _err("measurement.output", f"names {len(out)} column(s) but input names {len(inp)}: one input "
                                             "and one output column per replicate", source)
        if set(inp) & set(out):
            raise _err("measurement.output", "a column cannot be both input and output", source)
        return cls(inp, out, *cls._options(d, source))

    #: Keys of the noise model and the link, shared with :class:`Rounds`.
    OPTIONS: ClassVar[tuple[str, ...]] = ("noise", "link", "hidden", "pseudocount")

    @classmethod
    def _options(cls, d: dict[str, Any], source: str | None) -> tuple[str, str, int, float]:
        noise = d.get("noise", "poisson")
        if noise not in cls.NOISES:
            raise _err("measurement.noise", f"must be one of {', '.join(map(repr, cls.NOISES))}, got {noise!r}",
                       source)
        link = d.get("link", "loglinear")
        if link not in cls.LINKS:
            raise _err("measurement.link", f"must be one of {', '.join(map(repr, cls.LINKS))}, got {link!r}", source)
        pc = d.get("pseudocount", 0.5)
        if isinstance(pc, bool) or not isinstance(pc, (int, float)) or not (0 <= pc < 1e6):
            raise _err("measurement.pseudocount", f"must be a number >= 0, got {pc!r}", source)
        return noise, link, _int(d.get("hidden", 5), "measurement.hidden", 1, 10_000, source), float(pc)

    def _option_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"noise": self.noise, "link": self.link, "pseudocount": self.pseudocount}
        if self.link == "sigmoid":
            d["hidden"] = self.hidden
        return d

    def to_dict(self) -> dict[str, Any]:
        return {"type": "counts", "input": list(self.input), "output": list(self.output), **self._option_dict()}

    @property
    def replicates(self) -> int:
        return len(self.input)

    def add_params(self, layout: ParamLayout) -> int:
        R, K = self.replicates, self.hidden
        a = layout.add(self.prefix + "log_depth", (R,), "measurement")
        if self.noise == "negbin":
            layout.add(self.prefix + "log_dispersion", (R,), "measurement")
        if self.link == "loglinear":
            layout.add(self.prefix + "log_slope", (), "measurement")
        else:
            layout.add(self.prefix + "log_base", (), "measurement")
            layout.add(self.prefix + "log_w", (K,), "measurement")
            layout.add(self.prefix + "log_c", (K,), "measurement")
            layout.add(self.prefix + "d", (K,), "measurement")
        return a.offset

    def core(self, offset: int) -> _core.Measurement:
        return _core.Measurement("counts", n_bins=1, hidden=self.hidden if self.link == "sigmoid" else 1,
                                 noise=self.noise, offset=offset, replicates=self.replicates, link=self.link,
                                 pseudocount=self.pseudocount)

    def targets(self, data: Dataset) -> np.ndarray:
        """[N, 2R]: the input counts of the replicates, then their output counts."""
        t = data_columns(data, self.input + self.output, "a counts measurement")
        bad = np.flatnonzero(~np.isfinite(t).all(axis=1) | (t < 0).any(axis=1) | (t != np.floor(t)).any(axis=1))
        if bad.size:
            r = int(bad[0])
            c = int(np.flatnonzero(~np.isfinite(t[r]) | (t[r] < 0) | (t[r] != np.floor(t[r])))[0])
            raise InputError(f"the count {t[r, c]!r} is not a non-negative whole number", source=data.source, row=r,
                             column=(self.input + self.output)[c])
        if self.pseudocount == 0:
            zero = np.flatnonzero((t[:, : self.replicates] == 0).any(axis=1))
            if zero.size:
                r = int(zero[0])
                c = int(np.flatnonzero(t[r, : self.replicates] == 0)[0])
                raise InputError("the input count is 0 and the measurement has no pseudocount, so the expected "
                                 "output would be 0; set measurement.pseudocount > 0 or drop such rows",
                                 source=data.source, row=r, column=self.input[c])
        return t

    def amounts(self, targets: np.ndarray) -> np.ndarray:
        out: np.ndarray = targets[:, self.replicates :].sum(axis=1)  # output reads
        return out

    @property
    def unit(self) -> str:
        return "read"

    def init(self, layout: ParamLayout, theta: np.ndarray, rng: np.random.Generator, targets: np.ndarray | None,
             t_sat: float) -> None:
        """Depths from the read totals of each replicate; g starts near 1 and increasing."""
        R, K = self.replicates, self.hidden
        if targets is not None and len(targets):
            tot_in = targets[:, :R].sum(axis=0) + self.pseudocount * len(targets)
            tot_out = targets[:, R:].sum(axis=0)
            depth = np.log((tot_out + 0.5) / tot_in)
        else:
            depth = np.zeros(R)
        layout.view(theta, self.prefix + "log_depth")[...] = depth - 0.5
        if self.noise == "negbin":
            # start near Poisson: a large starting dispersion lets the noise absorb the
            # signal early and the fit settles on a wrong mechanism (tests/test_counts_fit.py)
            layout.view(theta, self.prefix + "log_dispersion")[...] = np.log(0.01)
        if self.link == "loglinear":
            layout.view(theta, self.prefix + "log_slope")[...] = np.log(1.0 / t_sat)
        else:
            layout.view(theta, self.prefix + "log_base")[...] = np.log(0.2)
            layout.view(theta, self.prefix + "log_w")[...] = np.log(rng.uniform(0.5, 1.5, K) / K)
            layout.view(theta, self.prefix + "log_c")[...] = np.log(rng.uniform(1.0, 4.0, K) / t_sat)
            layout.view(theta, self.prefix + "d")[...] = rng.uniform(-2.0, 0.0, K)

    def score(self, targets: np.ndarray) -> np.ndarray:
        R = self.replicates
        out: np.ndarray = np.log((targets[:, R:].sum(axis=1) + 0.5) / (targets[:, :R].sum(axis=1) + 0.5))
        return out

    def yhat(self, model: Any, phi: np.ndarray) -> np.ndarray:
        phi = np.ascontiguousarray(phi, dtype=np.float64).ravel()
        nt = effective_n_threads(None)
        out: np.ndarray = _core.measurement_forward(model.compiled.core, model.theta, phi, nt)[:, 0]
        return out

    def prediction_columns(self, model: Any, phi: np.ndarray) -> dict[str, np.ndarray]:
        return {"yhat": self.yhat(model, phi)}  # log expected output per input read, mean depth

    def observed_log_ratio(self, model: Any, targets: np.ndarray) -> np.ndarray:
        """log of the output reads per depth-weighted input read, on yhat's scale."""
        R = self.replicates
        depth = model.layout.view(model.theta, self.prefix + "log_depth")
        w = np.exp(depth - depth.mean())
        out: np.ndarray = np.log((targets[:, R:].sum(axis=1) + 0.5) /
                                 ((targets[:, :R] + self.pseudocount) * w[None, :]).sum(axis=1))
        return out

    def null_nll(self, model: Any, targets: np.ndarray) -> float:
        """NLL of the same model with g constant (its best value on these rows): the baseline of I_var."""
        from scipy.special import gammaln, xlogy

        R = self.replicates
        inp, out = targets[:, :R] + self.pseudocount, targets[:, R:]
        depth = model.layout.view(model.theta, self.prefix + "log_depth")
        base = inp * np.exp(depth)[None, :]
        mu = base * (out.sum() / max(base.sum(), 1e-300))
        if self.noise == "poisson":
            return float((mu - xlogy(out, mu) + gammaln(out + 1)).sum())
        rd = np.exp(-model.layout.view(model.theta, self.prefix + "log_dispersion"))
        return float(negbin_nll(out, mu, rd[None, :]).sum())

    def metrics(self, model: Any, phi: np.ndarray, targets: np.ndarray, nll: float, nll_rows: np.ndarray,
                rng: np.random.Generator, uncertainty: bool) -> dict[str, Any]:
        from ..training import metrics as M

        reads = float(targets[:, self.replicates :].sum())
        m: dict[str, Any] = {"reads": int(reads), "nll_per_read_nats": nll / reads if reads else math.nan}
        if reads > 0:
            # information per output read gained over a sequence-blind g (the same noise model)
            m["I_var_bits"] = (self.null_nll(model, targets) - nll) / (reads * math.log(2.0))
        obs = self.observed_log_ratio(model, targets)
        _safe(m, ("R2", "pearson_r"), M.r2_pearson, self.yhat(model, phi), obs)
        if len(phi) >= 20:
            _safe(m, ("I_pred_bits", "dI_pred_bits"), M.i_pred_continuous, phi, obs, rng=rng, uncertainty=uncertainty)
        m["phi_vs_log_ratio_r"] = _pearson(phi, obs)
        return m

    #: What the observed ratio of the figure is, in words.
    RATIO: ClassVar[str] = "log(output / depth-weighted input reads)"

    def figure(self, model: Any, phi: np.ndarray, targets: np.ndarray, *, label: str, n_groups: int) -> Any:
        from ..plot import _base, curves

        obs = self.observed_log_ratio(model, targets)
        r2 = curves.r2(self.yhat(model, phi), obs)
        fig = _base.new_figure(6.5, 4.6)
        curves.continuous_panel(fig, model, phi, obs, self.RATIO,
                                "model: yhat(φ), log expected output per input read", n_groups,
                                f"observed log ratio against φ, {label}; R² = {r2:.3f}")
        return fig


@dataclass(frozen=True)
class Rounds(Counts):
    """Selection rounds (SELEX, phage or yeast display, growth selections): the read counts
    of each variant in rounds 0..R, in the order of ``columns``. Round r given round r-1:

        c_r ~ Poisson or NB(mean (c_{r-1} + pseudocount) exp(depth_r) g(phi)),

    a learnable depth per round and one increasing g for every round (the same selection
    each time: a variant enriched g(phi) per round is enriched g^r after r rounds), NB
    dispersion learned per round. This is the likelihood of :class:`Counts` with round r-1
    as the input of round r, so the kernels are the counts stage's; the parameters are
    named ``rounds.*`` and the model file lists the rounds once::

        {"type": "rounds", "columns": ["round0", "round1", "round2"], "noise": "negbin"}
    """

    kind: ClassVar[str] = "rounds"
    prefix: ClassVar[str] = "rounds."
    RATIO: ClassVar[str] = "log(reads of rounds 1..R / depth-weighted reads of the round before)"

    @classmethod
    def parse(cls, d: dict[str, Any], source: str | None) -> Rounds:
        _keys(d, {"type", "columns", *cls.OPTIONS}, {"columns"}, source)
        cols = _column_names(d["columns"], "measurement.columns", source)
        if len(cols) < 2:
            raise _err("measurement.columns", "names one column; list the count columns of round 0 (the library "
                                              "before selection) and of at least one later round, in order", source)
        return cls(cols[:-1], cols[1:], *cls._options(d, source))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "rounds", "columns": list(self.columns), **self._option_dict()}

    @property
    def columns(self) -> tuple[str, ...]:
        """The count columns of rounds 0..R."""
        return self.input + self.output[-1:]

    def draw(self, model: Any, phi: np.ndarray, c0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Counts of rounds 1..R [N, R] drawn from this likelihood, given phi and round 0's counts."""
        lay, th = model.layout, model.theta
        depth = np.asarray(lay.view(th, self.prefix + "log_depth"), dtype=np.float64)
        log_g = self.yhat(model, phi) - depth.mean()  # yhat: log g plus the mean depth
        rd = (np.exp(-np.asarray(lay.view(th, self.prefix + "log_dispersion"), dtype=np.float64))
              if self.noise == "negbin" else None)
        prev = np.asarray(c0, dtype=np.float64)
        out = np.empty((len(prev), self.replicates))
        for r in range(self.replicates):
            mu = (prev + self.pseudocount) * np.exp(depth[r] + log_g)
            if rd is not None:
                mu = rng.gamma(shape=rd[r], scale=mu / rd[r])
            out[:, r] = prev = rng.poisson(mu).astype(np.float64)
        return out


#: Measurement processes by model-file ``"type"``.
MEASUREMENTS: dict[str, type[MeasurementProcess]] = {c.kind: c for c in (SortSeq, GE, Counts, Rounds)}


def parse_measurement(m: Any, source: str | None) -> MeasurementProcess:
    """A measurement process from the ``"measurement"`` object of a model file."""
    names = [repr(k) for k in MEASUREMENTS]
    kinds = ", ".join(names[:-1]) + " or " + names[-1]
    if not isinstance(m, dict) or "type" not in m:
        raise _err("measurement", f"must be an object with a 'type': {kinds}", source)
    cls = MEASUREMENTS.get(m["type"]) if isinstance(m["type"], str) else None
    if cls is None:
        raise _err("measurement.type", f"must be {kinds}, got {m['type']!r}", source)
    return cls.parse(m, source)
