"""Layer 1: the sites of a model, their parameter blocks, initialisation and gauges.

A site's binding free energy is linear in the one-hot sequence: an energy matrix
``E.<site>`` [width, A] over its motif plus an offset ``eps.<site>`` (the chemical
potential), in kT; ``"neighbor"`` and ``"pairwise"`` sites add energies of pairs of motif
positions (``P.<site>`` [pairs, A, A]); sliding sites may add a learnable bias per strand
and placement (``bias.<site>`` [strands, placements]). See :class:`cisreg.models.spec.Site`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import _core
from ..data.alphabet import complement
from .params import ParamLayout

if TYPE_CHECKING:
    from .spec import ModelSpec, Site

__all__ = ["add_site_params", "gauge_fix", "init_sites", "placement_names", "site_parameters"]


def add_site_params(spec: ModelSpec, layout: ParamLayout) -> tuple[list[_core.Site], dict[str, Any]]:
    """Add every site's blocks to ``layout``; return the core sites and the model-wide
    pair lists and complement table (keyword arguments of ``_core.Model``)."""
    A = len(spec.alphabet)
    sites: list[_core.Site] = []
    pair_i: list[int] = []
    pair_j: list[int] = []
    resid = 0
    for s in spec.sites:
        e = layout.add(f"E.{s.name}", (s.width, A), "energy")
        eps = layout.add(f"eps.{s.name}", (), "offset")
        pairs = s.pairs()
        p_off = layout.add(f"P.{s.name}", (len(pairs), A, A), "pair").offset if pairs else -1
        b_off = layout.add(f"bias.{s.name}", (s.n_strands, s.n_place), "bias").offset if s.position_bias else -1
        sites.append(_core.Site(start=s.start, width=s.width, e_offset=e.offset, eps_offset=eps.offset,
                                n_place=s.n_place, strands=s.n_strands, pair_offset=p_off, pair_begin=len(pair_i),
                                n_pairs=len(pairs), bias_offset=b_off, resid_begin=resid))
        pair_i += [i for i, _ in pairs]
        pair_j += [j for _, j in pairs]
        if s.n_configs > 1:
            resid += s.n_configs
    comp = complement(spec.alphabet) if any(s.n_strands == 2 for s in spec.sites) else None
    return sites, {"pair_i": pair_i, "pair_j": pair_j, "complement": comp or []}


def placement_names(spec: ModelSpec) -> list[str]:
    """Names of the placement occupancies of sliding sites: ``site:+p`` (forward strand at
    sequence position p) and ``site:-p`` (reverse strand)."""
    out = []
    for s in spec.sites:
        if s.n_configs > 1:
            for st in range(s.n_strands):
                out += [f"{s.name}:{'+-'[st]}{s.start + p}" for p in range(s.n_place)]
    return out


def init_sites(spec: ModelSpec, layout: ParamLayout, theta: np.ndarray, rng: np.random.Generator,
               consensus: np.ndarray | None, energy_scale: float, seeds: dict[str, np.ndarray] | None = None) -> None:
    """Energies ~ N(0, energy_scale^2) kT, offsets and pair energies 0. With a library
    consensus (a mutagenised library), each fixed site starts as a binder of it: its
    letters cost 0, every mutation +0.5 kT, the consensus bound at -1 kT. ``seeds`` maps a
    sliding site to a motif (codes [width]) it starts as a binder of the same way."""
    for s in spec.sites:
        E = layout.view(theta, f"E.{s.name}")
        E[...] = rng.normal(0.0, energy_scale, size=E.shape)
        ref = None
        if s.sliding:
            ref = seeds.get(s.name) if seeds else None
        elif consensus is not None:
            ref = consensus[s.start : s.start + s.width]
        if ref is not None:
            E += 0.5
            E[np.arange(s.width), ref] -= 0.5
            layout.view(theta, f"eps.{s.name}")[...] = -1.0


def motif_candidates(codes: np.ndarray, score: np.ndarray, site: Site, A: int, *, k_max: int = 6,
                     n_kmers: int = 4) -> list[np.ndarray]:
    """Starting motifs [width] of a sliding site, one for each of the ``n_kmers`` k-mers most
    over-represented in the top fifth of sequences by ``score`` (against the bottom fifth),
    k = min(width, k_max), most enriched first. Each k-mer is registered in the motif: the
    windows around its occurrences in the top sequences are aligned at every offset of the
    motif, and the consensus of the offset whose aligned letters carry the most information
    (against the background) is the candidate. Empty when the library is too small to tell."""
    n = codes.shape[0]
    if n < 50 or A ** min(site.width, k_max) > 1 << 22:
        return []
    k = min(site.width, k_max)
    order = np.argsort(score, kind="stable")
    q = max(1, n // 5)
    groups = (order[:q], order[-q:])
    window = codes[:, site.start : site.stop].astype(np.int64)
    m = window.shape[1] - k + 1
    weights = A ** np.arange(k - 1, -1, -1)
    hist, idx = [], np.zeros(0, dtype=np.int64)
    for g in groups:  # bottom, then top: idx is left holding the top sequences' k-mer codes
        w = window[g]
        idx = np.zeros((len(g), m), dtype=np.int64)
        for j in range(k):  # loop over the k-mer's positions, not rows
            idx += w[:, j : j + m] * weights[j]
        hist.append(np.bincount(idx.ravel(), minlength=A**k) + 1.0)
    lo, hi = hist[0] / hist[0].sum(), hist[1] / hist[1].sum()
    ranked = np.argsort(-np.log(hi / lo), kind="stable")[:n_kmers]
    top = window[groups[1]]
    bg = np.bincount(top.ravel(), minlength=A) + 1.0
    bg /= bg.sum()
    out = []
    for best in ranked.tolist():
        # register the k-mer in the motif: align the windows around its occurrences in the top
        # sequences at every offset; the offset whose aligned letters carry the most information
        # (against the background) places the k-mer where the motif's flanks are
        rows, cols = np.nonzero(idx == best)
        best_ic, registered = -np.inf, None
        for off in range(site.width - k + 1):
            start = cols - off
            ok = (start >= 0) & (start + site.width <= window.shape[1])
            if ok.sum() < 5:
                continue
            pos = start[ok][:, None] + np.arange(site.width)[None, :]
            letters = top[rows[ok][:, None], pos]
            f = np.stack([(letters == a).sum(axis=0) for a in range(A)], axis=1) + 0.5
            f /= f.sum(axis=1, keepdims=True)
            ic = float((f * np.log(f / bg[None, :])).sum())
            if ic > best_ic:
                best_ic, registered = ic, f.argmax(axis=1).astype(np.int64)
        if registered is not None:
            out.append(registered)
    return out


# ------------------------------------------------------------------ gauges
def _probs(site: Site, A: int, gauge: str, wt: np.ndarray | None, freq: np.ndarray | None) -> np.ndarray:
    """The per-position letter distribution pi [width, A] that defines a gauge: uniform,
    one-hot at the reference sequence ("wt"), or the library's letter frequencies
    ("empirical"). Sliding sites have no single reference window: "wt" and "empirical"
    fall back to uniform for them."""
    if gauge == "wt" and wt is not None and not site.sliding:
        p = np.zeros((site.width, A))
        p[np.arange(site.width), wt[site.start : site.start + site.width]] = 1.0
        return p
    if gauge == "empirical" and freq is not None and not site.sliding:
        return np.asarray(freq[site.start : site.start + site.width], dtype=np.float64)
    return np.full((site.width, A), 1.0 / A)


def gauge_fix(E: np.ndarray, eps: float, P: np.ndarray | None, pairs: list[tuple[int, int]], pi: np.ndarray,
              bias: np.ndarray | None = None) -> tuple[np.ndarray, float, np.ndarray | None, np.ndarray | None]:
    """The hierarchical gauge defined by pi [width, A] (as MAVE-NN and gaugefixer define
    it): every pair matrix has zero pi-weighted row and column means, every energy-matrix
    row a zero pi-weighted mean; what is removed moves into the lower-order terms and the
    offset, so that every sequence's energy is unchanged. Biases get zero mean (into eps)."""
    E = np.array(E, dtype=np.float64)
    eps = float(eps)
    if P is not None and len(pairs):
        P = np.array(P, dtype=np.float64)
        for q, (i, j) in enumerate(pairs):
            M = P[q]
            row = M @ pi[j]          # [A]: mean over b for each a
            col = pi[i] @ M          # [A]: mean over a for each b
            tot = float(pi[i] @ M @ pi[j])
            P[q] = M - row[:, None] - col[None, :] + tot
            E[i] += row - tot
            E[j] += col - tot
            eps += tot
    mu = (E * pi).sum(axis=1)
    E -= mu[:, None]
    eps += float(mu.sum())
    if bias is not None:
        bias = np.array(bias, dtype=np.float64)
        m = float(bias.mean())
        bias -= m
        eps += m
    return E, eps, P, bias


