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

try:
    from . import _core  # noqa: F401  (imported first: a missing build fails here, clearly)
except ImportError as err:  # pragma: no cover - only without a build
    raise ImportError(
        "cisreg's compiled core (cisreg._core) is missing. Install the package with "
        "`pip install .` from the source tree so that the C++ extension is built."
    ) from err


from . import fit, simulate
from ._threads import cuda_available, effective_n_threads
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
from .errors import DataWarning, InputError, ModelFileError
from .fit.evaluate import evaluate
from .fit.result import FitResult
from .models import Model, ModelSpec, preset, read_spec, spec_from_dict
from .models.io import load_model as load
from .models.io import save_model as save
from .variants import design, scan

__all__ = [
    "DataWarning", "Dataset", "FitResult", "InputError", "Model", "ModelFileError", "ModelSpec", "__version__",
    "cuda_available", "decode", "design", "effective_n_threads", "encode", "evaluate", "fit", "from_dataframe",
    "load", "load_example", "preset", "read_barcodes", "read_fasta", "read_sequences", "read_spec",
    "read_table", "save", "scan", "simulate",
    "spec_from_dict",
]


def __dir__() -> list[str]:
    return __all__
