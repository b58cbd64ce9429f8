"""Fitting: the optimiser loop, checkpoints, metrics and reports.

``cisreg.fit`` is this package and, called, the fitting function
(:func:`cisreg.fit.loop.fit`): ``cisreg.fit(data, "lac")`` fits, and
``cisreg.fit.metrics`` / ``import cisreg.fit.metrics`` reach the submodules.
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any

from .loop import fit as _fit
from .result import FitResult

__all__ = ["FitResult"]


class _FitPackage(types.ModuleType):
    """The package, callable as the fitting function."""

    def __call__(self, *args: Any, **kwargs: Any) -> FitResult:
        return _fit(*args, **kwargs)


sys.modules[__name__].__class__ = _FitPackage
# Called, the package is cisreg.fit.loop.fit: tools that ask for its signature and help
# (inspect.signature, notebooks, IDEs) get the function's.
__signature__ = inspect.signature(_fit)
__doc__ = (_fit.__doc__ or "") + "\n" + (__doc__ or "")
