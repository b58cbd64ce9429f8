"""Random thermodynamic models and data for tests."""

from __future__ import annotations

import numpy as np

from cisreg.models import Model, spec_from_dict


def random_thermo_dict(rng, *, n_sites=None, n_states=None, L=None, measurement=None, learn_activity=False):
    n_sites = n_sites or int(rng.integers(1, 5))
    L = L or int(rng.integers(12, 30))
    sites = []
    for i in range(n_sites):
        w = int(rng.integers(1, min(8, L) + 1))
        start = int(rng.integers(0, L - w + 1))
        sites.append({"name": f"s{i}", "start": start, "width": w})
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
    return {"alphabet": "ACGT", "length": L, "sites": sites, "thermodynamic": {"states": states},
            "measurement": meas}


def random_model(rng, *, scale=1.0, **kw):
    spec = spec_from_dict(random_thermo_dict(rng, **kw))
    m = Model(spec, seed=int(rng.integers(1 << 30)))
    th = m.theta
    lay = m.layout
    for b in lay:
        v = lay.view(th, b.name)
        if b.kind in ("energy", "offset", "interaction"):
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
    if hasattr(m, "bins"):
        targets = rng.poisson(0.7, (n, m.bins)).astype(np.float64)
    else:
        targets = rng.normal(0, 1, (n, 1))
    return codes, np.ascontiguousarray(targets)
