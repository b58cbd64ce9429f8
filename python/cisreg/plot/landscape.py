"""The state-probability landscape along phi (thermodynamic and kinetic models)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ._base import maybe_save, new_figure, require, state_colors

__all__ = ["landscape", "library"]


def library(model: Any, *, x_ref: str | None = None, n: int = 5000, mutation_rate: float = 0.1,
            seed: int = 0) -> np.ndarray:
    """Sequences to draw a model on when no data are given: variants of ``x_ref`` (each
    position mutated with probability ``mutation_rate``), or random sequences."""
    from ..simulate import mutagenised_library, random_library

    rng = np.random.default_rng(seed)
    if x_ref is not None:
        return mutagenised_library(x_ref, n, mutation_rate, rng, model.alphabet)
    return random_library(model.spec.length, n, rng, model.alphabet)


def landscape(model: Any, x: Any = None, *, x_ref: str | None = None, n_groups: int = 40,
              n_threads: int | None = None, label: str | None = None, path: str | Path | None = None,
              dpi: int = 150) -> Any:
    """How the states share the promoter along phi.

    The sequences ``x`` (strings or codes; default: a mutagenised library around
    ``x_ref``, or random sequences) are sorted by phi into ``n_groups`` groups of equal
    size. Top: the mean probability of each state per group, stacked (they sum to 1; for
    kinetic models the steady-state occupancies), active states hatched. Middle: the
    mean binding energy of each site per group. Bottom: how many sequences have each phi.
    """
    require()
    if x is None:
        x = library(model, x_ref=x_ref)
        label = label or ("variants of the reference sequence, 10% mutations" if x_ref else "random sequences")
    codes = model.codes(x)
    if codes.shape[0] < 2:
        raise InputError("the landscape needs at least 2 sequences")
    det = model.x_to_details(codes, n_threads=n_threads)
    phi = np.asarray(det["phi"])
    probs = det["state_probs"]
    dG = det["dG"]
    order = np.argsort(phi, kind="stable")
    groups = [g for g in np.array_split(order, min(n_groups, len(order))) if len(g)]
    gx = np.array([phi[g].mean() for g in groups])
    P = np.array([probs.to_numpy()[g].mean(axis=0) for g in groups])  # [groups, states]
    G = np.array([dG.to_numpy()[g].mean(axis=0) for g in groups])  # [groups, sites]
    names = list(probs.columns)
    active = _active_states(model)

    fig = new_figure(7.5, 7.2)
    ax, ax_e, ax_h = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [2.2, 1.2, 0.6]})
    cols = state_colors(len(names))
    # each group's mean over the phi interval its sequences cover: a piecewise-constant stack
    sx = np.ravel([[phi[g].min(), phi[g].max()] for g in groups])
    polys = ax.stackplot(sx, np.repeat(P.T, 2, axis=1), labels=names, colors=cols, alpha=0.9, lw=0.3,
                         edgecolor="white")
    for poly, name in zip(polys, names):
        if name in active:
            poly.set_hatch("///")
    ax.set_ylim(0, 1)
    lo, hi = float(phi.min()), float(phi.max())
    if hi > lo:
        ax.set_xlim(lo, hi)
    ax.set_ylabel("state probability")
    kind = "steady-state occupancy" if model.spec.kind == "kinetic" else "equilibrium probability"
    ax.set_title(f"states along φ ({kind}; hatched: active)", fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False,
              title="state", title_fontsize=8)
    for j, s in enumerate(dG.columns):
        ax_e.plot(gx, G[:, j], "-o", ms=2.5, lw=1.3, label=s)
    ax_e.set_ylabel("mean ΔG (kT)")
    ax_e.set_title("site energies along φ (lower binds more strongly)", fontsize=10)
    ax_e.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False, title="site",
                title_fontsize=8)
    ax_h.hist(phi, bins=np.linspace(lo, hi if hi > lo else lo + 1, 50), color="0.55")
    ax_h.set_ylabel("sequences")
    ax_h.set_xlabel("φ (activity)")
    title = f"State landscape: {label or 'the sequences given'}; {len(phi):,} sequences in {len(groups)} groups by φ"
    fig.suptitle("\n".join(textwrap.wrap(title, 90)), fontsize=10)
    return maybe_save(fig, path, dpi)


def _active_states(model: Any) -> set[str]:
    g = model.spec.gpmap
    if model.spec.kind == "thermodynamic":
        return {s.name for s in g.states if s.activity != 0}
    if g.flux:
        return {t.source for t in g.transitions if t.name in g.flux}
    return {s for s, c in g.occupancy if c != 0}
