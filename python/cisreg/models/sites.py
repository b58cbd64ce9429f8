"""Layer 1: the sites of a model and their parameter blocks.

A site's binding free energy is linear in the one-hot sequence: an energy matrix
``E.<site>`` [width, A] over its window plus an offset ``eps.<site>`` (the chemical
potential), in kT.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _core
from .params import ParamLayout

if TYPE_CHECKING:
    from .spec import ModelSpec

__all__ = ["add_site_params", "init_sites"]


def add_site_params(spec: ModelSpec, layout: ParamLayout) -> tuple[list[_core.Site], dict[str, list[int]]]:
    """Add every site's blocks to ``layout``; return the core sites and the pair lists."""
    A = len(spec.alphabet)
    sites = []
    for s in spec.sites:
        e = layout.add(f"E.{s.name}", (s.width, A), "energy")
        eps = layout.add(f"eps.{s.name}", (), "offset")
        sites.append(_core.Site(start=s.start, width=s.width, e_offset=e.offset, eps_offset=eps.offset))
    return sites, {"pair_i": [], "pair_j": []}


def init_sites(spec: ModelSpec, layout: ParamLayout, theta: np.ndarray, rng: np.random.Generator,
               consensus: np.ndarray | None, energy_scale: float) -> None:
    """Energies ~ N(0, energy_scale^2) kT, offsets 0; with a library consensus, each site
    starts as a binder of it: its letters cost 0, every mutation +0.5 kT, the consensus
    bound at -1 kT."""
    for s in spec.sites:
        E = layout.view(theta, f"E.{s.name}")
        E[...] = rng.normal(0.0, energy_scale, size=E.shape)
        if consensus is not None:
            E += 0.5
            E[np.arange(s.width), consensus[s.start : s.start + s.width]] -= 0.5
            layout.view(theta, f"eps.{s.name}")[...] = -1.0

