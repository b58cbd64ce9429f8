"""cisreg: biophysical models of cis-regulation, fitted to MPRA and sort-seq data.

Quick tour::

    import cisreg
    data = cisreg.load_example("lac-sortseq")          # Kinney et al. 2010 sort-seq data
    result = cisreg.fit(data, cisreg.preset("lac"))    # CRP + RNAP thermodynamic model
    result.model.get_theta(units="kcal/mol")["interactions"]   # {'dG_I': ...}
    cisreg.evaluate(result.model, data)["test"]["I_pred_bits"]
    result.model.save("lac_model"); model = cisreg.load("lac_model")
"""

from __future__ import annotations

import os as _os
import typing as _typing

# Kernel threads sleep, rather than spin, between calls (unless the user chose otherwise):
# a spinning OpenMP thread takes a core from whatever runs next (scipy's L-BFGS and its BLAS
# threads, another process), which made a full-batch L-BFGS polish 15x slower on 2 cores.
# Read by the OpenMP runtime when it starts, so it must be set before _core is loaded.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    from . import _core  # noqa: F401  (imported first: a missing build fails here, clearly)
except ImportError as err:  # pragma: no cover - only without a build
    raise ImportError(
        "cisreg's compiled core (cisreg._core) is missing. Install the package with "
        "`pip install .` from the source tree so that the C++ extension is built."
    ) from err


from . import simulate, training
from ._threads import cpu_kernel_levels, cuda_available, effective_n_threads, kernel_level
from ._version import __version__
from .data import (
    Dataset,
    decode,
    encode,
    from_dataframe,
    load_example,
    read_barcodes,
    read_fasta,
    read_sequences,
    read_table,
)
from .data.mavedb import read_mavedb
from .errors import DataWarning, InputError, ModelFileError
from .models import Model, ModelSpec, preset, read_spec, spec_from_dict
from .models.io import load_model as load
from .models.io import save_model as save
from .training.evaluate import evaluate
from .training.loop import fit
from .training.result import FitResult
from .variants import design, scan

if not _typing.TYPE_CHECKING:
    # At run time, cisreg.fit is also the old name of the training subpackage (see _compat):
    # called, the function; cisreg.fit.metrics and import cisreg.fit.metrics, its modules.
    from ._compat import install_fit_alias as _install_fit_alias

    fit = _install_fit_alias(fit)

__all__ = [
    "DataWarning", "Dataset", "FitResult", "InputError", "Model", "ModelFileError", "ModelSpec", "__version__",
    "cpu_kernel_levels", "cuda_available", "decode", "design", "effective_n_threads", "encode", "evaluate", "fit",
    "from_dataframe", "kernel_level", "load", "load_example", "preset", "read_barcodes", "read_fasta",
    "read_mavedb", "read_sequences", "read_spec", "read_table", "save", "scan", "simulate", "spec_from_dict",
    "training",
]


def __dir__() -> list[str]:
    return __all__
