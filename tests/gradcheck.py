"""Central-difference gradient checks in float64."""

from __future__ import annotations

import numpy as np


def check_directional(f, grad, theta, rng, *, n_dirs=5, mask=None, rtol=1e-6, atol=1e-8, h=None):
    """Compare g.v with (f(theta + h v) - f(theta - h v)) / 2h along random unit
    directions v (restricted to ``mask``). Returns the worst |a - fd| / (atol + rtol |fd|)."""
    theta = np.asarray(theta, dtype=np.float64)
    h = h if h is not None else 1e-6 * max(1.0, float(np.linalg.norm(theta)) / np.sqrt(theta.size))
    worst = 0.0
    for _ in range(n_dirs):
        v = rng.normal(size=theta.size)
        if mask is not None:
            v[~mask] = 0.0
        nv = np.linalg.norm(v)
        if nv == 0:
            continue
        v /= nv
        fd = (f(theta + h * v) - f(theta - h * v)) / (2 * h)
        a = float(grad @ v)
        err = abs(a - fd) / (atol + rtol * abs(fd))
        assert err <= 1.0, f"directional derivative {a!r} vs finite difference {fd!r}"
        worst = max(worst, err)
    return worst


def check_coordinates(f, grad, theta, idx, *, rtol=1e-6, atol=1e-8, h=1e-6):
    """Central differences along individual coordinates ``idx``."""
    theta = np.asarray(theta, dtype=np.float64)
    for i in idx:
        e = np.zeros_like(theta)
        e[i] = h
        fd = (f(theta + e) - f(theta - e)) / (2 * h)
        assert abs(grad[i] - fd) <= atol + rtol * abs(fd), f"coordinate {i}: gradient {grad[i]!r} vs {fd!r}"
