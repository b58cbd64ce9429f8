"""Standard errors and intervals of the physical parameters of a fitted model.

Two estimates, both reported in a declared gauge (the likelihood does not depend on the
gauge, so only gauge-fixed quantities have an uncertainty):

- :func:`bootstrap`: resample the training sequences with replacement (as row weights, so
  nothing is copied), refit from the fitted parameters with the fit's settings, and read
  standard errors off the refits' spread (normal intervals around the fit). Costs ``B`` fits.
- :func:`laplace`: the curvature of the penalised training likelihood at the fit. The
  Hessian is built from central differences of the exact (hand-written) gradient, one
  pair of gradient evaluations per trainable parameter; its inverse, mapped through the
  (linear) gauge fixing, is the covariance of the physical parameters. Costs about
  ``2 P`` passes over the training rows, far less than a bootstrap for small models.

Both return an :class:`Uncertainty`: ``.table()`` is a DataFrame with one row per physical
parameter (estimate, se, lo, hi), ``.to_report()`` the nested form of report.json.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._threads import effective_n_threads
from ..data.dataset import Dataset
from ..errors import InputError
from ..models.model import Model, kT_in_kcal

__all__ = ["Uncertainty", "bootstrap", "laplace", "physical_flat"]

#: Groups of get_theta whose values are energies (scaled by kT in kcal/mol when converted).
ENERGY_GROUPS = ("energies", "offsets", "pair_energies", "biases", "interactions")

#: Full-batch L-BFGS iterations at most that carry a fit (and each bootstrap refit) to the
#: optimum of its penalised training likelihood. GE fits with a unit near its linear regime
#: need over 1,000 (the unit's scale and slope trade off).
POLISH_ITERATIONS = 3000


@dataclass(frozen=True)
class Entry:
    """One reported physical quantity: ``group`` of get_theta, its ``name`` (a site, an
    interaction, a rate), its shape and the labels of its axes."""

    group: str
    name: str
    shape: tuple[int, ...]
    labels: tuple[tuple[Any, ...], ...] = ()

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    def keys(self) -> list[str]:
        """Flat parameter names: ``interactions.dG_I``, ``energies.CRP[3,A]``, ..."""
        base = f"{self.group}.{self.name}" if self.name else self.group
        if not self.shape:
            return [base]
        idx = np.ndindex(*self.shape)
        lab = self.labels
        return [base + "[" + ",".join(str(lab[a][i]) if a < len(lab) else str(i) for a, i in enumerate(ix)) + "]"
                for ix in idx]


def physical_flat(model: Model, theta: np.ndarray | None = None, *, gauge: str = "uniform",
                  x_wt: str | None = None) -> tuple[list[Entry], np.ndarray]:
    """Every physical parameter of ``model`` (at ``theta``, default its own) in a gauge, in
    kT (log rates in natural-log units), as a flat vector with its :class:`Entry` list."""
    m = model if theta is None else Model(model.spec, theta)
    th = m.get_theta(gauge=gauge, x_wt=x_wt)
    entries: list[Entry] = []
    vals: list[np.ndarray] = []
    for site, E in th["energies"].items():
        entries.append(Entry("energies", site, E.shape, (tuple(E.index), tuple(E.columns))))
        vals.append(E.to_numpy().ravel())
    for group in ("offsets", "interactions", "log_rates", "activities"):
        for k, v in th[group].items():
            entries.append(Entry(group, k, ()))
            vals.append(np.array([v]))
    for site, pe in th["pair_energies"].items():
        P = np.asarray(pe["values"])
        pairs = tuple(f"{a}-{b}" for a, b in pe["pairs"])
        entries.append(Entry("pair_energies", site, P.shape, (pairs, tuple(m.alphabet), tuple(m.alphabet))))
        vals.append(P.ravel())
    for site, b in th["biases"].items():
        entries.append(Entry("biases", site, b.shape, (tuple(b.index), tuple(b.columns))))
        vals.append(b.to_numpy().ravel())
    if "t_sat" in m.layout and m.layout["t_sat"].trainable:
        entries.append(Entry("t_sat", "", ()))
        vals.append(np.array([th["t_sat"]]))
    return entries, np.concatenate(vals) if vals else np.zeros(0)


@dataclass
class Uncertainty:
    """Standard errors and ``level`` intervals of every physical parameter (in kT; log
    rates in natural-log units), in ``gauge`` (``"wt"``: relative to ``reference``)."""

    method: str
    level: float
    gauge: str
    reference: str | None
    entries: list[Entry]
    estimate: np.ndarray
    se: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    n_samples: int = 0
    samples: np.ndarray | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def keys(self) -> list[str]:
        return [k for e in self.entries for k in e.keys()]  # noqa: SIM118 (Entry.keys is a method)

    def _groups(self) -> list[str]:
        return [e.group for e in self.entries for _ in range(e.size)]

    def table(self, units: str = "kT", temperature_c: float = 37.0) -> Any:
        """One row per physical parameter: parameter, group, estimate, se, lo, hi."""
        import pandas as pd

        scale = self._scale(units, temperature_c)
        return pd.DataFrame({"parameter": self.keys(), "group": self._groups(), "estimate": self.estimate * scale,
                             "se": self.se * scale, "lo": self.lo * scale, "hi": self.hi * scale})

    def _scale(self, units: str, temperature_c: float) -> np.ndarray:
        if units not in ("kT", "kcal/mol"):
            raise InputError(f"units must be 'kT' or 'kcal/mol', got {units!r}")
        f = kT_in_kcal(temperature_c) if units == "kcal/mol" else 1.0
        return np.array([f if g in ENERGY_GROUPS else 1.0 for g in self._groups()])

    def value(self, key: str) -> dict[str, float]:
        """estimate, se, lo, hi (kT) of one flat parameter name, e.g. ``"interactions.dG_I"``."""
        i = self.keys().index(key)
        return {"estimate": float(self.estimate[i]), "se": float(self.se[i]), "lo": float(self.lo[i]),
                "hi": float(self.hi[i])}

    def to_report(self, temperature_c: float = 37.0) -> dict[str, Any]:
        """Nested by units, group and name, arrays as lists: the form of report.json."""
        out: dict[str, Any] = {"method": self.method, "level": self.level, "gauge": self.gauge,
                               "reference_sequence": self.reference, "n_samples": self.n_samples,
                               "wall_s": self.wall_s, "notes": list(self.notes)}
        for units in ("kT", "kcal/mol"):
            scale = self._scale(units, temperature_c)
            g: dict[str, Any] = {}
            at = 0
            for e in self.entries:
                sl = slice(at, at + e.size)
                at += e.size
                cols = {c: (getattr(self, c)[sl] * scale[sl]).reshape(e.shape) for c in ("estimate", "se", "lo", "hi")}
                d = {c: (v.tolist() if e.shape else float(v)) for c, v in cols.items()}
                if e.group == "t_sat":
                    g["t_sat"] = d
                else:
                    g.setdefault(e.group, {})[e.name] = d
            out[units] = g
        return out


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def _check_level(level: float) -> None:
    if not (isinstance(level, float | int) and 0 < level < 1):
        raise InputError(f"level must lie strictly between 0 and 1, got {level!r}")


def _linear_map(model: Model, gauge: str, x_wt: str | None, idx: np.ndarray) -> tuple[list[Entry], np.ndarray,
                                                                                       np.ndarray]:
    """The physical parameters at the fit and the Jacobian [Q, len(idx)] of the (linear)
    map from the trainable parameters ``idx`` to them, column by column."""
    entries, f0 = physical_flat(model, gauge=gauge, x_wt=x_wt)
    J = np.empty((f0.size, idx.size))
    th = model.theta.copy()
    for c, j in enumerate(idx):
        th[j] += 1.0
        J[:, c] = physical_flat(model, th, gauge=gauge, x_wt=x_wt)[1] - f0
        th[j] -= 1.0
    return entries, f0, J


def _inverse_psd(H: np.ndarray, rtol: float = 1e-10) -> tuple[np.ndarray, int]:
    """The pseudo-inverse of a symmetric matrix over its eigenvalues above rtol * the largest;
    also the number of eigenvalues left out that are negative beyond rounding."""
    w, V = np.linalg.eigh(H)
    top = max(float(np.abs(w).max()), 1e-300)
    keep = w > rtol * top
    n_neg = int((w < -rtol * top).sum())
    Vk = V[:, keep]
    return (Vk / w[keep]) @ Vk.T, n_neg


def _profile_covariance(H: np.ndarray, lay: Any, idx: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Covariance of the trainable parameters from the Hessian H of the penalised NLL. The
    measurement parameters are nuisance: the physical block is the inverse of the Schur
    complement H_pp - H_pn H_nn^+ H_np (their uncertainty propagated); directions of
    negative or vanishing curvature among the nuisance parameters (a hidden unit that does
    nothing, a saddle between units) are left out of H_nn^+ (held fixed)."""
    notes: list[str] = []
    kinds = np.array([b.kind for b in lay for _ in range(b.size)])[idx]
    nu = kinds == "measurement"
    p = ~nu
    C = np.zeros_like(H)
    Hnn_inv, n_neg = _inverse_psd(H[np.ix_(nu, nu)]) if nu.any() else (np.zeros((0, 0)), 0)
    if n_neg:
        notes.append(f"{n_neg} direction(s) of the measurement parameters have negative curvature (the fit "
                     "is not at their optimum); they were held fixed")
    Hpn = H[np.ix_(p, nu)]
    S = H[np.ix_(p, p)] - Hpn @ Hnn_inv @ Hpn.T
    Spp, n_neg = _inverse_psd(0.5 * (S + S.T))
    if n_neg:
        notes.append(f"{n_neg} direction(s) of the physical parameters have negative curvature: the fit is not "
                     "at a minimum; their uncertainty is not estimated (left out)")
    C[np.ix_(p, p)] = Spp
    return C, notes


