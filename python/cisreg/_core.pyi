"""Typed stubs of cisreg._core (checked against the module by tests/test_stubs.py and by
``python -m mypy.stubtest cisreg._core``).

cisreg compiled core: site energies, partition functions, kinetic steady states, measurement likelihoods and their gradients
"""
from __future__ import annotations

import collections.abc
import typing

import numpy
import numpy.typing

class Site:
    """
    One site of layer 1 (see cpp/include/cisreg/model.hpp).
    """
    def __init__(self, start: typing.SupportsInt | typing.SupportsIndex, width: typing.SupportsInt | typing.SupportsIndex, e_offset: typing.SupportsInt | typing.SupportsIndex, eps_offset: typing.SupportsInt | typing.SupportsIndex, n_place: typing.SupportsInt | typing.SupportsIndex = 1, strands: typing.SupportsInt | typing.SupportsIndex = 1, pair_offset: typing.SupportsInt | typing.SupportsIndex = -1, pair_begin: typing.SupportsInt | typing.SupportsIndex = 0, n_pairs: typing.SupportsInt | typing.SupportsIndex = 0, bias_offset: typing.SupportsInt | typing.SupportsIndex = -1, resid_begin: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        ...
    @property
    def n_configs(self) -> int:
        ...
    @property
    def n_place(self) -> int:
        ...
    @property
    def resid_begin(self) -> int:
        ...
    @property
    def start(self) -> int:
        ...
    @property
    def strands(self) -> int:
        ...
    @property
    def width(self) -> int:
        ...
class Network:
    """
    A network of nodes: thermodynamic states or King-Altman spanning trees.
    """
    def __init__(self, a_ptr: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], a_site: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], a_coef: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], b_const: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], b_ptr: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], b_param: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], b_coef: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], node_state: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], n_states: typing.SupportsInt | typing.SupportsIndex, act_const: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], act_param: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], tsat_param: typing.SupportsInt | typing.SupportsIndex, tsat_const: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def n_nodes(self) -> int:
        ...
    @property
    def n_states(self) -> int:
        ...
class KineticNet:
    """
    A kinetic graph for the per-sequence linear solver.
    """
    def __init__(self, n_states: typing.SupportsInt | typing.SupportsIndex, edge_src: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], edge_dst: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], edge_kappa_param: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], edge_kappa_const: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], e_ptr: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], e_site: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], e_coef: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], occ_const: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], occ_param: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], flux_edges: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], tsat_param: typing.SupportsInt | typing.SupportsIndex, tsat_const: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def n_edges(self) -> int:
        ...
    @property
    def n_states(self) -> int:
        ...
class Measurement:
    """
    A measurement process p(y | phi).
    """
    def __init__(self, kind: str, n_bins: typing.SupportsInt | typing.SupportsIndex = 1, hidden: typing.SupportsInt | typing.SupportsIndex = 1, noise: str = 'gaussian', offset: typing.SupportsInt | typing.SupportsIndex = 0, het: typing.SupportsInt | typing.SupportsIndex = 0, replicates: typing.SupportsInt | typing.SupportsIndex = 1, link: str = 'loglinear', pseudocount: typing.SupportsFloat | typing.SupportsIndex = 0.5) -> None:
        ...
    @property
    def het(self) -> int:
        ...
    @property
    def hidden(self) -> int:
        ...
    @property
    def kind(self) -> str:
        ...
    @property
    def n_bins(self) -> int:
        ...
    @property
    def n_params(self) -> int:
        ...
    @property
    def n_targets(self) -> int:
        ...
    @property
    def noise(self) -> str:
        ...
    @property
    def offset(self) -> int:
        ...
    @property
    def replicates(self) -> int:
        ...
class Model:
    """
    A compiled model: site model, G-P map and measurement, checked once.
    """
    def __init__(self, n_params: typing.SupportsInt | typing.SupportsIndex, alphabet_size: typing.SupportsInt | typing.SupportsIndex, length: typing.SupportsInt | typing.SupportsIndex, sites: collections.abc.Sequence[Site], gpmap: typing.Any, measurement: Measurement, pair_i: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex] = [], pair_j: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex] = [], complement: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex] = []) -> None:
        ...
    def chunk_rows(self, batch_rows: typing.SupportsInt | typing.SupportsIndex) -> int:
        """
        Rows per chunk of the deterministic reduction for a batch of this many rows.
        """
    @property
    def alphabet_size(self) -> int:
        ...
    @property
    def gpmap(self) -> str:
        ...
    @property
    def length(self) -> int:
        ...
    @property
    def measurement(self) -> Measurement:
        ...
    @property
    def n_nodes(self) -> int:
        ...
    @property
    def n_params(self) -> int:
        ...
    @property
    def n_resid(self) -> int:
        ...
    @property
    def n_sites(self) -> int:
        ...
    @property
    def n_states(self) -> int:
        ...
