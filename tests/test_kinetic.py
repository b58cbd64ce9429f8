"""Kinetic models: King-Altman compile and the linear solver agree; gradients; detailed balance."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cisreg import _core
from cisreg.errors import ModelFileError
from cisreg.models import Model, preset, spec_from_dict
from cisreg.models.kinetic import spanning_trees
from gradcheck import check_coordinates


def random_kinetic_dict(rng, n_states, *, flux, solver, L=16):
    sites = [{"name": f"s{i}", "start": int(rng.integers(0, L - 4)), "width": 4} for i in range(2)]
    states = [f"S{i}" for i in range(n_states)]
    trs = []
    # a directed cycle through every state makes the graph strongly connected
    for i in range(n_states):
        trs.append((i, (i + 1) % n_states))
    for _ in range(int(rng.integers(0, 2 * n_states))):
        a, b = rng.choice(n_states, 2, replace=False)
        trs.append((int(a), int(b)))  # may repeat a pair: parallel transitions add their rates
    transitions = []
    for j, (a, b) in enumerate(trs):
        t = {"name": f"t{j}", "from": states[a], "to": states[b],
             "rate": f"k{j % 4}" if rng.random() < 0.7 else float(rng.normal())}
        en = {s["name"]: float(rng.normal()) for s in sites if rng.random() < 0.6}
        if en:
            t["energies"] = en
        transitions.append(t)
    if flux:
        act = {"flux": [transitions[int(rng.integers(len(transitions)))]["name"]]}
    else:
        act = {"states": {states[i]: float(rng.uniform(0.1, 2)) for i in range(n_states) if rng.random() < 0.6}
               or {states[0]: 1.0}}
    return {"alphabet": "ACGT", "length": L, "sites": sites,
            "kinetic": {"states": states, "transitions": transitions, "activity": act, "solver": solver},
            "measurement": {"type": "sortseq", "bins": 3, "hidden": 2}}


def _pair(seed, n_states, flux):
    rng = np.random.default_rng(seed)
    d = random_kinetic_dict(rng, n_states, flux=flux, solver="king-altman")
    ka = Model(spec_from_dict(d), seed=seed)
    ka.theta[:] = rng.normal(0, 1, ka.theta.size)
    ka.layout.view(ka.theta, "t_sat")[...] = 1.3
    d["kinetic"]["solver"] = "linear"
    lin = Model(spec_from_dict(d), ka.theta.copy())
    assert ka.compiled.info["solver"] == "king-altman" and lin.compiled.info["solver"] == "linear"
    codes = rng.integers(0, 4, (60, 16), dtype=np.uint8)
    counts = rng.poisson(1.0, (60, 3)).astype(np.float64)
    return ka, lin, codes, counts


@pytest.mark.usefixtures("kernel_level")
@pytest.mark.parametrize("n_states,flux,seed", [(n, f, s) for n in range(2, 7) for f in (False, True) for s in (0, 1)])
def test_solvers_agree(n_states, flux, seed):
    ka, lin, codes, counts = _pair(1000 * n_states + seed + 17 * flux, n_states, flux)
    np.testing.assert_allclose(lin.x_to_phi(codes), ka.x_to_phi(codes), rtol=1e-10, atol=1e-13)
    _, logp_ka = _core.phi(ka.core, codes, ka.theta, None, 1, True)[0:3:2]
    _phi_l, logp_l = _core.phi(lin.core, codes, lin.theta, None, 1, True)[0:3:2]
    np.testing.assert_allclose(np.exp(logp_l), np.exp(logp_ka), rtol=1e-9, atol=1e-13)
    l1, g1 = ka.loss(codes, counts, grad=True)
    l2, g2 = lin.loss(codes, counts, grad=True)
    assert l2 == pytest.approx(l1, rel=1e-10)
    np.testing.assert_allclose(g2, g1, rtol=1e-7, atol=1e-9)


@pytest.mark.usefixtures("kernel_level")
@pytest.mark.parametrize("flux", [False, True])
def test_linear_solver_gradient(flux):
    ka, lin, codes, counts = _pair(77 + flux, 4, flux)
    _, g = lin.loss(codes, counts, grad=True)
    check_coordinates(lambda th: _core.loss_and_grad(lin.core, codes, counts, th, None, 1, False)[0], g,
                      lin.theta, range(lin.layout.size), rtol=1e-6, atol=1e-7)
    _, g = ka.loss(codes, counts, grad=True)
    c = ka.compiled
    check_coordinates(lambda th: _core.loss_and_grad(c.core, codes, counts, th, None, 1, False)[0],
                      g, ka.theta, range(ka.layout.size), rtol=1e-6, atol=1e-7)


@pytest.mark.usefixtures("every_thread")
@pytest.mark.usefixtures("kernel_level")
def test_linear_solver_threads_identical():
    _, lin, codes, counts = _pair(5, 5, True)
    big = np.ascontiguousarray(np.tile(codes, (50, 1)))
    bigc = np.ascontiguousarray(np.tile(counts, (50, 1)))
    a = _core.loss_and_grad(lin.core, big, bigc, lin.theta, None, 1)
    b = _core.loss_and_grad(lin.core, big, bigc, lin.theta, None, 2)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])


def lac_kinetic_dict(solver):
    """The lac thermodynamic model written as a kinetic model obeying detailed balance:
    binding at rate 1, unbinding at rate exp(dG) (times exp(dG_I) from the cooperative state)."""
    tr = [
        {"name": "C_on", "from": "free", "to": "C", "rate": 0.0},
        {"name": "C_off", "from": "C", "to": "free", "rate": 0.0, "energies": {"CRP": 1.0}},
        {"name": "R_on", "from": "free", "to": "R", "rate": 0.0},
        {"name": "R_off", "from": "R", "to": "free", "rate": 0.0, "energies": {"RNAP": 1.0}},
        {"name": "CR_from_C", "from": "C", "to": "CR", "rate": 0.0},
        {"name": "CR_to_C", "from": "CR", "to": "C", "rate": "dG_I", "energies": {"RNAP": 1.0}},
        {"name": "CR_from_R", "from": "R", "to": "CR", "rate": 0.0},
        {"name": "CR_to_R", "from": "CR", "to": "R", "rate": "dG_I", "energies": {"CRP": 1.0}},
    ]
    d = preset("lac").to_dict()
    del d["thermodynamic"]
    d["kinetic"] = {"states": ["free", "C", "R", "CR"], "transitions": tr,
                    "activity": {"states": {"R": 1, "CR": 1}}, "solver": solver}
    return d


@pytest.mark.usefixtures("kernel_level")
@pytest.mark.parametrize("solver", ["king-altman", "linear"])
def test_detailed_balance_equals_thermodynamic(solver, rng):
    thermo = Model(preset("lac"), seed=3)
    lay = thermo.layout
    lay.view(thermo.theta, "dG_I")[...] = -3.1
    kin = Model(spec_from_dict(lac_kinetic_dict(solver)))
    for b in kin.layout:
        src = "dG_I" if b.name == "kappa.dG_I" else b.name
        kin.layout.view(kin.theta, b.name)[...] = lay.view(thermo.theta, src)
    codes = rng.integers(0, 4, (300, 75), dtype=np.uint8)
    np.testing.assert_allclose(kin.x_to_phi(codes), thermo.x_to_phi(codes), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(kin.x_to_details(codes)["state_probs"].to_numpy(),
                               thermo.x_to_details(codes)["state_probs"].to_numpy(), rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_tree_count_matches_cayley(n):
    edges = [(a, b) for a, b in itertools.permutations(range(n), 2)]
    for root in range(n):
        trees = spanning_trees(n, edges, root, 10**6)
        assert len(trees) == n ** (n - 2)
        assert len({tuple(sorted(t)) for t in trees}) == len(trees)


def _kin(states, trs, **extra):
    return {"alphabet": "ACGT", "length": 10, "sites": [{"name": "s", "start": 0, "width": 3}],
            "kinetic": {"states": states, "transitions": trs, "activity": {"states": {states[-1]: 1}}, **extra},
            "measurement": {"type": "sortseq", "bins": 2, "hidden": 1}}


def test_graphs_that_are_rejected():
    with pytest.raises(ModelFileError, match="can never be left"):
        Model(spec_from_dict(_kin(["A", "B"], [{"from": "A", "to": "B", "rate": "k"}])))
    with pytest.raises(ModelFileError, match="not strongly connected"):
        Model(spec_from_dict(_kin(["A", "B", "C"], [
            {"from": "A", "to": "B", "rate": "k"}, {"from": "B", "to": "A", "rate": "k"},
            {"from": "C", "to": "A", "rate": "k"}])))
    with pytest.raises(ModelFileError, match="unknown state"):
        spec_from_dict(_kin(["A", "B"], [{"from": "A", "to": "Z", "rate": "k"}]))
    with pytest.raises(ModelFileError, match="two different states"):
        spec_from_dict(_kin(["A", "B"], [{"from": "A", "to": "A", "rate": "k"}]))


def test_too_many_trees():
    states = [f"S{i}" for i in range(7)]
    trs = [{"from": a, "to": b, "rate": "k"} for a, b in itertools.permutations(states, 2)]
    with pytest.raises(ModelFileError, match="solver.*linear"):
        Model(spec_from_dict(_kin(states, trs, solver="king-altman", max_trees=1000)))
    m = Model(spec_from_dict(_kin(states, trs, solver="auto", max_trees=1000)))
    assert m.compiled.info["solver"] == "linear"
    m2 = Model(spec_from_dict(_kin(states, trs, solver="auto", max_trees=200_000)), m.theta.copy())
    assert m2.compiled.info["trees"] == 7 * 7 ** 5
    codes = np.random.default_rng(0).integers(0, 4, (20, 10), dtype=np.uint8)
    np.testing.assert_allclose(m.x_to_phi(codes), m2.x_to_phi(codes), rtol=1e-10)


# ---------------------------------------------------------------- simulated benchmark

@pytest.fixture(scope="module")
def kinetic_benchmark():
    """A four-state activator + RNAP model with irreversible promoter escape (activity =
    escape flux), a mutagenised library and sort-seq data; fitted with the kinetic model
    and with the equilibrium (thermodynamic) model of the same sites."""
    import cisreg
    from cisreg.models import read_spec

    spec = read_spec(cisreg.models.presets.example_path("activator-rnap-kinetic"))
    rng = np.random.default_rng(0)
    truth = Model(spec, seed=0)
    lay = truth.layout
    wt_codes = rng.integers(0, 4, spec.length)
    wt = "".join("ACGT"[c] for c in wt_codes)
    for s in spec.sites:
        E = rng.normal(0, 1.0, (s.width, 4))
        E[np.arange(s.width), wt_codes[s.start:s.start + s.width]] -= 1.0
        E *= 0.8
        lay.view(truth.theta, f"E.{s.name}")[...] = E
        wtE = E[np.arange(s.width), wt_codes[s.start:s.start + s.width]].sum()
        lay.view(truth.theta, f"eps.{s.name}")[...] = -wtE + (-1.0 if s.name == "A" else 1.0)
    lay.view(truth.theta, "kappa.coop")[...] = -3.0
    lay.view(truth.theta, "kappa.esc")[...] = 2.0
    data = cisreg.simulate.sortseq(truth, n=20_000, rng=rng, wt=wt, mutation_rate=0.12, bins=8, noise_sd=0.2,
                                   log_activity=True)
    kin = cisreg.fit(data, spec, quiet=True, seed=0, n_threads=2, epochs=200)
    td = spec.to_dict()
    del td["kinetic"]
    td["thermodynamic"] = {"states": [
        {"name": "empty", "bound": []}, {"name": "A", "bound": ["A"]},
        {"name": "P", "bound": ["P"], "activity": 1},
        {"name": "AP", "bound": ["A", "P"], "interactions": ["dG_I"], "activity": 1}]}
    thermo = cisreg.fit(data, spec_from_dict(td), quiet=True, seed=0, n_threads=2, epochs=200)
    return truth, data, kin, thermo


def test_kinetic_fit_recovers_energies_and_rates(kinetic_benchmark):
    truth, _, kin, _ = kinetic_benchmark
    got, want = kin.model.get_theta(), truth.get_theta()
    for s in ("A", "P"):
        r = np.corrcoef(got["energies"][s].to_numpy().ravel(), want["energies"][s].to_numpy().ravel())[0, 1]
        assert r >= 0.95, (s, r)
    # rate constants (natural-log units): cooperativity within 0.5, escape within 1.0
    assert got["log_rates"]["coop"] == pytest.approx(-3.0, abs=0.5)
    assert got["log_rates"]["esc"] == pytest.approx(2.0, abs=1.0)


def test_thermodynamic_model_is_worse_on_held_out_data(kinetic_benchmark):
    import cisreg

    _, data, kin, thermo = kinetic_benchmark
    ek = cisreg.evaluate(kin.model, data, splits=("test",), uncertainty=False)["test"]
    et = cisreg.evaluate(thermo.model, data, splits=("test",), uncertainty=False)["test"]
    # log-likelihood ratio on held-out reads: the equilibrium model cannot describe escape
    llr = (et["nll_per_read_nats"] - ek["nll_per_read_nats"]) * ek["reads"]
    assert llr > 20.0, llr


@pytest.mark.usefixtures("kernel_level")
@pytest.mark.parametrize("order", [("s0", "s1", "s2"), ("s0", "s2", "s1"), ("s2", "s0", "s1")])
@pytest.mark.parametrize("a", [0.0, 10.0, 18.0, 25.0, 40.0])
def test_linear_solver_is_exact_for_stiff_rates(order, a):
    """s0 <-> s1 fast (e^a), s1 -> s2 -> s0 slow (e^-a): pi_2 = 1 / (3 + e^(-2a)) exactly,
    whatever the order of the states (a plain LU of the jump chain loses this)."""
    trs = [{"from": "s0", "to": "s1", "rate": a}, {"from": "s1", "to": "s0", "rate": a},
           {"from": "s1", "to": "s2", "rate": -a}, {"from": "s2", "to": "s0", "rate": -a}]
    d = _kin(list(order), trs, solver="linear")
    d["kinetic"]["activity"] = {"states": {"s2": 1}}
    m = Model(spec_from_dict(d))
    codes = np.zeros((3, 10), dtype=np.uint8)
    np.testing.assert_allclose(m.x_to_phi(codes), 1.0 / (3.0 + np.exp(-2.0 * a)), rtol=1e-12)


@pytest.mark.usefixtures("kernel_level")
@pytest.mark.parametrize("seed", range(6))
def test_solvers_agree_on_stiff_random_graphs(seed):
    """Rates spanning about e^+-40: the GTH linear solver still matches King-Altman."""
    rng = np.random.default_rng(500 + seed)
    d = random_kinetic_dict(rng, int(rng.integers(3, 7)), flux=bool(seed % 2), solver="king-altman")
    ka = Model(spec_from_dict(d), seed=seed)
    ka.theta[:] = rng.normal(0, 1, ka.theta.size)
    for b in ka.layout:
        if b.kind in ("energy", "offset", "rate"):
            ka.layout.view(ka.theta, b.name)[...] *= 8.0
    d["kinetic"]["solver"] = "linear"
    lin = Model(spec_from_dict(d), ka.theta.copy())
    codes = rng.integers(0, 4, (50, 16), dtype=np.uint8)
    counts = rng.poisson(1.0, (50, 3)).astype(np.float64)
    np.testing.assert_allclose(lin.x_to_phi(codes), ka.x_to_phi(codes), rtol=1e-9, atol=1e-300)
    l1, g1 = ka.loss(codes, counts, grad=True)
    l2, g2 = lin.loss(codes, counts, grad=True)
    assert l2 == pytest.approx(l1, rel=1e-9)
    np.testing.assert_allclose(g2, g1, rtol=1e-6, atol=1e-8 * max(1.0, np.abs(g1).max()))