class _Penalised:
    """The penalised training objective of a fit, F(x) = sum_i w_i NLL_i + sum_j lam_j x_j^2 / 2
    over the trainable entries ``idx`` of theta (the others held at their values), in float64
    on the CPU, and its minimisation by full-batch L-BFGS (scipy)."""

    def __init__(self, model: Model, codes: np.ndarray, targets: np.ndarray, rows: np.ndarray,
                 weights: np.ndarray | None, lam: np.ndarray, idx: np.ndarray, n_threads: int) -> None:
        self.model, self.codes, self.targets, self.rows = model, codes, targets, rows
        self.weights, self.lam, self.idx, self.nt = weights, lam[idx], idx, n_threads

    def __call__(self, x: np.ndarray, base: np.ndarray) -> tuple[float, np.ndarray]:
        from .. import _core

        th = base.copy()
        th[self.idx] = x
        f, g = _core.loss_and_grad(self.model.core, self.codes, self.targets, th, self.rows, self.nt, True,
                                   weights=self.weights)
        # math.fsum: exactly rounded, so the objective does not depend on how numpy's
        # vectorised sum meets the array's alignment (the L-BFGS path amplifies the last bit)
        return float(f) + 0.5 * math.fsum(self.lam * x * x), g[self.idx] + self.lam * x

    def polish(self, theta: np.ndarray, maxiter: int, reads: float) -> tuple[np.ndarray, int, str]:
        """The optimum reached from ``theta`` by at most ``maxiter`` L-BFGS iterations: the
        new theta, the iterations, and '' or why it stopped short of convergence."""
        from scipy.optimize import minimize

        opt = minimize(lambda x: self(x, theta), theta[self.idx], jac=True, method="L-BFGS-B",
                       options={"maxiter": maxiter, "maxcor": 30, "gtol": 1e-8 * max(reads, 1.0), "ftol": 1e-14})
        out = theta.copy()
        out[self.idx] = opt.x
        return out, int(opt.nit), "" if opt.success else str(opt.message)


