"""Mutants of a wild-type sequence as uint8 code arrays, their names, and the engine call.

Everything here is vectorised over variants: the code arrays of all single or double
mutants are built with a few numpy operations (no Python loop over variants), and their
names with numpy's string ufuncs.

Conventions
-----------
Positions in mutation names are 1-based (``A12G``: the A at position 12 becomes G); a double
mutant is named by its two single mutations in increasing position, joined by a comma
(``A12G,T30C``). Alternative letters at a position are listed in alphabet order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._threads import effective_n_threads
from ..data.alphabet import resolve_alphabet
from ..data.encode import encode
from ..errors import InputError

__all__ = [
    "alternatives",
    "check_wt",
    "double_mutants",
    "evaluate_details",
    "evaluate_phi",
    "hamming",
    "mutation_names",
    "single_mutants",
]


def check_wt(model: Any, wt: Any) -> np.ndarray:
    """The codes [L] of the wild type ``wt`` after checking it against ``model``.

    Raises
    ------
    InputError
        If ``wt`` is not a string, has the wrong length, or holds a letter outside the
        model's alphabet (the message names the position, 1-based, and the alphabet).
    """
    if not isinstance(wt, str):
        raise InputError(f"the wild type must be a string of letters, got {type(wt).__name__}", source="wt")
    wt = wt.strip()
    L = model.spec.length
    letters = resolve_alphabet(model.alphabet)
    if len(wt) != L:
        raise InputError(f"the wild type has length {len(wt)}, but the model expects sequences of length {L}",
                         source="wt")
    allowed = set(letters) | set(letters.lower())
    bad = [i for i, c in enumerate(wt) if c not in allowed]
    if bad:
        i = bad[0]
        raise InputError(f"the wild type has the letter {wt[i]!r} at position {i + 1} (1-based), which is not in "
                         f"the model's alphabet {letters}", source="wt")
    out: np.ndarray = encode([wt], letters)[0]
    return out


def alternatives(wt_codes: np.ndarray, n_letters: int) -> np.ndarray:
    """The codes [L, A-1] of the letters other than the wild type's at each position, in alphabet order."""
    j = np.arange(n_letters - 1, dtype=np.int64)[None, :]
    return (j + (j >= wt_codes[:, None])).astype(np.uint8)


def single_mutants(wt_codes: np.ndarray, n_letters: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All L(A-1) single mutants of ``wt_codes``.

    Returns
    -------
    codes : numpy.ndarray
        uint8 [L(A-1), L], row ``p(A-1) + j`` carrying the ``j``-th alternative letter at position ``p``.
    pos : numpy.ndarray
        int64 [L(A-1)], the mutated position (0-based).
    alt : numpy.ndarray
        uint8 [L(A-1)], the new letter's code.
    """
    L = wt_codes.shape[0]
    alt = alternatives(wt_codes, n_letters).ravel()
    pos = np.repeat(np.arange(L, dtype=np.int64), n_letters - 1)
    codes = np.repeat(wt_codes[None, :], pos.shape[0], axis=0)
    codes[np.arange(pos.shape[0]), pos] = alt
    return codes, pos, alt


def double_mutants(wt_codes: np.ndarray, n_letters: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All C(L,2)(A-1)^2 double mutants of ``wt_codes``.

    Returns
    -------
    codes : numpy.ndarray
        uint8 [C(L,2)(A-1)^2, L], ordered by the first position, then the second, then the
        first new letter, then the second.
    first, second : numpy.ndarray
        int64 indices of the two single mutations of each row into the rows of
        :func:`single_mutants` (``first`` at the smaller position).
    """
    L = wt_codes.shape[0]
    a = n_letters - 1
    i, j = np.triu_indices(L, 1)
    ka, kb = np.divmod(np.arange(a * a, dtype=np.int64), a)
    first = (i[:, None] * a + ka[None, :]).ravel()
    second = (j[:, None] * a + kb[None, :]).ravel()
    alt = alternatives(wt_codes, n_letters).ravel()
    n = first.shape[0]
    codes = np.repeat(wt_codes[None, :], n, axis=0)
    rows = np.arange(n)
    codes[rows, first // a] = alt[first]
    codes[rows, second // a] = alt[second]
    return codes, first, second


def mutation_names(letters: str, pos: np.ndarray, ref: np.ndarray, alt: np.ndarray) -> np.ndarray:
    """Names such as ``A12G`` (1-based positions) of mutations given by 0-based position and codes."""
    lut = np.array(list(letters), dtype="<U1")
    pos = np.asarray(pos) + 1
    digits = len(str(int(pos.max()))) if pos.size else 1  # narrow strings join several times faster
    return np.char.add(np.char.add(lut[ref], pos.astype(f"<U{digits}")), lut[alt])


def join_names(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a,b`` element-wise."""
    return np.char.add(np.char.add(a, ","), b)


def hamming(codes: np.ndarray, wt_codes: np.ndarray) -> np.ndarray:
    """Number of positions at which each row of ``codes`` differs from ``wt_codes``."""
    out: np.ndarray = np.count_nonzero(codes != wt_codes[None, :], axis=1)
    return out


def evaluate_phi(model: Any, codes: np.ndarray, *, n_threads: int | None = None, dtype: str = "float64") -> np.ndarray:
    """phi of every row of ``codes`` in one batched engine call."""
    out: np.ndarray = _core.phi(model.core, codes, model.theta, None, effective_n_threads(n_threads),
                                dtype=dtype)
    return out


def evaluate_details(model: Any, codes: np.ndarray, *, n_threads: int | None = None,
                     dtype: str = "float64") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """phi [N], site energies dG [N, S] (kT; sliding sites: the effective, log-sum-exp ΔG) and
    state probabilities [N, K] of every row of ``codes`` in one batched engine call."""
    phi, dG, logp, _ = _core.phi(model.core, codes, model.theta, None, effective_n_threads(n_threads), True,
                                 dtype=dtype)
    return phi, dG, np.exp(logp)
