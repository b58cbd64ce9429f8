"""Adam on one flat parameter vector, vectorised and in place."""

from __future__ import annotations

import numpy as np


class Adam:
    """Adam (Kingma & Ba 2015) over a flat float64 vector.

    Only entries where ``mask`` is True are updated. State (moments, step count)
    can be saved and restored for resumable fits.
    """

    def __init__(self, size: int, *, learning_rate: float = 0.01, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, mask: np.ndarray | None = None) -> None:
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate}")
        self.lr = float(learning_rate)
        self.b1, self.b2, self.eps = float(beta1), float(beta2), float(eps)
        self.m = np.zeros(size)
        self.v = np.zeros(size)
        self.t = 0
        self.mask = np.ones(size, bool) if mask is None else np.asarray(mask, bool)
        self._step = np.empty(size)

    def step(self, theta: np.ndarray, grad: np.ndarray) -> None:
        """One update of ``theta`` in place from ``grad`` (which is not modified)."""
        self.t += 1
        b1, b2 = self.b1, self.b2
        self.m *= b1
        self.m += (1.0 - b1) * grad
        self.v *= b2
        self.v += (1.0 - b2) * (grad * grad)
        lr_t = self.lr * np.sqrt(1.0 - b2**self.t) / (1.0 - b1**self.t)
        s = self._step
        np.sqrt(self.v, out=s)
        s += self.eps
        np.divide(self.m, s, out=s)
        s *= lr_t
        s[~self.mask] = 0.0
        theta -= s

    def state(self) -> dict[str, np.ndarray]:
        return {"adam_m": self.m.copy(), "adam_v": self.v.copy(), "adam_t": np.array(float(self.t))}

    def load_state(self, st: dict[str, np.ndarray]) -> None:
        if st["adam_m"].shape != self.m.shape or st["adam_v"].shape != self.v.shape:
            raise ValueError("optimiser state does not match the number of parameters")
        self.m[:] = st["adam_m"]
        self.v[:] = st["adam_v"]
        self.t = int(st["adam_t"])
