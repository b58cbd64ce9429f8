"""Models of every kind, with random parameters, and wild types, for the scan and design tests."""

from __future__ import annotations

import json

import numpy as np

from cisreg.models import Model, preset, spec_from_dict
from cisreg.models.presets import example_path
from randmodels import random_model


def randomise(m: Model, rng: np.random.Generator, scale: float = 0.5) -> Model:
    """Random energies and rates (a model fresh from its initialisation has weak sites)."""
    lay, th = m.layout, m.theta
    for b in lay:
        if b.kind in ("energy", "offset", "interaction", "pair", "bias", "rate"):
            lay.view(th, b.name)[...] = rng.normal(0, scale, b.shape)
    return m


def kinetic_model(solver: str) -> Model:
    d = json.loads(example_path("activator-rnap-kinetic").read_text())
    d["length"] = 20
    d["sites"] = [{"name": "A", "start": 1, "width": 6}, {"name": "P", "start": 9, "width": 10}]
    d["kinetic"]["solver"] = solver
    return randomise(Model(spec_from_dict(d), seed=0), np.random.default_rng(3))


def make_model(name: str) -> Model:
    rng = np.random.default_rng(MODELS.index(name))
    if name == "lac":
        return randomise(Model("lac", seed=0), rng, 0.3)
    if name == "fold-bind":
        return randomise(Model(preset("fold-bind").with_length(9), seed=0), rng)
    if name == "kinetic-ka":
        return kinetic_model("king-altman")
    if name == "kinetic-linear":
        return kinetic_model("linear")
    if name == "sliding-pairwise":
        return random_model(np.random.default_rng(11), n_sites=3, L=18, kinds=("neighbor", "pairwise"), sliding=0.7,
                            measurement={"type": "ge", "hidden": 3})
    if name == "rna":
        return random_model(np.random.default_rng(12), n_sites=2, L=14, alphabet="ACGU", sliding=0.5)
    if name == "counts":
        meas = {"type": "counts", "input": ["dna_0", "dna_1"], "output": ["rna_0", "rna_1"], "noise": "poisson",
                "link": "loglinear"}
        return random_model(np.random.default_rng(13), n_sites=2, n_states=4, L=16, measurement=meas)
    raise AssertionError(name)


MODELS = ["lac", "fold-bind", "kinetic-ka", "kinetic-linear", "sliding-pairwise", "rna", "counts"]


def random_wt(model: Model, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list(model.alphabet), model.spec.length))


def apply(wt: str, mutations: str) -> str:
    """The sequence a name such as ``A12G,T30C`` describes (checking the wild-type letters)."""
    s = list(wt)
    for m in mutations.split(","):
        ref, pos, alt = m[0], int(m[1:-1]), m[-1]
        assert s[pos - 1] == ref, (m, wt)
        assert alt != ref
        s[pos - 1] = alt
    return "".join(s)
