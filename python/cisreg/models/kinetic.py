"""Kinetic (non-equilibrium) models: Markov graphs whose rates depend on the sequence.

A transition i -> j has log-rate  log k = kappa + sum_s coefficient_s * dG_s  (kappa a
learnable log-rate constant shared by name, or a fixed number). The steady state
follows from the King-Altman / Markov-chain-tree theorem: the weight of state r is
the sum over the spanning trees directed into r of the product of their rates, so
every tree is one node of the compiled network with a log-weight linear in the site
energies. The enumeration happens once, when the model is compiled; if it would
exceed ``max_trees``, the per-sequence linear solver (same steady state, adjoint
gradient) is used instead (``"solver": "auto"``), or compilation stops with an
explanation (``"solver": "king-altman"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _core
from ..errors import ModelFileError
from .params import ParamLayout
from .spec import Kinetic, ModelSpec


class TooManyTrees(Exception):
    pass


def check_strongly_connected(n: int, edges: list[tuple[int, int]], names: tuple[str, ...]) -> None:
    """Raise ModelFileError unless every state can reach every other state."""
    out: list[list[int]] = [[] for _ in range(n)]
    inn: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        out[a].append(b)
        inn[b].append(a)
    for i in range(n):
        if not out[i]:
            raise ModelFileError(f"state {names[i]!r} has no outgoing transition, so it can never be left and the "
                                 "steady state would sit there; add a transition out of it", key="kinetic.transitions")

    def reach(adj: list[list[int]]) -> set[int]:
        seen, stack = {0}, [0]
        while stack:
            v = stack.pop()
            for w in adj[v]:
                if w not in seen:
                    seen.add(w)
                    stack.append(w)
        return seen

    fwd, bwd = reach(out), reach(inn)
    for i in range(n):
        if i not in fwd:
            raise ModelFileError(f"state {names[i]!r} cannot be reached from {names[0]!r}: the graph is not strongly "
                                 "connected, so the steady state is not unique; add transitions that connect it",
                                 key="kinetic.transitions")
        if i not in bwd:
            raise ModelFileError(f"{names[0]!r} cannot be reached from state {names[i]!r}: the graph is not strongly "
                                 "connected (the system would get stuck there); add transitions back",
                                 key="kinetic.transitions")


def spanning_trees(n: int, edges: list[tuple[int, int]], root: int, limit: int) -> list[list[int]]:
    """All spanning trees directed into ``root`` (each non-root state picks one
    outgoing edge; following the picks from any state leads to ``root``).
    Returns lists of edge indices. Raises TooManyTrees beyond ``limit``."""
    out: list[list[int]] = [[] for _ in range(n)]
    for e, (a, _) in enumerate(edges):
        out[a].append(e)
    order = [v for v in range(n) if v != root]
    nxt = [-1] * n  # chosen successor of each assigned state
    chosen: list[int] = []
    trees: list[list[int]] = []

    def closes_cycle(v: int, w: int) -> bool:
        # follow the picks from w; a cycle forms if we come back to v
        while w != root and w != -1:
            if w == v:
                return True
            w = nxt[w]
        return False

    def rec(i: int) -> None:
        if i == len(order):
            # every state is assigned and no cycle was closed, so all paths reach the root
            trees.append(list(chosen))
            if len(trees) > limit:
                raise TooManyTrees
            return
        v = order[i]
        for e in out[v]:
            w = edges[e][1]
            if closes_cycle(v, w):
                continue
            nxt[v] = w
            chosen.append(e)
            rec(i + 1)
            chosen.pop()
            nxt[v] = -1

    rec(0)
    return trees


@dataclass
class Edge:
    src: int
    dst: int
    kappa_param: int      # theta index, or -1 for a fixed log-rate
    kappa_const: float
    energies: list[tuple[int, float]]  # (site index, coefficient)


def _edges(spec: ModelSpec, layout: ParamLayout) -> tuple[list[Edge], dict[str, int]]:
    k = spec.gpmap
    assert isinstance(k, Kinetic)
    sidx = {s.name: i for i, s in enumerate(spec.sites)}
    st = {name: i for i, name in enumerate(k.states)}
    edges: list[Any] = []
    by_name: dict[str, Any] = {}
    for t in k.transitions:
        if isinstance(t.rate, str):
            key = f"kappa.{t.rate}"
            if key not in layout:
                layout.add(key, (), "rate")
            kp, kc = layout[key].offset, 0.0
        else:
            kp, kc = -1, float(t.rate)
        by_name[t.name] = len(edges)
        edges.append(Edge(st[t.source], st[t.target], kp, kc, [(sidx[s], c) for s, c in t.energies]))
    return edges, by_name


def kinetic_network(spec: ModelSpec, layout: ParamLayout) -> tuple[Any, tuple[str, ...], dict[str, Any]]:
    """Compile a kinetic spec: a King-Altman network of spanning-tree nodes, or (beyond
    ``max_trees``, or with ``"solver": "linear"``) the graph for the per-sequence linear
    solver. Returns (builder, state names, info); ``builder.build(n_states, tsat_param)``
    makes the core object."""
    from .gpmap import NodeTable

    k = spec.gpmap
    assert isinstance(k, Kinetic)
    n = len(k.states)
    edges, by_name = _edges(spec, layout)
    pairs = [(e.src, e.dst) for e in edges]
    check_strongly_connected(n, pairs, k.states)
    occ_const = np.zeros(n)
    occ_param = np.full(n, -1, dtype=np.int64)
    st = {name: i for i, name in enumerate(k.states)}
    for sname, c in k.occupancy:
        if isinstance(c, str):
            key = f"act.{c}"
            if key not in layout:
                layout.add(key, (), "activity")
            occ_param[st[sname]] = layout[key].offset
        else:
            occ_const[st[sname]] = float(c)
    flux_edges = [by_name[f] for f in k.flux]
    info: dict[str, Any] = {"states": n, "transitions": len(edges)}
    trees_per_root = None
    if k.solver != "linear":
        try:
            trees_per_root = [spanning_trees(n, pairs, r, k.max_trees) for r in range(n)]
            if sum(len(t) for t in trees_per_root) > k.max_trees:
                raise TooManyTrees
        except TooManyTrees:
            if k.solver == "king-altman":
                raise ModelFileError(f"the King-Altman network of this graph has more than {k.max_trees} spanning "
                                     "trees; raise kinetic.max_trees or use \"solver\": \"linear\" (a per-sequence "
                                     "linear solve of the same steady state)", key="kinetic.solver") from None
            trees_per_root = None
    if trees_per_root is None:
        info["solver"] = "linear"
        return KineticGraph(edges, occ_const, occ_param, flux_edges), k.states, info
    info["solver"] = "king-altman"
    info["trees"] = sum(len(t) for t in trees_per_root)

    def tree_node(tree: list[int]) -> tuple[list[tuple[int, float]], list[tuple[int, float]], float]:
        a: dict[int, float] = {}
        b: dict[int, float] = {}
        const = 0.0
        for e in tree:
            E = edges[e]
            if E.kappa_param >= 0:
                b[E.kappa_param] = b.get(E.kappa_param, 0.0) + 1.0
            else:
                const += E.kappa_const
            for s, c in E.energies:
                a[s] = a.get(s, 0.0) - c  # h = b - sum_s A[n,s] dG_s and log k = kappa + c dG
        return list(a.items()), list(b.items()), const

    nodes = NodeTable()
    for r in range(n):
        for tree in trees_per_root[r]:
            a, b, c = tree_node(tree)
            nodes.add(a, b, c, r, float(occ_const[r]), int(occ_param[r]))
    for e in flux_edges:
        for tree in trees_per_root[edges[e].src]:
            a, b, c = tree_node(tree + [e])
            nodes.add(a, b, c, -1, 1.0, -1)
            info["flux_nodes"] = info.get("flux_nodes", 0) + 1
    return nodes, k.states, info


@dataclass
class KineticGraph:
    """The Markov graph of a kinetic model, for the per-sequence linear solver."""

    edges: list[Edge]
    occ_const: np.ndarray
    occ_param: np.ndarray
    flux_edges: list[int]

    def build(self, n_states: int, tsat_param: int) -> _core.KineticNet:
        e_ptr, e_site, e_coef = [0], [], []
        for e in self.edges:
            for s, c in e.energies:
                e_site.append(s)
                e_coef.append(c)
            e_ptr.append(len(e_site))
        return _core.KineticNet(
            n_states=n_states, edge_src=[e.src for e in self.edges], edge_dst=[e.dst for e in self.edges],
            edge_kappa_param=[e.kappa_param for e in self.edges], edge_kappa_const=[e.kappa_const for e in self.edges],
            e_ptr=e_ptr, e_site=e_site, e_coef=e_coef, occ_const=[float(x) for x in self.occ_const],
            occ_param=[int(p) for p in self.occ_param], flux_edges=list(self.flux_edges), tsat_param=tsat_param,
            tsat_const=1.0)
