"""cisreg: biophysical models of cis-regulation, fitted to MPRA and sort-seq data."""

from __future__ import annotations

try:
    from . import _core
except ImportError as err:  # pragma: no cover - only without a build
    raise ImportError(
        "cisreg's compiled core (cisreg._core) is missing. Install the package with "
        "`pip install .` from the source tree so that the C++ extension is built."
    ) from err

__version__ = "0.1.0"
__all__ = ["__version__"]
