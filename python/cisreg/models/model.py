"""The :class:`Model`: a compiled model specification plus its parameters."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from .._threads import effective_n_threads
from ..data.encode import encode
from ..errors import InputError
from .compile import Compiled, compile_spec, initial_theta
from .params import ParamLayout
from .spec import ModelSpec

__all__ = ["DTYPES", "R_KCAL", "Model", "batch_rows", "check_dtype", "kT_in_kcal"]

#: Gas constant in kcal / (mol K).
R_KCAL = 1.987204259e-3

#: Compute precisions of the kernels (gradients always accumulate in float64).
DTYPES = ("float64", "float32")


def kT_in_kcal(temperature_c: float = 37.0) -> float:
    """1 kT in kcal/mol at ``temperature_c`` degrees Celsius."""
    return R_KCAL * (temperature_c + 273.15)


def check_dtype(dtype: Any) -> str:
    """The name of a compute precision: ``"float64"`` or ``"float32"`` (numpy dtypes accepted)."""
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in DTYPES:
        raise InputError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    return name


class Model:
    """A biophysical model of cis-regulation with its parameters.

    Every method that runs the kernels takes ``n_threads`` (default: all cores) and
    ``dtype`` (the compute precision, ``"float64"`` by default; ``"float32"`` is about
    twice as fast and accumulates gradients in float64 too).

    Parameters
    ----------
    spec:
        The model specification: a :class:`ModelSpec`, a model-file dict, a built-in name
        (``"lac"``) or the path of a JSON/TOML model file.
    theta:
        The flat parameter vector; if omitted, a random start from ``seed``.
    seed:
        Seed of the random initialisation (ignored when ``theta`` is given).
    """

    def __init__(self, spec: ModelSpec | dict[str, Any] | str | Path, theta: np.ndarray | None = None, *,
                 seed: int = 0) -> None:
        from .presets import resolve_spec

        self.spec: ModelSpec = resolve_spec(spec)
        if self.spec.length_from_data:
            raise InputError("this model file says \"length\": \"auto\" (the length of the data); fit it to data, "
                             "or give the length: spec.with_length(L)")
        self.compiled: Compiled = compile_spec(self.spec)
        if theta is None:
            theta = initial_theta(self.compiled, np.random.default_rng(seed))
        try:
            theta = np.array(theta, dtype=np.float64, copy=True, order="C")
        except (TypeError, ValueError):
            raise InputError(f"theta must be an array of {self.compiled.layout.size} numbers, got "
                             f"{type(theta).__name__}") from None
        if theta.shape != (self.layout.size,):
            raise InputError(f"theta has shape {theta.shape}, expected ({self.layout.size},) for this model")
        if not np.all(np.isfinite(theta)):
            bad = int(np.flatnonzero(~np.isfinite(theta))[0])
            raise InputError(f"theta[{bad}] is not finite")
        self.theta: np.ndarray = theta
        self.metadata: dict[str, Any] = {}

    # ------------------------------------------------------------------ structure
    @property
    def layout(self) -> ParamLayout:
        return self.compiled.layout

    @property
    def core(self) -> _core.Model:
        """The compiled core model the kernels run."""
        return self.compiled.core

    @property
    def alphabet(self) -> str:
        return self.spec.alphabet

    @property
    def state_names(self) -> tuple[str, ...]:
        return self.compiled.state_names

    def codes(self, x: Any) -> np.ndarray:
        """uint8 codes [N, L] of sequences (strings, or codes passed through)."""
        if isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 2:
            codes = x  # used as is: a non-contiguous array is refused by the core, never copied
        else:
            codes = encode(x, self.alphabet)
        if codes.shape[1] != self.spec.length:
            raise InputError(f"sequences have length {codes.shape[1]}, but the model expects {self.spec.length}")
        return codes

    # ------------------------------------------------------------------ forward
    def x_to_phi(self, x: Any, *, n_threads: int | None = None, dtype: str = "float64") -> np.ndarray:
        """Activity phi of each sequence (strings or uint8 codes [N, L])."""
        out: np.ndarray = _core.phi(self.core, self.codes(x), self.theta, None, effective_n_threads(n_threads),
                                    dtype=check_dtype(dtype))
        return out

    def x_to_details(self, x: Any, *, n_threads: int | None = None, dtype: str = "float64") -> dict[str, Any]:
        """phi, site energies (kT), state probabilities and log Z, as DataFrames; for
        models with sliding sites also the occupancy of every placement."""
        codes = self.codes(x)
        sliding = self.core.n_resid > 0
        out = _core.phi(self.core, codes, self.theta, None, effective_n_threads(n_threads), True,
                        placements=sliding, dtype=check_dtype(dtype))
        phi, dG, logp, logZ = out[:4]
        res: dict[str, Any] = {
            "phi": phi,
            "dG": pd.DataFrame(dG, columns=[s.name for s in self.spec.sites]),
            "state_probs": pd.DataFrame(np.exp(logp), columns=list(self.state_names)),
            "logZ": None if self.compiled.info.get("solver") == "linear" else logZ,
        }
        if sliding:
            res["placements"] = pd.DataFrame(out[4], columns=self.placement_names())
        return res

    def placement_names(self) -> list[str]:
        """Column names of the placement occupancies of sliding sites (``site:+p`` forward,
        ``site:-p`` reverse strand, p the first sequence position of the placement)."""
        from .sites import placement_names

        return placement_names(self.spec)

    def phi_to_yhat(self, phi: np.ndarray) -> np.ndarray:
        """The measurement process's prediction: g(phi) for GE models, the mean bin under
        p(y | phi) for sort-seq models."""
        return self.spec.measurement.yhat(self, phi)

    def p_of_y_given_phi(self, phi: np.ndarray) -> np.ndarray:
        """Sort-seq models: p(y | phi) for each phi, shape [len(phi), bins]."""
        fn = getattr(self.spec.measurement, "p_of_y_given_phi", None)
        if fn is None:
            raise InputError("p_of_y_given_phi needs a sort-seq measurement process")
        out: np.ndarray = fn(self, phi)
        return out

    def x_to_yhat(self, x: Any, *, n_threads: int | None = None) -> np.ndarray:
        return self.phi_to_yhat(self.x_to_phi(x, n_threads=n_threads))

    def targets_of(self, dataset: Any) -> np.ndarray:
        """The target array the measurement process needs from a Dataset."""
        return self.spec.measurement.targets(dataset)

    def loss(self, codes: np.ndarray, targets: np.ndarray, rows: np.ndarray | None = None, *,
             n_threads: int | None = None, grad: bool = False, per_row: bool = False,
             weights: np.ndarray | None = None, dtype: str = "float64", grad_out: np.ndarray | None = None) -> Any:
        """Summed negative log-likelihood (nats) of the selected rows; with ``grad`` also
        its gradient, with ``per_row`` the per-row NLL (``(loss, grad)``, ``(loss,
        per_row)`` or ``(loss, grad, per_row)``). ``weights`` [N] weight each row's NLL."""
        out = _core.loss_and_grad(self.core, codes, targets, self.theta, rows, effective_n_threads(n_threads), grad,
                                  grad_out, per_row, weights=weights, dtype=check_dtype(dtype))
        if per_row:
            return out if grad else (out[0], out[2])
        return out if grad else out[0]

    def phi_vjp(self, codes: np.ndarray, cotangent: np.ndarray, rows: np.ndarray | None = None, *,
                n_threads: int | None = None, dtype: str = "float64") -> np.ndarray:
        """sum_i cotangent[i] d phi_i / d theta: the gradient of any function of phi."""
        out: np.ndarray = _core.phi_vjp(self.core, codes, self.theta, np.ascontiguousarray(cotangent, np.float64),
                                        rows, effective_n_threads(n_threads), dtype=check_dtype(dtype))
        return out

    # ------------------------------------------------------------------ parameters
    def get_theta(self, *, gauge: str = "uniform", x_wt: str | None = None, x_library: Any = None,
                  units: str = "kT", temperature_c: float = 37.0) -> dict[str, Any]:
        """Physical parameters in a declared gauge.

        Parameters
        ----------
        gauge:
            ``"uniform"``: each energy-matrix row (and each pair matrix's rows and columns)
            has zero mean, the offset absorbs the means (default); ``"wt"``: energies
            relative to the reference sequence ``x_wt`` (its letters cost 0, so the offset is
            the reference's binding energy); ``"empirical"``: zero mean weighted by the letter
            frequencies of the library ``x_library`` (sequences or codes); ``"none"``: as
            stored. The likelihood does not depend on the gauge. Sliding sites have no single
            window: for them "wt" and "empirical" are the uniform gauge.
        units:
            ``"kT"`` or ``"kcal/mol"`` (at ``temperature_c``).
        """
        from .compile import letter_frequencies
        from .sites import site_parameters

        if units not in ("kT", "kcal/mol"):
            raise InputError(f"units must be 'kT' or 'kcal/mol', got {units!r}")
        scale = kT_in_kcal(temperature_c) if units == "kcal/mol" else 1.0
        lay, th = self.layout, self.theta
        wt_codes = freq = None
        if gauge == "wt":
            if x_wt is None:
                raise InputError("gauge='wt' needs x_wt, the reference sequence")
            wt_codes = self.codes([x_wt])[0]
        elif gauge == "empirical":
            if x_library is None:
                raise InputError("gauge='empirical' needs x_library, the library's sequences (or codes)")
            freq = letter_frequencies(self.codes(x_library), len(self.alphabet))
        elif gauge not in ("uniform", "none"):
            raise InputError(f"gauge must be 'uniform', 'wt', 'empirical' or 'none', got {gauge!r}")
        sp = site_parameters(self.spec, lay, th, gauge=gauge, wt=wt_codes, freq=freq, scale=scale,
                             alphabet=self.alphabet)
        scalars = {b.name: float(lay.view(th, b.name)) * scale for b in lay if b.kind == "interaction"}
        rates = {b.name.removeprefix("kappa."): float(lay.view(th, b.name)) for b in lay if b.kind == "rate"}
        acts = {b.name.removeprefix("act."): float(lay.view(th, b.name)) for b in lay if b.kind == "activity"}
        return {"units": units, "temperature_c": temperature_c, "gauge": gauge, **sp, "interactions": scalars,
                "log_rates": rates, "activities": acts, "t_sat": float(lay.view(th, "t_sat"))}

    def set_theta(self, *, energies: dict[str, Any] | None = None, offsets: dict[str, float] | None = None,
                  interactions: dict[str, float] | None = None, log_rates: dict[str, float] | None = None,
                  activities: dict[str, float] | None = None, pair_energies: dict[str, Any] | None = None,
                  biases: dict[str, Any] | None = None, units: str = "kT", temperature_c: float = 37.0) -> Model:
        """Set physical parameters by name (the inverse of :meth:`get_theta` with
        ``gauge="none"``); returns the model.

        ``energies`` maps a site to a [width, alphabet] array or DataFrame; ``offsets``
        a site to its offset; ``interactions`` a name to an interaction energy;
        ``log_rates`` a kinetic rate name to its log-rate constant (natural log, not
        converted by ``units``); ``activities`` a learnable activity name to its value;
        ``pair_energies`` a neighbor / pairwise site to its pair energies [pairs, A, A] (in
        the order of :meth:`cisreg.models.spec.Site.pairs`); ``biases`` a sliding site to its
        placement biases [strands, placements].
        """
        if units not in ("kT", "kcal/mol"):
            raise InputError(f"units must be 'kT' or 'kcal/mol', got {units!r}")
        scale = 1.0 / kT_in_kcal(temperature_c) if units == "kcal/mol" else 1.0
        lay, th = self.layout, self.theta

        kinds = {"site": ("energy", "offset", "pair", "bias"), "interaction": ("interaction",), "rate": ("rate",),
                 "activity": ("activity",)}

        def put(block: str, value: Any, what: str, factor: float) -> None:
            if block not in lay or lay[block].kind not in kinds[what]:
                known = sorted(b.name.split(".", 1)[-1] for b in lay if b.name.startswith(block.split(".")[0] + ".")
                               ) if "." in block else sorted(b.name for b in lay if b.kind == "interaction")
                raise InputError(f"this model has no {what} {block.split('.', 1)[-1]!r}; known: {known}")
            v = np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, dtype=np.float64)
            view = lay.view(th, block)
            if v.shape != view.shape:
                raise InputError(f"{what} {block}: shape {v.shape}, expected {view.shape}")
            if not np.all(np.isfinite(v)):
                raise InputError(f"{what} {block}: values must be finite")
            view[...] = v * factor

        for k, v in (energies or {}).items():
            put(f"E.{k}", v, "site", scale)
        for k, v in (offsets or {}).items():
            put(f"eps.{k}", v, "site", scale)
        for k, v in (pair_energies or {}).items():
            put(f"P.{k}", v["values"] if isinstance(v, dict) else v, "site", scale)
        for k, v in (biases or {}).items():
            put(f"bias.{k}", v, "site", scale)
        for k, v in (interactions or {}).items():
            put(k, v, "interaction", scale)
        for k, v in (log_rates or {}).items():
            put(f"kappa.{k}", v, "rate", 1.0)
        for k, v in (activities or {}).items():
            put(f"act.{k}", v, "activity", 1.0)
        return self

    def measurement_params(self) -> dict[str, np.ndarray]:
        lay = self.layout
        return {b.name: lay.view(self.theta, b.name).copy() for b in lay if b.kind == "measurement"}

    def save(self, directory: str | Path, *, metadata: dict[str, Any] | None = None) -> Path:
        """Write model.json + params.npz into ``directory`` (atomically)."""
        from .io import save_model

        return save_model(self, directory, metadata=metadata if metadata is not None else self.metadata)

    # ------------------------------------------------------------------ figures (the "plot" extra)
    # Thin wrappers of cisreg.plot, imported on first use: matplotlib stays out of `import cisreg`.
    # Each returns a matplotlib Figure and writes it to ``path`` (.png, .svg, .pdf) when given.
    def plot_logos(self, path: str | Path | None = None, **kw: Any) -> Any:
        """Energy logo of every site (:func:`cisreg.plot.logos`: ``gauge``, ``x_wt``, ``units``, ``sites``...)."""
        from ..plot import logos

        return logos(self, path=path, **kw)

    def plot_pairs(self, site: str, path: str | Path | None = None, **kw: Any) -> Any:
        """Pair energies of a neighbour / pairwise site as a heatmap (:func:`cisreg.plot.pair_heatmap`)."""
        from ..plot import pair_heatmap

        return pair_heatmap(self, site, path=path, **kw)

    def plot_training(self, fit: Any, path: str | Path | None = None, **kw: Any) -> Any:
        """Training curves of the fit that made this model: a FitResult, a report dict or the model
        directory (:func:`cisreg.plot.training`)."""
        from ..plot import training

        return training(fit, path=path, **kw)

    def plot_measurement(self, data: Any, path: str | Path | None = None, **kw: Any) -> Any:
        """phi against the measurement on a Dataset's held-out rows (:func:`cisreg.plot.measurement`)."""
        from ..plot import measurement

        return measurement(self, data, path=path, **kw)

    def plot_landscape(self, x: Any = None, path: str | Path | None = None, **kw: Any) -> Any:
        """State probabilities along phi over sequences ``x`` (:func:`cisreg.plot.landscape`)."""
        from ..plot import landscape

        return landscape(self, x, path=path, **kw)

    def plot_state_graph(self, path: str | Path | None = None, **kw: Any) -> Any:
        """Kinetic models: the state graph with the fitted rates (:func:`cisreg.plot.state_graph`)."""
        from ..plot import state_graph

        return state_graph(self, path=path, **kw)

    def copy(self) -> Model:
        m = Model(self.spec, self.theta)
        m.metadata = dict(self.metadata)
        return m

    def __repr__(self) -> str:
        sites = ", ".join(f"{s.name}[{s.start}:{s.start + s.width}]" for s in self.spec.sites)
        info = self.compiled.info
        solver = f", solver: {info['solver']}" if "solver" in info else ""
        trees = f", spanning trees: {info['trees']}" if "trees" in info else ""
        nodes = f", nodes: {info['nodes']}" if "nodes" in info else ""
        return (f"Model({self.spec.kind}, L={self.spec.length}, sites: {sites}, states: "
                f"{len(self.state_names)}{nodes}{solver}{trees}, params: {self.layout.size})")

    def _repr_html_(self) -> str:
        """A summary table for notebooks: the model, its sites and its states."""
        from html import escape

        rows = [("kind", self.spec.kind), ("length", self.spec.length), ("alphabet", "".join(self.alphabet)),
                ("measurement", type(self.spec.measurement).__name__), ("parameters", self.layout.size),
                ("states", ", ".join(self.state_names))]
        rows += [(f"site {s.name}", f"{s.energy}, width {s.width}, start {s.start}") for s in self.spec.sites]
        body = "".join(f"<tr><th style='text-align:left'>{escape(str(k))}</th><td style='text-align:left'>"
                       f"{escape(str(v))}</td></tr>" for k, v in rows)
        return f"<table><caption>cisreg Model</caption>{body}</table>"


def batch_rows(rows: Sequence[int] | np.ndarray) -> np.ndarray:
    """Row indices as the C-contiguous int64 array the core requires."""
    return np.ascontiguousarray(rows, dtype=np.int64)
