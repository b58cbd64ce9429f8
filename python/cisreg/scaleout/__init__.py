"""Beyond one process: many fits on a Dask cluster, and one fit over data partitions.

- :func:`fit_many`: independent jobs (data, model, settings), each a model directory;
  resumable, failures recorded per job, kernel threads pinned per worker.
- :func:`fit_partitioned`: one model on data split into partitions that live on the
  workers; loss and gradient of each partition from the C++ kernels, reduced on the
  client in partition order (bit-identical to the serial path with the same partitions).

Dask (``pip install "cisreg[dask]"``) is imported only when these run.
"""

from __future__ import annotations

from .dataparallel import fit_partitioned
from .jobs import Job, fit_many, local_client, read_jobs

__all__ = ["Job", "fit_many", "fit_partitioned", "local_client", "read_jobs"]
