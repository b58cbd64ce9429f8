"""Independent pure-NumPy reference of every forward stage (the test oracle).

Nothing here calls the compiled core or the compile step: parameters are read by
block name from the flat vector, and each stage is computed the obvious way
(explicit gathers, enumeration of states, logaddexp, dense linear algebra).
"""

from __future__ import annotations

import numpy as np


def site_energies(spec, layout, theta, codes, placements=False):
    """dG [N, S] by brute force over every placement and strand (and, with placements=True,
    also the placement weights [N, n_resid] of sliding sites)."""
    from cisreg.data.alphabet import complement

    comp = complement(spec.alphabet)
    out = np.empty((codes.shape[0], len(spec.sites)))
    occ = []
    for j, s in enumerate(spec.sites):
        E = layout.view(theta, f"E.{s.name}")
        eps = float(layout.view(theta, f"eps.{s.name}"))
        pairs = s.pairs()
        P = layout.view(theta, f"P.{s.name}") if pairs else None
        bias = layout.view(theta, f"bias.{s.name}") if s.position_bias else None
        energies = []  # [N] per (strand, placement)
        for st in range(s.n_strands):
            for p in range(s.n_place):
                window = codes[:, s.start + p : s.start + p + s.width].astype(np.int64)
                if st == 1:  # the motif reads the reverse complement
                    window = np.asarray(comp)[window[:, ::-1]]
                e = E[np.arange(s.width)[None, :], window].sum(axis=1)
                for q, (a, b) in enumerate(pairs):
                    e = e + P[q][window[:, a], window[:, b]]
                if bias is not None:
                    e = e + bias[st, p]
                energies.append(e)
        en = np.stack(energies, axis=1)  # [N, configs]
        if s.n_configs > 1:
            lse = np.logaddexp.reduce(-en, axis=1)
            out[:, j] = eps - lse
            occ.append(np.exp(-en - lse[:, None]))
        else:
            out[:, j] = eps + en[:, 0]
    if placements:
        return out, (np.concatenate(occ, axis=1) if occ else np.zeros((codes.shape[0], 0)))
    return out


def thermo_state_logw(spec, layout, theta, dG):
    """State log-weights [N, K]: -(sum of bound dG) - (sum of interactions)."""
    names = [s.name for s in spec.sites]
    cols = []
    for st in spec.gpmap.states:
        w = np.zeros(dG.shape[0])
        for b in st.bound:
            w -= dG[:, names.index(b)]
        for i in st.interactions:
            w -= float(layout.view(theta, i))
        cols.append(w)
    return np.stack(cols, axis=1)


def thermo_activity(spec, layout, theta):
    a = []
    for st in spec.gpmap.states:
        a.append(float(layout.view(theta, f"act.{st.activity}")) if isinstance(st.activity, str) else st.activity)
    return np.array(a)


def thermo_phi(spec, layout, theta, codes):
    """(phi [N], state log-probabilities [N, K], logZ [N], dG [N, S])."""
    dG = site_energies(spec, layout, theta, codes)
    logw = thermo_state_logw(spec, layout, theta, dG)
    logZ = np.logaddexp.reduce(logw, axis=1)
    logp = logw - logZ[:, None]
    tsat = float(layout.view(theta, "t_sat"))
    phi = tsat * (np.exp(logp) * thermo_activity(spec, layout, theta)[None, :]).sum(axis=1)
    return phi, logp, logZ, dG


def mpa_logp(layout, theta, phi):
    """log p(y | phi) [N, Y] for MAVE-NN's MPA."""
    a = layout.view(theta, "mpa.a")
    b = layout.view(theta, "mpa.b")
    c = layout.view(theta, "mpa.c")
    d = layout.view(theta, "mpa.d")
    u = a[None, :] + (b[None] * np.tanh(c[None] * phi[:, None, None] + d[None])).sum(axis=2)
    return u - np.logaddexp.reduce(u, axis=1)[:, None]


def mpa_nll_rows(layout, theta, phi, counts):
    return -(counts * mpa_logp(layout, theta, phi)).sum(axis=1)


def ge_g(layout, theta, phi):
    a = float(layout.view(theta, "ge.a"))
    b = layout.view(theta, "ge.b")
    c = layout.view(theta, "ge.c")
    d = layout.view(theta, "ge.d")
    return a + (b[None] * np.tanh(c[None] * phi[:, None] + d[None])).sum(axis=1)


