"""Compile a model specification to the network the C++ core evaluates.

Every model compiles to the same four layers (see ``cpp/include/cisreg/network.hpp``):
site energies -> node log-weights -> log partition function -> activity phi.
A thermodynamic model has one node per state; a kinetic model one node per
spanning tree (King-Altman), see :mod:`cisreg.models.kinetic`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import _core
from .params import ParamLayout
from .spec import GE, Kinetic, ModelSpec, SortSeq, Thermodynamic


@dataclass
class NodeTable:
    """Nodes of a compiled network, before they are handed to C++."""

    a: list[list[tuple[int, float]]] = field(default_factory=list)      # (site, coef) per node
    b: list[list[tuple[int, float]]] = field(default_factory=list)      # (param, coef) per node
    b_const: list[float] = field(default_factory=list)
    state: list[int] = field(default_factory=list)
    act_const: list[float] = field(default_factory=list)
    act_param: list[int] = field(default_factory=list)

    def add(self, a, b, b_const, state, act_const=0.0, act_param=-1):  # type: ignore[no-untyped-def]
        self.a.append(list(a))
        self.b.append(list(b))
        self.b_const.append(float(b_const))
        self.state.append(int(state))
        self.act_const.append(float(act_const))
        self.act_param.append(int(act_param))


@dataclass
class Compiled:
    spec: ModelSpec
    layout: ParamLayout
    network: _core.Network
    measurement: _core.Measurement
    state_names: tuple[str, ...]
    info: dict[str, object] = field(default_factory=dict)
    kinetic: object | None = None  # cisreg.models.kinetic.KineticSystem for the linear solver


def site_layout(spec: ModelSpec, layout: ParamLayout) -> list[tuple[int, int, int, int]]:
    A = len(spec.alphabet)
    sites = []
    for s in spec.sites:
        e = layout.add(f"E.{s.name}", (s.width, A), "energy")
        eps = layout.add(f"eps.{s.name}", (), "offset")
        sites.append((s.start, s.width, e.offset, eps.offset))
    return sites


def measurement_layout(spec: ModelSpec, layout: ParamLayout) -> tuple[str, int, int, int]:
    m = spec.measurement
    if isinstance(m, SortSeq):
        a = layout.add("mpa.a", (m.bins,), "measurement")
        layout.add("mpa.b", (m.bins, m.hidden), "measurement")
        layout.add("mpa.c", (m.bins, m.hidden), "measurement")
        layout.add("mpa.d", (m.bins, m.hidden), "measurement")
        return ("sortseq", m.bins, m.hidden, a.offset)
    assert isinstance(m, GE)
    a = layout.add("ge.a", (), "measurement")
    layout.add("ge.b", (m.hidden,), "measurement")
    layout.add("ge.c", (m.hidden,), "measurement")
    layout.add("ge.d", (m.hidden,), "measurement")
    layout.add("ge.log_sigma", (), "measurement")
    return ("ge_" + m.noise, 1, m.hidden, a.offset)


def _thermo_nodes(spec: ModelSpec, layout: ParamLayout) -> tuple[NodeTable, tuple[str, ...]]:
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
    return nodes, tuple(s.name for s in spec.gpmap.states)


def compile_spec(spec: ModelSpec) -> Compiled:
    """Lay out the parameters of ``spec`` and build its compiled network."""
    layout = ParamLayout()
    sites = site_layout(spec, layout)
    info: dict[str, object] = {}
    kinetic = None
    if isinstance(spec.gpmap, Thermodynamic):
        nodes, state_names = _thermo_nodes(spec, layout)
    else:
        from .kinetic import kinetic_nodes

        assert isinstance(spec.gpmap, Kinetic)
        nodes, state_names, info, kinetic = kinetic_nodes(spec, layout)
    tsat = layout.add("t_sat", (), "t_sat", trainable=False)
    mkind, bins, hidden, moff = measurement_layout(spec, layout)
    a_ptr, a_site, a_coef = _csr(nodes.a)
    b_ptr, b_param, b_coef = _csr(nodes.b)
    net = _core.Network(
        alphabet_size=len(spec.alphabet), length=spec.length, n_params=layout.size, sites=sites,
        a_ptr=a_ptr, a_site=a_site, a_coef=a_coef, b_const=nodes.b_const, b_ptr=b_ptr, b_param=b_param,
        b_coef=b_coef, node_state=nodes.state, n_states=len(state_names), act_const=nodes.act_const,
        act_param=nodes.act_param, tsat_param=tsat.offset, tsat_const=1.0)
    meas = _core.Measurement(mkind, n_bins=bins, hidden=hidden, offset=moff)
    info.setdefault("nodes", net.n_nodes)
    if kinetic is not None:
        kinetic.bind(layout.size, tsat.offset, meas)
    return Compiled(spec, layout, net, meas, state_names, info, kinetic)


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


#: Mean frequency of the most common letter per position above which the training
#: sequences are taken to be a mutagenised library around one reference sequence.
MUTAGENISED_LIBRARY = 0.5


def initial_theta(comp: Compiled, rng: np.random.Generator, *, counts: np.ndarray | None = None,
                  y: np.ndarray | None = None, codes: np.ndarray | None = None,
                  energy_scale: float = 0.1) -> np.ndarray:
    """A random starting point.

    Energies ~ N(0, energy_scale^2) kT, offsets 0, interactions and log-rates 0,
    t_sat from the spec. If ``codes`` (training sequences) form a mutagenised
    library around a reference (the consensus letter has mean frequency > 0.5),
    each site starts as a binder of the reference: its letters cost 0 and every
    mutation +0.5 kT, with the reference bound at -1 kT. Natural promoters carry
    functional sites, so this puts the energy matrices on the physical side of the
    sign symmetry of the likelihood (a protein "binding" its worst site explains
    sort-seq data as well as the right model, with interactions of flipped sign). Sort-seq: a_y = log of the marginal bin frequencies and the
    hidden units arranged so that the mean bin increases with phi (bins are ordered
    by fluorescence; this fixes the sign of the energies, see the design notes).
    GE: g(phi) starts increasing, matched to the mean and spread of y.
    """
    lay = comp.layout
    theta = np.zeros(lay.size)
    for b in lay:
        v = lay.view(theta, b.name)
        if b.kind == "energy":
            v[...] = rng.normal(0.0, energy_scale, size=b.shape)
    lay.view(theta, "t_sat")[...] = comp.spec.t_sat
    consensus = _consensus(codes, len(comp.spec.alphabet)) if codes is not None else None
    if consensus is not None:
        for s in comp.spec.sites:
            E = lay.view(theta, f"E.{s.name}")
            E += 0.5
            E[np.arange(s.width), consensus[s.start : s.start + s.width]] -= 0.5
            lay.view(theta, f"eps.{s.name}")[...] = -1.0
    m = comp.spec.measurement
    if isinstance(m, SortSeq):
        Y, K = m.bins, m.hidden
        if counts is not None and counts.shape[1] == Y:
            freq = counts.sum(axis=0) + 1.0
        else:
            freq = np.ones(Y)
        lay.view(theta, "mpa.a")[...] = np.log(freq / freq.sum())
        ramp = (np.arange(Y) - (Y - 1) / 2.0) / max(Y - 1, 1)  # -0.5 .. 0.5
        lay.view(theta, "mpa.b")[...] = (4.0 * ramp[:, None] / K) + rng.normal(0, 0.01, (Y, K))
        lay.view(theta, "mpa.c")[...] = rng.uniform(1.0, 4.0, (Y, K)) / comp.spec.t_sat
        lay.view(theta, "mpa.d")[...] = rng.uniform(-2.0, 0.0, (Y, K))
    else:
        assert isinstance(m, GE)
        K = m.hidden
        mu = float(np.mean(y)) if y is not None and len(y) else 0.0
        sd = float(np.std(y)) if y is not None and len(y) > 1 else 1.0
        sd = sd if sd > 0 else 1.0
        lay.view(theta, "ge.a")[...] = mu
        lay.view(theta, "ge.b")[...] = sd * rng.uniform(0.5, 1.5, K) / K
        lay.view(theta, "ge.c")[...] = rng.uniform(1.0, 4.0, K) / comp.spec.t_sat
        lay.view(theta, "ge.d")[...] = rng.uniform(-2.0, 0.0, K)
        lay.view(theta, "ge.log_sigma")[...] = np.log(sd)
    return theta


def letter_frequencies(codes: np.ndarray, A: int) -> np.ndarray:
    """Frequency of each letter at each position of a library, [L, A]."""
    return np.stack([(codes == a).mean(axis=0) for a in range(A)], axis=1)


def _consensus(codes: np.ndarray, A: int) -> np.ndarray | None:
    """The consensus sequence of a mutagenised library, or None for other libraries."""
    if codes.shape[0] < 10:
        return None
    freq = letter_frequencies(codes, A)
    if float(freq.max(axis=1).mean()) <= MUTAGENISED_LIBRARY:
        return None
    return freq.argmax(axis=1)


def site_energies_of(model, codes: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Site energies dG [N, S] (kT) by gather, for inspection."""
    lay, th = model.layout, model.theta
    out = np.empty((codes.shape[0], len(model.spec.sites)))
    for j, s in enumerate(model.spec.sites):
        E = lay.view(th, f"E.{s.name}")
        out[:, j] = float(lay.view(th, f"eps.{s.name}")) + E[np.arange(s.width)[None, :],
                                                              codes[:, s.start:s.start + s.width]].sum(axis=1)
    return out
