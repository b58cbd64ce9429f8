"""Random thermodynamic models and data for tests."""

from __future__ import annotations

import numpy as np

from cisreg.models import Model, spec_from_dict


def random_site(rng, name, L, *, kinds=("additive",), sliding=False, alphabet="ACGT"):
    """A random site of one of ``kinds``; sliding sites read both strands of nucleic acids."""
    energy = str(rng.choice(list(kinds)))
    w = int(rng.integers(2 if energy != "additive" else 1, min(8, L) + 1))
    d = {"name": name, "width": w}
    if energy != "additive":
        d["energy"] = energy
        if energy == "pairwise" and w > 2 and rng.random() < 0.5:
            d["max_distance"] = int(rng.integers(1, w))
    if sliding:
        a = int(rng.integers(0, L - w))
        b = int(rng.integers(a + w, L + 1))
        d["slide"] = {"start": a, "stop": b,
                      "strands": "both" if alphabet in ("ACGT", "ACGU", "dna", "rna") and rng.random() < 0.7
                      else "forward"}
        if rng.random() < 0.5:
            d["slide"]["position_bias"] = True
    else:
        d["start"] = int(rng.integers(0, L - w + 1))
    return d


def random_thermo_dict(rng, *, n_sites=None, n_states=None, L=None, measurement=None, learn_activity=False,
                       kinds=("additive",), sliding=0.0, alphabet="ACGT"):
    n_sites = n_sites or int(rng.integers(1, 5))
    L = L or int(rng.integers(12, 30))
    sites = [random_site(rng, f"s{i}", L, kinds=kinds, sliding=rng.random() < sliding, alphabet=alphabet)
             for i in range(n_sites)]
    n_states = n_states or int(rng.integers(1, 9))
    states = []
    for k in range(n_states):
        bound = [s["name"] for s in sites if rng.random() < 0.5]
        inter = [f"I{j}" for j in range(3) if rng.random() < 0.3]
        st = {"name": f"k{k}", "bound": bound}
        if inter:
            st["interactions"] = inter
        if learn_activity and k % 2 == 0:
            st["activity"] = f"a{k % 3}"
        else:
            st["activity"] = float(rng.uniform(0, 2)) if rng.random() < 0.7 else 0.0
        states.append(st)
    if all(s.get("activity", 0) == 0 for s in states):
        states[0]["activity"] = 1.0
    meas = measurement or {"type": "sortseq", "bins": int(rng.integers(2, 5)), "hidden": int(rng.integers(1, 4))}
    return {"alphabet": alphabet, "length": L, "sites": sites, "thermodynamic": {"states": states},
            "measurement": meas}


def random_model(rng, *, scale=1.0, **kw):
    spec = spec_from_dict(random_thermo_dict(rng, **kw))
    m = Model(spec, seed=int(rng.integers(1 << 30)))
    th = m.theta
    lay = m.layout
    for b in lay:
        v = lay.view(th, b.name)
        if b.kind in ("energy", "offset", "interaction", "pair", "bias"):
            v[...] = rng.normal(0, scale, b.shape)
        elif b.kind == "activity":
            v[...] = rng.uniform(0.2, 2.0, b.shape)
        elif b.kind == "measurement":
            v[...] = rng.normal(0, 1.0, b.shape)
    if "t_sat" in lay:
        lay.view(th, "t_sat")[...] = rng.uniform(0.5, 2.0)
    return m


def random_data(rng, model, n):
    codes = rng.integers(0, len(model.alphabet), (n, model.spec.length), dtype=np.uint8)
    m = model.spec.measurement
    if m.kind == "sortseq":
        targets = rng.poisson(0.7, (n, m.bins)).astype(np.float64)
    elif m.kind == "ge":  # y and its measurement error dy (0 for half of the rows)
        targets = np.stack([rng.normal(0, 1, n), rng.uniform(0, 0.5, n) * (rng.random(n) < 0.5)], axis=1)
    else:
        R = len(m.input)
        targets = np.concatenate([rng.poisson(20.0, (n, R)), rng.poisson(15.0, (n, R))], axis=1).astype(np.float64)
    return codes, np.ascontiguousarray(targets)
