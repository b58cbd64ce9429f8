"""Training: the optimiser loop, the steppers of the back ends, checkpoints, metrics and
reports. The fitting function is :func:`cisreg.fit` (:func:`cisreg.training.loop.fit`).

Earlier versions named this subpackage ``cisreg.fit``; ``import cisreg.fit.metrics``,
``from cisreg.fit.loop import ...`` and ``cisreg.fit.metrics`` still reach these modules.
"""

from __future__ import annotations

from .loop import fit
from .result import FitResult

__all__ = ["FitResult", "fit"]
