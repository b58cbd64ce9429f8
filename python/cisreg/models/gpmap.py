"""Layers 2-4: genotype-phenotype maps compiled to the core's network of nodes.

Every thermodynamic model compiles to a network (see ``cpp/include/cisreg/model.hpp``):
node log-weights h_n = b_n - sum_s A[n, s] dG_s, state probabilities by log-sum-exp,
phi = t_sat * sum_n alpha_n p_n. A thermodynamic state is one node; a kinetic model
compiled by the King-Altman theorem has one node per spanning tree
(:mod:`cisreg.models.kinetic`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import _core
from .params import ParamLayout

if TYPE_CHECKING:
    from .spec import ModelSpec

__all__ = ["NodeTable", "thermodynamic_network"]


@dataclass
class NodeTable:
    """Nodes of a network, before they are handed to C++."""

    a: list[list[tuple[int, float]]] = field(default_factory=list)  # (site, coef) per node
    b: list[list[tuple[int, float]]] = field(default_factory=list)  # (param, coef) per node
    b_const: list[float] = field(default_factory=list)
    state: list[int] = field(default_factory=list)
    act_const: list[float] = field(default_factory=list)
    act_param: list[int] = field(default_factory=list)

    def add(self, a: list[tuple[int, float]], b: list[tuple[int, float]], b_const: float, state: int,
            act_const: float = 0.0, act_param: int = -1) -> None:
        self.a.append(list(a))
        self.b.append(list(b))
        self.b_const.append(float(b_const))
        self.state.append(int(state))
        self.act_const.append(float(act_const))
        self.act_param.append(int(act_param))

    def build(self, n_states: int, tsat_param: int) -> _core.Network:
        a_ptr, a_site, a_coef = _csr(self.a)
        b_ptr, b_param, b_coef = _csr(self.b)
        return _core.Network(a_ptr=a_ptr, a_site=a_site, a_coef=a_coef, b_const=self.b_const, b_ptr=b_ptr,
                             b_param=b_param, b_coef=b_coef, node_state=self.state, n_states=n_states,
                             act_const=self.act_const, act_param=self.act_param, tsat_param=tsat_param,
                             tsat_const=1.0)


def _csr(rows: list[list[tuple[int, float]]]) -> tuple[list[int], list[int], list[float]]:
    ptr = [0]
    idx: list[int] = []
    coef: list[float] = []
    for r in rows:
        for i, c in r:
            idx.append(int(i))
            coef.append(float(c))
        ptr.append(len(idx))
    return ptr, idx, coef


def thermodynamic_network(spec: ModelSpec, layout: ParamLayout) -> tuple[NodeTable, tuple[str, ...], dict[str, Any]]:
    """One node per state: its bound sites, interaction energies and activity."""
    from .spec import Thermodynamic

    assert isinstance(spec.gpmap, Thermodynamic)
    site_idx = {s.name: i for i, s in enumerate(spec.sites)}
    nodes = NodeTable()
    for k, st in enumerate(spec.gpmap.states):
        b = []
        for name in st.interactions:
            if name not in layout:
                layout.add(name, (), "interaction")
            b.append((layout[name].offset, -1.0))
        act_const, act_param = 0.0, -1
        if isinstance(st.activity, str):
            key = f"act.{st.activity}"
            if key not in layout:
                layout.add(key, (), "activity")
            act_param = layout[key].offset
        else:
            act_const = float(st.activity)
        nodes.add([(site_idx[s], 1.0) for s in st.bound], b, 0.0, k, act_const, act_param)
    return nodes, tuple(s.name for s in spec.gpmap.states), {}