def _penalty(model: Model, l2: Any, rows: float) -> np.ndarray:
    """lam [P] of the penalised training NLL: the fit's ``l2`` (per variant) times the
    training rows (weighted by a resample's multiplicities)."""
    from .loop import DEFAULT_L2, l2_vector

    return l2_vector(model.layout, DEFAULT_L2 if l2 is None else l2) * rows


def _polished_refit(spec_dict: dict[str, Any], data: Dataset, theta: np.ndarray, weights: np.ndarray,
                    l2: Any, maxiter: int, n_threads: int | None = None) -> tuple[np.ndarray, int, str]:
    """One bootstrap refit (also a Dask task): the optimum of the penalised training NLL with
    row ``weights`` (a resample), by L-BFGS from ``theta`` (the optimum of the data)."""
    from ..models.spec import spec_from_dict

    model = Model(spec_from_dict(spec_dict), theta)
    targets = model.targets_of(data)
    train = data.indices("training")
    train = train[weights[train] > 0]
    reads = float((model.spec.measurement.amounts(targets)[train] * weights[train]).sum())
    idx = np.flatnonzero(model.layout.trainable_mask())
    obj = _Penalised(model, data.codes, targets, train, weights, _penalty(model, l2, float(weights[train].sum())), idx,
                     effective_n_threads(n_threads))
    return obj.polish(theta, maxiter, reads)