def ge_nll_rows(layout, theta, phi, targets, meas):
    """GE NLL per row: y = g + noise of scale sqrt(sigma^2 + dy^2), log sigma a polynomial
    in g; Gaussian, Cauchy or the Jones-Faddy skew-t centred at its mode."""
    from scipy.special import gammaln

    y, dy = targets[:, 0], targets[:, 1]
    g = ge_g(layout, theta, phi)
    logs = float(layout.view(theta, "ge.log_sigma")) + 0 * g
    if meas.heteroskedasticity:
        for k, e in enumerate(layout.view(theta, "ge.log_sigma_poly")):
            logs = logs + e * g ** (k + 1)
    s = np.sqrt(np.exp(2 * logs) + dy**2)
    r = (y - g) / s
    if meas.noise == "gaussian":
        return 0.5 * np.log(2 * np.pi) + np.log(s) + 0.5 * r**2
    if meas.noise == "cauchy":
        return np.log(np.pi) + np.log(s) + np.log1p(r**2)
    a = float(np.exp(layout.view(theta, "ge.log_a")))
    b = float(np.exp(layout.view(theta, "ge.log_b")))
    mode = (a - b) * np.sqrt(a + b) / np.sqrt((2 * a + 1) * (2 * b + 1))
    t = r + mode
    u = t / np.sqrt(a + b + t**2)
    logc = (a + b - 1) * np.log(2) + gammaln(a) + gammaln(b) - gammaln(a + b) + 0.5 * np.log(a + b)
    return np.log(s) + logc - (a + 0.5) * np.log1p(u) - (b + 0.5) * np.log1p(-u)


def counts_nll_rows(layout, theta, phi, targets, meas):
    """MPRA counts NLL per row: output_r ~ Poisson / NB(mean (input_r + pc) e^c_r g(phi))."""
    from scipy.special import gammaln

    R = len(meas.input)
    inp, out = targets[:, :R], targets[:, R:]
    if meas.link == "loglinear":
        lg = np.exp(float(layout.view(theta, "counts.log_slope"))) * phi
    else:
        w = np.exp(layout.view(theta, "counts.log_w"))
        c = np.exp(layout.view(theta, "counts.log_c"))
        d = layout.view(theta, "counts.d")
        g = np.exp(float(layout.view(theta, "counts.log_base"))) + (
            w[None] / (1 + np.exp(-(c[None] * phi[:, None] + d[None])))).sum(axis=1)
        lg = np.log(g)
    eta = np.log(inp + meas.pseudocount) + layout.view(theta, "counts.log_depth")[None, :] + lg[:, None]
    mu = np.exp(eta)
    if meas.noise == "poisson":
        return (mu - out * eta + gammaln(out + 1)).sum(axis=1)
    rd = np.exp(-layout.view(theta, "counts.log_dispersion"))[None, :]
    ll = gammaln(out + rd) - gammaln(rd) - gammaln(out + 1) + rd * np.log(rd / (rd + mu)) + out * np.log(mu / (rd + mu))
    return -ll.sum(axis=1)


def nll_rows(spec, layout, theta, phi, targets):
    m = spec.measurement
    if m.kind == "sortseq":
        return mpa_nll_rows(layout, theta, phi, targets)
    if m.kind == "ge":
        return ge_nll_rows(layout, theta, phi, targets, m)
    return counts_nll_rows(layout, theta, phi, targets, m)


def kinetic_phi(spec, layout, theta, codes):
    """(phi [N], state probabilities [N, n]) of a kinetic model by a dense linear solve of
    pi Q = 0, sum(pi) = 1 for every sequence (independent of both of the core's solvers)."""
    k = spec.gpmap
    dG = site_energies(spec, layout, theta, codes)
    names = [s.name for s in spec.sites]
    st = {s: i for i, s in enumerate(k.states)}
    n = len(k.states)
    N = codes.shape[0]
    logk = np.empty((N, len(k.transitions)))
    for e, t in enumerate(k.transitions):
        kappa = float(layout.view(theta, f"kappa.{t.rate}")) if isinstance(t.rate, str) else float(t.rate)
        logk[:, e] = kappa + sum(c * dG[:, names.index(s)] for s, c in t.energies)
    pi = np.empty((N, n))
    for r in range(N):
        Q = np.zeros((n, n))
        for e, t in enumerate(k.transitions):
            Q[st[t.source], st[t.target]] += np.exp(logk[r, e])
        Q -= np.diag(Q.sum(axis=1))
        M = np.vstack([Q.T, np.ones(n)])
        rhs = np.zeros(n + 1)
        rhs[-1] = 1.0
        pi[r] = np.linalg.lstsq(M, rhs, rcond=None)[0]
    tsat = float(layout.view(theta, "t_sat"))
    if k.flux:
        byname = {t.name: (e, t) for e, t in enumerate(k.transitions)}
        act = sum(np.exp(logk[:, byname[f][0]]) * pi[:, st[byname[f][1].source]] for f in k.flux)
    else:
        act = np.zeros(N)
        for s, c in k.occupancy:
            a = float(layout.view(theta, f"act.{c}")) if isinstance(c, str) else float(c)
            act = act + a * pi[:, st[s]]
    return tsat * act, pi