def site_parameters(spec: ModelSpec, layout: ParamLayout, theta: np.ndarray, *, gauge: str, wt: np.ndarray | None,
                    freq: np.ndarray | None, scale: float, alphabet: str) -> dict[str, Any]:
    """Energies (DataFrames), offsets, pair energies and biases of every site in a gauge,
    times ``scale`` (the unit conversion)."""
    A = len(alphabet)
    energies, offsets, pair_energies, biases = {}, {}, {}, {}
    for s in spec.sites:
        pairs = s.pairs()
        E0 = layout.view(theta, f"E.{s.name}")
        eps0 = float(layout.view(theta, f"eps.{s.name}"))
        P0 = layout.view(theta, f"P.{s.name}") if pairs else None
        b0 = layout.view(theta, f"bias.{s.name}") if s.position_bias else None
        if gauge == "none":
            E, eps = np.array(E0), eps0
            P, b = None if P0 is None else np.array(P0), None if b0 is None else np.array(b0)
        else:
            E, eps, P, b = gauge_fix(E0, eps0, P0, pairs, _probs(s, A, gauge, wt, freq), b0)
        index = pd.RangeIndex(s.start, s.start + s.width, name="position") if not s.sliding else \
            pd.RangeIndex(0, s.width, name="motif_position")
        energies[s.name] = pd.DataFrame(E * scale, columns=list(alphabet), index=index)
        offsets[s.name] = eps * scale
        if P is not None:
            pair_energies[s.name] = {"pairs": pairs, "values": P * scale}
        if b is not None:
            biases[s.name] = pd.DataFrame(b * scale, index=["+", "-"][: s.n_strands],
                                          columns=range(s.start, s.start + s.n_place))
    return {"energies": energies, "offsets": offsets, "pair_energies": pair_energies, "biases": biases}