def laplace(model: Model, data: Dataset, *, l2: float | dict[str, float] | None = None, level: float = 0.95,
            gauge: str = "uniform", x_wt: str | None = None, n_threads: int | None = None,
            step: float = 1e-4, polish: int = POLISH_ITERATIONS, nuisance: str = "profile") -> Uncertainty:
    """The Laplace (curvature) estimate of the uncertainty of ``model``'s physical parameters.

    The penalised training NLL F(theta) = NLL + rows * l2 * theta^2 / 2 (the objective
    :func:`cisreg.fit` minimises, ``l2`` per variant as there) is expanded to second order at
    the fit (with ``polish`` > 0, the default, at the optimum reached from it by at most that many
    full-batch L-BFGS iterations, whose estimates are then reported: early stopping ends
    near an optimum, not at it, and for heavily parameterised measurements the penalised
    optimum can lie far from the early-stopped fit; on simulated MPRA counts the intervals
    cover the truth for about 93% of parameters with the polish and 6% at an early-stopped
    Adam fit without it, tests/test_uncertainty.py). H comes from central differences
    (relative step ``step``) of the exact gradient in float64. The measurement parameters
    are nuisance parameters: the covariance of the physical parameters is the inverse of
    the Schur complement of their block, mapped through the (linear) gauge fixing;
    directions the data do not determine (gauge freedoms) carry only the L2 curvature
    and vanish in the gauge-fixed parameters. Intervals are estimate +- z * se. Costs
    about 2 P gradient passes over the training rows (P trainable parameters) plus the
    polish. ``nuisance="fixed"`` holds the measurement parameters at their fitted values
    instead (the Hessian of the physical block only: far cheaper for measurements with
    many parameters, such as a 10-bin sort-seq MPA, but it ignores their uncertainty and
    so understates the errors). For parameters the likelihood determines poorly (e.g. an offset that the
    measurement's nonlinearity can absorb) prefer :func:`bootstrap`.
    """
    import time

    _check_level(level)
    t0 = time.perf_counter()
    targets = model.targets_of(data)
    train = data.indices("training")
    if len(train) == 0:
        raise InputError("no training rows", source=data.source)
    lay = model.layout
    reads = float(model.spec.measurement.amounts(targets)[train].sum())
    lam = _penalty(model, l2, float(len(train)))
    if nuisance not in ("profile", "fixed"):
        raise InputError(f"nuisance must be 'profile' or 'fixed', got {nuisance!r}")
    mask = lay.trainable_mask()
    idx = np.flatnonzero(mask)
    kinds = np.array([b.kind for b in lay for _ in range(b.size)])
    cols = idx if nuisance == "profile" else idx[kinds[idx] != "measurement"]
    nt = effective_n_threads(n_threads)
    theta = model.theta.copy()

    obj = _Penalised(model, data.codes, targets, train, None, lam, idx, nt)

    def grad(th: np.ndarray) -> np.ndarray:
        return obj(th[idx], th)[1]

    notes = []
    if polish:  # minibatch Adam stops near, not at, the optimum: the curvature belongs to the optimum
        theta, nit, msg = obj.polish(theta, polish, reads)
        notes.append(f"estimates and curvature at the optimum of the penalised training likelihood, reached from "
                     f"the fit by {nit} full-batch L-BFGS iterations"
                     + ("" if not msg else f" (stopped: {msg}; the optimum lies further)"))

    H = np.zeros((idx.size, idx.size))
    pos = {int(j): c for c, j in enumerate(idx)}
    for j in cols:
        c = pos[int(j)]
        h = step * max(1.0, abs(theta[j]))
        th = theta.copy()
        th[j] += h
        gp = grad(th)
        th[j] -= 2 * h
        gm = grad(th)
        H[:, c] = (gp - gm) / (2 * h)
    if nuisance == "fixed":  # the physical block only: the measurement rows and columns are dropped
        keep = kinds[idx] != "measurement"
        H = H[np.ix_(keep, keep)]
        idx = idx[keep]
    H = 0.5 * (H + H.T)
    C, more = _profile_covariance(H, lay, idx)
    if nuisance == "fixed":
        more.append("measurement parameters held at their fitted values (nuisance='fixed'): the errors are "
                    "conditional on them and understate the marginal ones")
    notes += more
    at = Model(model.spec, theta)
    entries, f0, J = _linear_map(at, gauge, x_wt, idx)
    moved = float(np.abs(f0 - physical_flat(model, gauge=gauge, x_wt=x_wt)[1]).max()) if f0.size else 0.0
    if polish and moved > 0:
        notes.append(f"the optimum differs from the fit by up to {moved:.3g} in the physical parameters")
    cov = J @ C @ J.T
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    z = _z(level)
    return Uncertainty("laplace", level, gauge, x_wt, entries, f0, se, f0 - z * se, f0 + z * se, notes=notes,
                       wall_s=time.perf_counter() - t0)


