"""Variant-effect scans: every single (and double) mutant of a wild type through the engine."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..models.model import check_dtype
from .mutants import check_wt, double_mutants, evaluate_details, join_names, mutation_names, single_mutants

__all__ = ["scan"]


def scan(model: Any, wt: str, *, doubles: bool = False, yhat: bool | None = None, n_threads: int | None = None,
         dtype: str = "float64") -> pd.DataFrame:
    """Predicted effects of every single (and optionally every double) mutant of a wild type.

    The code arrays of all mutants are built with vectorised numpy and evaluated, together
    with the wild type, in one batched call of the engine, so a scan costs about as much as
    predicting that many sequences: the 25,200 double mutants of a 75-bp promoter take a few
    tens of milliseconds (see ``bench/bench_scan.py``).

    Parameters
    ----------
    model : cisreg.Model
        Any fitted (or hand-set) model: thermodynamic or kinetic, any alphabet.
    wt : str
        The wild-type sequence: ``model.spec.length`` letters of the model's alphabet (either
        case).
    doubles : bool, default False
        Also scan every double mutant (C(L,2)(A-1)^2 rows after the L(A-1) single mutants).
    yhat : bool, optional
        Add the measurement process's prediction for each mutant. By default (None) it is
        added where the process predicts a value: ``yhat = g(phi)`` for GE and counts models.
        Sort-seq models predict a distribution over bins, p(y | phi), rather than a value;
        ``yhat=True`` adds their mean bin ``ybar`` (as ``cisreg predict`` does), which costs
        bins x hidden tanh per variant in a serial pass (about 1 s per 25,000 variants of the
        lac model, 25 times the scan itself). ``False``: never.
    n_threads : int, optional
        Threads of the engine (default: all cores; see :func:`cisreg.effective_n_threads`).
    dtype : {"float64", "float32"}, default "float64"
        Compute precision of the engine.

    Returns
    -------
    pandas.DataFrame
        One row per mutant: the L(A-1) single mutants (by position, then new letter in
        alphabet order), then, with ``doubles``, the double mutants (by first position, second
        position, first letter, second letter). Columns:

        - ``mutations``: ``A12G`` (wild-type letter, 1-based position, new letter); doubles
          ``A12G,T30C`` (increasing position);
        - ``n_mut``: 1 or 2;
        - ``pos_1``, ``wt_1``, ``mut_1`` (and ``pos_2``, ``wt_2``, ``mut_2`` with ``doubles``,
          empty for single mutants): the mutations, positions 1-based;
        - ``phi``: the mutant's activity; ``dphi``: ``phi - phi_wt``;
        - ``epistasis`` (with ``doubles``): ``dphi`` of the double mutant minus the ``dphi`` of
          its two single mutants (NaN for single mutants);
        - ``ddG_<site>`` for every site: its energy in the mutant minus that in the wild type
          (kT); for a sliding site, the effective energy -log Σ_placements e^{-ΔG}, as the
          engine reports it (:meth:`cisreg.Model.x_to_details`);
        - ``p_<state>`` for every state: the mutant's state probabilities;
        - with ``yhat`` (see above), the measurement process's prediction as ``cisreg predict``
          writes it: ``yhat`` (GE, counts) or ``ybar`` (sort-seq, the mean bin).

        ``DataFrame.attrs`` holds the wild type: ``wt``, ``phi_wt``, ``dG_wt`` and
        ``state_probs_wt`` (dicts by site / state) and the prediction columns' values.

    Raises
    ------
    cisreg.InputError
        If ``wt`` is not a string of the model's length and alphabet.

    Examples
    --------
    >>> model = cisreg.Model("lac", seed=0)
    >>> wt = "A" * 75
    >>> table = cisreg.scan(model, wt, doubles=True)
    >>> len(table)                      # 75 * 3 singles + C(75, 2) * 9 doubles
    25200
    >>> table.nlargest(5, "dphi")[["mutations", "dphi"]]
    """
    dtype = check_dtype(dtype)
    wt_codes = check_wt(model, wt)
    letters = model.alphabet
    A = len(letters)
    single_codes, pos, alt = single_mutants(wt_codes, A)
    n1 = pos.shape[0]
    parts = [wt_codes[None, :], single_codes]
    if doubles:
        double_codes, first, second = double_mutants(wt_codes, A)
        parts.append(double_codes)
    codes = np.concatenate(parts, axis=0)
    phi, dG, probs = evaluate_details(model, codes, n_threads=n_threads, dtype=dtype)
    dphi = phi[1:] - phi[0]
    ddG = dG[1:] - dG[0]

    names1 = mutation_names(letters, pos, wt_codes[pos], alt)
    cats = list(letters)

    def letter_column(codes_: np.ndarray) -> pd.Categorical:  # -1: empty
        out: pd.Categorical = pd.Categorical.from_codes(codes_, categories=cats)  # type: ignore[call-overload]
        return out

    cols: dict[str, Any] = {}
    if doubles:
        n2 = first.shape[0]
        cols["mutations"] = np.concatenate([names1, join_names(names1[first], names1[second])])
        cols["n_mut"] = np.concatenate([np.ones(n1, np.int64), np.full(n2, 2, np.int64)])
        p1, a1 = np.concatenate([pos, pos[first]]), np.concatenate([alt, alt[first]])
        cols["pos_1"] = p1 + 1
        cols["wt_1"] = letter_column(wt_codes[p1].astype(np.int64))
        cols["mut_1"] = letter_column(a1.astype(np.int64))
        p2 = pos[second]
        empty = np.full(n1, -1, np.int64)
        cols["pos_2"] = pd.arrays.IntegerArray(np.concatenate([np.zeros(n1, np.int64), p2 + 1]),
                                               np.arange(n1 + n2) < n1)  # empty for single mutants
        cols["wt_2"] = letter_column(np.concatenate([empty, wt_codes[p2].astype(np.int64)]))
        cols["mut_2"] = letter_column(np.concatenate([empty, alt[second].astype(np.int64)]))
    else:
        cols["mutations"] = names1
        cols["n_mut"] = np.ones(n1, np.int64)
        cols["pos_1"] = pos + 1
        cols["wt_1"] = letter_column(wt_codes[pos].astype(np.int64))
        cols["mut_1"] = letter_column(alt.astype(np.int64))
    cols["phi"] = phi[1:]
    cols["dphi"] = dphi
    if doubles:
        epi = np.full(dphi.shape[0], np.nan)
        epi[n1:] = dphi[n1:] - dphi[first] - dphi[second]
        cols["epistasis"] = epi
    site_names = [s.name for s in model.spec.sites]
    for k, name in enumerate(site_names):
        cols[f"ddG_{name}"] = ddG[:, k]
    for k, name in enumerate(model.state_names):
        cols[f"p_{name}"] = probs[1:, k]
    meas = model.spec.measurement
    if yhat is None:  # a value to predict, not a distribution over bins (cf. Model.p_of_y_given_phi)
        yhat = not hasattr(meas, "p_of_y_given_phi")
    pred = meas.prediction_columns(model, phi) if yhat else {}
    for name, values in pred.items():
        if name in cols:  # pragma: no cover - measurement columns are named ybar / yhat
            raise InputError(f"the measurement's prediction column {name!r} clashes with a scan column")
        cols[name] = np.asarray(values)[1:]
    df = pd.DataFrame(cols)
    df.attrs.update({
        "wt": "".join(letters[c] for c in wt_codes),
        "phi_wt": float(phi[0]),
        "dG_wt": {name: float(dG[0, k]) for k, name in enumerate(site_names)},
        "state_probs_wt": {name: float(probs[0, k]) for k, name in enumerate(model.state_names)},
        **{f"{name}_wt": float(np.asarray(values)[0]) for name, values in pred.items()},
    })
    out: pd.DataFrame = df
    return out
