"""Compile a model specification to the model the C++ core evaluates.

A model is three stages (see ``cpp/include/cisreg/model.hpp``): the site model (layer 1,
:mod:`cisreg.models.sites`), the G-P map (layers 2-4: a network of nodes,
:mod:`cisreg.models.gpmap`, or a kinetic graph solved per sequence,
:mod:`cisreg.models.kinetic`) and the measurement process
(:mod:`cisreg.models.measurement`). Each stage lays out its own parameter blocks in one
flat theta; the compiled result is cached per specification, so restarts, copies and
loads of one model compile it (and enumerate its spanning trees) once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _core
from .params import ParamLayout
from .sites import add_site_params, init_sites, motif_candidates
from .spec import ModelSpec, Thermodynamic

__all__ = ["MUTAGENISED_LIBRARY", "Compiled", "compile_spec", "initial_theta", "letter_frequencies"]


@dataclass(frozen=True)
class Compiled:
    """A compiled specification: its parameter layout, the core model and what the
    compile step found (solver, number of spanning trees, nodes)."""

    spec: ModelSpec
    layout: ParamLayout
    core: _core.Model
    state_names: tuple[str, ...]
    info: dict[str, Any] = field(default_factory=dict)


@functools.lru_cache(maxsize=64)
def compile_spec(spec: ModelSpec) -> Compiled:
    """Lay out the parameters of ``spec`` and build its core model (cached per spec)."""
    from .gpmap import thermodynamic_network
    from .kinetic import kinetic_network

    layout = ParamLayout()
    sites, pairs = add_site_params(spec, layout)
    compile_gpmap = thermodynamic_network if isinstance(spec.gpmap, Thermodynamic) else kinetic_network
    builder, state_names, info = compile_gpmap(spec, layout)
    tsat = layout.add("t_sat", (), "t_sat", trainable=False)
    moff = spec.measurement.add_params(layout)
    gp = builder.build(len(state_names), tsat.offset)
    core = _core.Model(n_params=layout.size, alphabet_size=len(spec.alphabet), length=spec.length, sites=sites,
                       gpmap=gp, measurement=spec.measurement.core(moff), **pairs)
    info = {**info, "nodes": core.n_nodes} if core.n_nodes else dict(info)
    return Compiled(spec, layout, core, tuple(state_names), info)


#: Mean frequency of the most common letter per position above which the training
#: sequences are taken to be a mutagenised library around one reference sequence.
MUTAGENISED_LIBRARY = 0.5


def initial_theta(comp: Compiled, rng: np.random.Generator, *, targets: np.ndarray | None = None,
                  codes: np.ndarray | None = None, energy_scale: float = 0.1) -> np.ndarray:
    """A random starting point.

    Energies ~ N(0, energy_scale^2) kT, offsets 0, interactions and log-rates 0, t_sat
    from the spec, and the measurement process's own initialisation from the training
    ``targets``. If ``codes`` (training sequences) form a mutagenised library around a
    reference (the consensus letter has mean frequency > 0.5), each site starts as a
    binder of the reference. Natural promoters carry functional sites, so this puts the
    energy matrices on the physical side of the sign symmetry of the likelihood (a
    protein "binding" its worst site explains sort-seq data as well as the right model,
    with interactions of flipped sign). A sliding site starts as a binder of one of the
    k-mers most enriched in the top fifth of the library by measurement, registered in the
    motif (:func:`cisreg.models.sites.motif_candidates`): the one whose phi ranks the
    training sequences most like their measurements.
    """
    lay = comp.layout
    theta = np.zeros(lay.size)
    lay.view(theta, "t_sat")[...] = comp.spec.t_sat
    A = len(comp.spec.alphabet)
    consensus = _consensus(codes, A) if codes is not None else None
    candidates: dict[str, list[np.ndarray]] = {}
    score = None
    if codes is not None and targets is not None and any(s.sliding for s in comp.spec.sites):
        score = comp.spec.measurement.score(targets)
        for s in comp.spec.sites:
            if s.sliding:
                cands = motif_candidates(codes, score, s, A)
                if cands:
                    candidates[s.name] = cands
    seeds = {name: c[0] for name, c in candidates.items()}
    init_sites(comp.spec, lay, theta, rng, consensus, energy_scale, seeds)
    if candidates and codes is not None and score is not None:
        _register_motifs(comp, theta, candidates, codes, score)
    comp.spec.measurement.init(lay, theta, rng, targets, comp.spec.t_sat)
    return theta


#: Rows (evenly spaced) on which the starting motifs of sliding sites are scored.
REGISTER_ROWS = 5000


def _register_motifs(comp: Compiled, theta: np.ndarray, candidates: dict[str, list[np.ndarray]],
                     codes: np.ndarray, score: np.ndarray) -> None:
    """For each sliding site, the starting motif (an enriched k-mer at one offset of the
    motif) whose phi ranks the sequences most like their measured activity (Spearman
    correlation on up to REGISTER_ROWS rows): the k-mer alone does not say where in the
    motif it sits, and the gradient does not move a motif out of a wrong register. Sets
    theta in place."""
    from scipy.stats import spearmanr

    from .. import _core

    lay = comp.layout
    step = max(1, codes.shape[0] // REGISTER_ROWS)
    c = np.ascontiguousarray(codes[::step])
    sc = np.asarray(score[::step], dtype=np.float64)
    for name, cands in candidates.items():
        E = lay.view(theta, f"E.{name}")
        base = E - 0.5  # init_sites' random part, plus 0.5, less 0.5 at the first seed ...
        first = cands[0]
        base[np.arange(len(first)), first] += 0.5  # ... given back: the random part alone
        best, best_r = cands[0], -np.inf
        for motif in cands:
            E[...] = base + 0.5
            E[np.arange(len(motif)), motif] -= 0.5
            phi = np.asarray(_core.phi(comp.core, c, theta))
            r = float(spearmanr(phi, sc)[0]) if np.std(phi) > 0 else -np.inf
            if r > best_r:
                best, best_r = motif, r
        E[...] = base + 0.5
        E[np.arange(len(best)), best] -= 0.5


def letter_frequencies(codes: np.ndarray, A: int) -> np.ndarray:
    """Frequency of each letter at each position of a library, [L, A]."""
    n, L = codes.shape
    counts = np.zeros((L, A))
    for a in range(A):  # loop over letters, not rows
        counts[:, a] = (codes == a).sum(axis=0)
    out: np.ndarray = counts / max(n, 1)
    return out


def _consensus(codes: np.ndarray, A: int) -> np.ndarray | None:
    """The consensus sequence of a mutagenised library, or None for other libraries."""
    if codes.shape[0] < 10:
        return None
    freq = letter_frequencies(codes, A)
    if float(freq.max(axis=1).mean()) <= MUTAGENISED_LIBRARY:
        return None
    out: np.ndarray = freq.argmax(axis=1)
    return out