class CudaSession:
    """
    Codes, targets and weights uploaded once to a CUDA device; theta, the Adam state and row-index arrays kept there (see cpp/kernels/cuda/session.hpp).
    """
    STATUS_BAD_INPUT: typing.ClassVar[int] = 8
    STATUS_NONFINITE_GRAD: typing.ClassVar[int] = 2
    STATUS_NONFINITE_LOSS: typing.ClassVar[int] = 1
    STATUS_NONFINITE_THETA: typing.ClassVar[int] = 4
    def __init__(self, model: Model, codes: typing.Any, targets: typing.Any, weights: typing.Any = None, *, dtype: str = 'float64', device: typing.SupportsInt | typing.SupportsIndex = 0, residency: str = 'auto') -> None:
        ...
    def adam_configure(self, learning_rate: typing.SupportsFloat | typing.SupportsIndex, beta1: typing.SupportsFloat | typing.SupportsIndex, beta2: typing.SupportsFloat | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex, l2: typing.Any, mask: typing.Any) -> None:
        """
        Adam settings (python/cisreg/training/adam.py), the per-parameter L2 strength and the trainable mask; resets the moments.
        """
    def adam_reset(self) -> None:
        ...
    def adam_state(self) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64], int]:
        ...
    def get_best(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
    def get_theta(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
    def keep_best(self) -> None:
        """
        best theta (on the device) = theta
        """
    def loss_and_grad(self, theta: typing.Any = None, rows: typing.Any = None, *, slot: typing.SupportsInt | typing.SupportsIndex = -1, offset: typing.SupportsInt | typing.SupportsIndex = 0, count: typing.SupportsInt | typing.SupportsIndex = -1, want_grad: bool = True, per_row: bool = False) -> typing.Any:
        """
        (loss, grad) over rows (an int64 array), or rows[slot][offset : offset + count] of a stored slot (slot -1: every row); theta, if given, is uploaded first.
        """
    def phi(self, theta: typing.Any = None, rows: typing.Any = None, *, slot: typing.SupportsInt | typing.SupportsIndex = -1, offset: typing.SupportsInt | typing.SupportsIndex = 0, count: typing.SupportsInt | typing.SupportsIndex = -1, details: bool = False, placements: bool = False) -> typing.Any:
        """
        phi of the selected rows (as _core.phi: details=True adds dG, log state probabilities and logZ).
        """
    def rows_len(self, slot: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    def set_adam_state(self, m: typing.Any, v: typing.Any, t: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def set_rows(self, slot: typing.SupportsInt | typing.SupportsIndex, rows: typing.Any) -> None:
        """
        Upload a row-index array into slot 0..7 (slot 7 is used by rows=...).
        """
    def set_theta(self, theta: typing.Any) -> None:
        ...
    def train_step(self, slot: typing.SupportsInt | typing.SupportsIndex, offset: typing.SupportsInt | typing.SupportsIndex, count: typing.SupportsInt | typing.SupportsIndex, reads: typing.SupportsFloat | typing.SupportsIndex) -> tuple[float, int]:
        """
        One minibatch on the device: loss and gradient over rows[slot][offset : offset + count], g = grad / reads + l2 theta (reads: the normalizer; the fit loop passes count), one Adam step. Returns (loss, status); status is 0 or a sum of the STATUS_* bits (then theta was not updated, except for STATUS_NONFINITE_THETA).
        """
    @property
    def data_on_device(self) -> bool:
        ...
    @property
    def device(self) -> int:
        ...
    @property
    def dtype(self) -> str:
        ...
    @property
    def n_params(self) -> int:
        ...
    @property
    def n_rows(self) -> int:
        ...
def _cuda_image_check(model: Model, theta0: typing.Any, theta1: typing.Any, dtype: str = 'float64') -> str:
    """
    Host check of the CUDA back end's plan image: built for theta0, refreshed to theta1, it must hold what the CPU plan of theta1 holds, and its flush map must match the CPU's. Returns '' or the first difference.
    """
def cpu_kernel_level() -> str:
    """
    The CPU kernel level that isa='auto' runs.
    """
def cuda_available() -> bool:
    """
    Whether this build has the CUDA back end and a device is visible.
    """
def cuda_device_info(device: typing.SupportsInt | typing.SupportsIndex = 0) -> dict[str, typing.Any]:
    """
    What the CUDA back end sees: whether it is built in, the devices visible and the properties of one.
    """
def has_openmp() -> bool:
    ...
def kernel_levels() -> list[str]:
    """
    The CPU kernel levels compiled into this build (not all may run on this CPU).
    """
def loss_and_grad(model: Model, codes: typing.Any, targets: typing.Any, theta: typing.Any, rows: typing.Any = None, n_threads: typing.SupportsInt | typing.SupportsIndex = 1, want_grad: bool = True, grad_out: typing.Any = None, per_row: bool = False, *, weights: typing.Any = None, dtype: str = 'float64', isa: str = 'auto', device: str = 'cpu') -> typing.Any:
    """
    Summed (weighted) negative log-likelihood over the selected rows and its gradient: (loss, grad); grad_out, if given, is overwritten; per_row=True adds the per-row NLL.
    """
def max_threads() -> int:
    ...
def measurement_forward(model: Model, theta: typing.Any, phi: typing.Any, n_threads: typing.SupportsInt | typing.SupportsIndex = 1, *, isa: str = 'auto') -> numpy.typing.NDArray[numpy.float64]:
    """
    log p(y|phi) [b, Y] for sort-seq; g(phi) [b, 1] for GE; for counts [b, 1] the log of the expected output per input read at the replicates' mean depth.
    """
def phi(model: Model, codes: typing.Any, theta: typing.Any, rows: typing.Any = None, n_threads: typing.SupportsInt | typing.SupportsIndex = 1, details: bool = False, *, placements: bool = False, dtype: str = 'float64', isa: str = 'auto', device: str = 'cpu') -> typing.Any:
    """
    phi [b] for each selected row; details=True adds (dG [b,S], log state probabilities [b,K], logZ [b]); placements=True adds the placement weights of sliding sites [b, n_resid].
    """
def phi_vjp(model: Model, codes: typing.Any, theta: typing.Any, cotangent: typing.Any, rows: typing.Any = None, n_threads: typing.SupportsInt | typing.SupportsIndex = 1, grad_out: typing.Any = None, *, dtype: str = 'float64', isa: str = 'auto', device: str = 'cpu') -> typing.Any:
    """
    sum_i cotangent[i] d phi_i / d theta [P] (the vector-Jacobian product of phi).
    """
def set_cpu_kernel_level(level: str) -> str:
    """
    Make `level` (one of kernel_levels(), or 'auto' for the CPU's own) the level that isa='auto' runs in every later call of this process; returns the level it ran before. Raises InputError for a level this CPU cannot run.
    """
def set_min_thread_work(work: typing.SupportsInt | typing.SupportsIndex) -> int:
    """
    Set the least row work (about one unit per table lookup or hidden unit) for which a kernel call uses another thread (0: always use the threads asked for); returns the previous value. Process-wide.
    """
def row_work(model: Model) -> int:
    """
    Work per row of the model, in the units of set_min_thread_work.
    """
def adam_epoch(model: Model, codes: typing.Any, targets: typing.Any, theta: typing.Any, adam_m: typing.Any, adam_v: typing.Any, adam_t: typing.SupportsInt | typing.SupportsIndex, order: typing.Any, batch_size: typing.SupportsInt | typing.SupportsIndex, amounts: typing.Any, l2: typing.Any, *, learning_rate: typing.SupportsFloat | typing.SupportsIndex = 0.01, beta1: typing.SupportsFloat | typing.SupportsIndex = 0.9, beta2: typing.SupportsFloat | typing.SupportsIndex = 0.999, eps: typing.SupportsFloat | typing.SupportsIndex = 1e-08, mask: typing.Any = None, weights: typing.Any = None, n_threads: typing.SupportsInt | typing.SupportsIndex = 1, dtype: str = 'float64', isa: str = 'auto', device: str = 'cpu') -> tuple[float, float, int, str]:
    """
    One epoch of minibatch Adam in the core: the rows `order` in minibatches of batch_size (each sorted), per minibatch the gradient of its loss per row (a minibatch without reads, by amounts, is skipped) plus l2 * theta and one Adam step, updating theta, adam_m and adam_v in place. Returns (summed loss, reads, adam_t, status), status 'complete' or 'diverged' (a non-finite loss, gradient or parameter: theta is then the diverged one).
    """
