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
from ..errors import InputError, ModelFileError
from .params import ParamLayout

if TYPE_CHECKING:
    from ..data.dataset import Dataset

__all__ = ["GE", "MEASUREMENTS", "MeasurementProcess", "SortSeq", "parse_measurement"]


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
        out: np.ndarray = targets.sum(axis=1)
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
        return np.exp(_core.measurement_forward(model.compiled.core, model.theta, phi))

    def yhat(self, model: Any, phi: np.ndarray) -> np.ndarray:
        p = self.p_of_y_given_phi(model, phi)
        return p @ np.arange(p.shape[1], dtype=np.float64)

    def prediction_columns(self, model: Any, phi: np.ndarray) -> dict[str, np.ndarray]:
        return {"ybar": self.yhat(model, phi)}  # the mean bin under p(y | phi)

    def metrics(self, model: Any, phi: np.ndarray, targets: np.ndarray, nll: float, nll_rows: np.ndarray,
                rng: np.random.Generator, uncertainty: bool) -> dict[str, Any]:
        from ..fit import metrics as M

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


@dataclass(frozen=True)
class GE(MeasurementProcess):
    """Continuous measurements: y = g(phi) + noise, g a sum of tanh units (global
    epistasis), Gaussian or Cauchy noise of learnable scale."""

    noise: str = "gaussian"
    hidden: int = 20
    kind: ClassVar[str] = "ge"
    prefix: ClassVar[str] = "ge."
    NOISES: ClassVar[tuple[str, ...]] = ("gaussian", "cauchy")

    @classmethod
    def parse(cls, d: dict[str, Any], source: str | None) -> GE:
        _keys(d, {"type", "noise", "hidden"}, set(), source)
        noise = d.get("noise", "gaussian")
        if noise not in cls.NOISES:
            raise _err("measurement.noise", f"must be one of {', '.join(map(repr, cls.NOISES))}, got {noise!r}",
                       source)
        return cls(noise, _int(d.get("hidden", 20), "measurement.hidden", 1, 10_000, source))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "ge", "noise": self.noise, "hidden": self.hidden}

    def add_params(self, layout: ParamLayout) -> int:
        a = layout.add("ge.a", (), "measurement")
        for name in ("ge.b", "ge.c", "ge.d"):
            layout.add(name, (self.hidden,), "measurement")
        layout.add("ge.log_sigma", (), "measurement")
        return a.offset

    def core(self, offset: int) -> _core.Measurement:
        return _core.Measurement("ge", n_bins=1, hidden=self.hidden, noise=self.noise, offset=offset)

    def targets(self, data: Dataset) -> np.ndarray:
        if data.y is None:
            raise InputError("this model has a GE measurement but the data have no column y", source=data.source)
        return data.y.reshape(-1, 1)

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

    def yhat(self, model: Any, phi: np.ndarray) -> np.ndarray:
        phi = np.ascontiguousarray(phi, dtype=np.float64).ravel()
        out: np.ndarray = _core.measurement_forward(model.compiled.core, model.theta, phi)[:, 0]
        return out

    def score(self, targets: np.ndarray) -> np.ndarray:
        out: np.ndarray = targets[:, 0]
        return out

    def prediction_columns(self, model: Any, phi: np.ndarray) -> dict[str, np.ndarray]:
        return {"yhat": self.yhat(model, phi)}

    def metrics(self, model: Any, phi: np.ndarray, targets: np.ndarray, nll: float, nll_rows: np.ndarray,
                rng: np.random.Generator, uncertainty: bool) -> dict[str, Any]:
        from ..fit import metrics as M

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


#: Measurement processes by model-file ``"type"``.
MEASUREMENTS: dict[str, type[MeasurementProcess]] = {c.kind: c for c in (SortSeq, GE)}


def parse_measurement(m: Any, source: str | None) -> MeasurementProcess:
    """A measurement process from the ``"measurement"`` object of a model file."""
    kinds = " or ".join(repr(k) for k in MEASUREMENTS)
    if not isinstance(m, dict) or "type" not in m:
        raise _err("measurement", f"must be an object with a 'type': {kinds}", source)
    cls = MEASUREMENTS.get(m["type"]) if isinstance(m["type"], str) else None
    if cls is None:
        raise _err("measurement.type", f"must be {kinds}, got {m['type']!r}", source)
    return cls.parse(m, source)