def bootstrap(result: Any, data: Dataset, B: int, *, level: float = 0.95, gauge: str = "uniform",
              x_wt: str | None = None, seed: int | None = None, quiet: bool = True, client: Any = None,
              polish: int = POLISH_ITERATIONS, n_threads: int | None = None) -> Uncertainty:
    """The bootstrap estimate: ``B`` refits, each on the training sequences resampled with
    replacement (multinomial row weights, so nothing is copied), with the settings of
    ``result`` (a :class:`~cisreg.FitResult`).

    With ``polish`` > 0 (the default) the estimate is taken where :func:`laplace` takes it:
    the fit is first carried to the optimum of its penalised training likelihood (at most
    ``polish`` full-batch L-BFGS iterations, as in :func:`laplace`), and each refit is the
    optimum of its resample's penalised likelihood, reached by L-BFGS from there. Every refit
    converges, so the spread of the refits is the sampling spread of the optimum and the two
    estimates describe the same quantity. With ``polish=0`` each refit is instead a warm
    minibatch-Adam fit with early stopping on the unchanged validation rows (the fit's own
    procedure; its early stopping can end a refit near its start and so understate the
    spread). Standard errors are the refits' standard deviations; intervals are estimate
    +- z * se (normal intervals). The refits are kept in ``Uncertainty.samples``. With a
    dask.distributed ``client`` the refits run as its tasks (the same resamples: the same
    result, bit for bit with ``polish=0``; with L-BFGS refits up to where L-BFGS stops, which
    can differ in the last digits between processes)."""
    import time

    _check_level(level)
    if isinstance(B, bool) or not isinstance(B, int | np.integer) or B < 2:
        raise InputError(f"bootstrap needs B >= 2 resamples, got {B!r}")
    if isinstance(polish, bool) or not isinstance(polish, int | np.integer) or polish < 0:
        raise InputError(f"polish must be an integer >= 0, got {polish!r}")
    t0 = time.perf_counter()
    model: Model = result.model
    settings = dict(result.settings)
    if not settings:
        raise InputError("bootstrap needs the FitResult of cisreg.fit (its settings are reused)")
    seed = settings.get("seed", 0) if seed is None else seed
    spec = model.spec
    targets = model.targets_of(data)
    train, val = data.indices("training"), data.indices("validation")
    notes = []
    n_div = 0
    theta = model.theta.copy()
    nt = effective_n_threads(n_threads if n_threads is not None else settings.get("n_threads"))
    if polish:
        reads = float(spec.measurement.amounts(targets)[train].sum())
        idx = np.flatnonzero(model.layout.trainable_mask())
        lam = _penalty(model, settings.get("l2"), float(len(train)))
        obj = _Penalised(model, data.codes, targets, train, None, lam, idx, nt)
        theta, nit, msg = obj.polish(theta, polish, reads)
        notes.append(f"estimates at the optimum of the penalised training likelihood (reached from the fit by {nit} "
                     f"full-batch L-BFGS iterations{'' if not msg else '; stopped: ' + msg}); each refit is the "
                     "optimum of its resample, reached by L-BFGS from there")
    at = Model(spec, theta)
    entries, f0 = physical_flat(at, gauge=gauge, x_wt=x_wt)
    samples = np.empty((B, f0.size))
    short = 0

    def weights(b: int) -> np.ndarray:
        rng = np.random.default_rng([seed, 0xB007, b])
        w = np.zeros(data.n)
        w[train] = rng.multinomial(len(train), np.full(len(train), 1.0 / len(train)))
        w[val] = 1.0
        return w

    if polish:
        spec_dict = spec.to_dict()
        if client is None:
            outs = [_polished_refit(spec_dict, data, theta, weights(b), settings.get("l2"), polish, nt)
                    for b in range(B)]
        else:
            data_f = client.scatter(data, hash=False)
            futs = [client.submit(_polished_refit, spec_dict, data_f, theta, weights(b), settings.get("l2"), polish,
                                  pure=False) for b in range(B)]
            outs = client.gather(futs)
        why: set[str] = set()
        for b, (th_b, _nit, msg_b) in enumerate(outs):
            short += bool(msg_b)
            if msg_b:
                why.add(msg_b)
            samples[b] = physical_flat(Model(spec, th_b), gauge=gauge, x_wt=x_wt)[1]
        if short:
            notes.append(f"{short} of {B} refits stopped short of L-BFGS's convergence test (at most {polish} "
                         f"iterations): {'; '.join(sorted(why))}")
    else:
        from .loop import _fit_one
        from .stepper import FitJob

        def refit(b: int, w: np.ndarray | None) -> np.ndarray:
            nonlocal n_div
            res = _fit_one(FitJob(spec, data, targets, train, val, settings, quiet, weights=w), 10_000 + b,
                           model.theta.copy())
            n_div += res.diverged
            return physical_flat(res.model, gauge=gauge, x_wt=x_wt)[1]

        if client is None:
            for b in range(B):
                samples[b] = refit(b, weights(b))
        else:
            from .loop import _restart_task, result_from_dict

            data_f = client.scatter(data, hash=False)
            futs = [client.submit(_restart_task, spec.to_dict(), data_f, model.theta.copy(), 10_000 + b, settings,
                                  weights(b), pure=False) for b in range(B)]
            for b, d in enumerate(client.gather(futs)):
                res = result_from_dict(spec, d)
                n_div += res.diverged
                samples[b] = physical_flat(res.model, gauge=gauge, x_wt=x_wt)[1]
        if n_div:
            notes.append(f"{n_div} of {B} refits diverged; their best parameters before divergence were used")
    # Normal intervals around the estimate: the refits' spread (the standard error) does not
    # depend on a drift that they may share (warm Adam refits go on optimising from where
    # early stopping ended), which percentile intervals would inherit.
    se = samples.std(axis=0, ddof=1)
    z = _z(level)
    lo, hi = f0 - z * se, f0 + z * se
    if B < 20:
        notes.append(f"{B} resamples give standard errors good to about {100 / math.sqrt(2 * (B - 1)):.0f}%; "
                     "use 20 or more")
    return Uncertainty("bootstrap", level, gauge, x_wt, entries, f0, se, lo, hi, n_samples=B, samples=samples,
                       notes=notes, wall_s=time.perf_counter() - t0)
