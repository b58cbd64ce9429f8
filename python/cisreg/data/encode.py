"""Vectorised conversion between sequence strings and uint8 codes.

The code of a letter is its index in the alphabet (``"ACGT"``: A=0, C=1, G=2,
T=3). All sequences are joined into one ASCII byte string and mapped through a
256-entry lookup table, so encoding costs a few numpy operations whatever the
number of sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cisreg.data.alphabet import resolve_alphabet
from cisreg.errors import InputError

__all__ = ["decode", "encode"]

_INVALID = 255


def _lookup_table(alphabet: str) -> np.ndarray:
    """Return the 256-entry table mapping a byte to its code (255: invalid)."""
    table = np.full(256, _INVALID, dtype=np.uint8)
    for code, letter in enumerate(alphabet):
        table[ord(letter.upper())] = code
        table[ord(letter.lower())] = code
    return table


def _describe_missing(value: Any) -> str:
    """Describe a non-string entry for an error message."""
    if value is None or (isinstance(value, float) and value != value):
        return "is missing (an empty cell or NaN)"
    if value is pd.NA or value is pd.NaT:
        return "is missing (an empty cell or NA)"
    return f"is not a string but {type(value).__name__} {value!r}"


def _as_list(seqs: Any, source: str | None) -> list[Any]:
    """Return the sequences as a Python list, rejecting unusable containers."""
    if isinstance(seqs, (str, bytes)):
        raise InputError(
            "expected a list of sequences but got a single string; "
            "wrap it in a list, e.g. encode([seq])",
            source=source,
        )
    if isinstance(seqs, pd.Series):
        as_list: list[Any] = seqs.tolist()
        return as_list
    if isinstance(seqs, np.ndarray):
        if seqs.ndim != 1:
            raise InputError(
                f"expected a 1-D array of sequences but got shape {seqs.shape}; "
                "pass one string per sequence",
                source=source,
            )
        from_array: list[Any] = seqs.tolist()
        return from_array
    if isinstance(seqs, (list, tuple)):
        return list(seqs)
    if isinstance(seqs, Sequence):
        return list(seqs)
    raise InputError(
        f"expected a list, tuple, numpy array or pandas Series of strings, "
        f"got {type(seqs).__name__}",
        source=source,
    )


def _encode(
    seqs: Any,
    alphabet: str,
    *,
    source: str | None = None,
    column: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Encode sequences; also return which of them contained lower case.

    Errors name the sequence index as the row (and ``column`` when given), so
    a caller that encodes a table column in file order gets data rows.

    Returns
    -------
    codes : numpy.ndarray
        uint8 array [N, L], C-contiguous.
    lowercase : numpy.ndarray
        bool array [N], True where the sequence had a lower-case letter.
    """
    letters = resolve_alphabet(alphabet)
    items = _as_list(seqs, source)
    n = len(items)
    if n == 0:
        raise InputError(
            "no sequences given; pass at least one sequence", source=source,
            column=column,
        )

    try:
        joined = "".join(items)
    except TypeError:
        # Only on the error path: find the first entry that is not a string.
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise InputError(
                    f"the sequence {_describe_missing(item)}; every sequence "
                    "must be a string of letters - fill in or remove this row",
                    source=source, row=i, column=column,
                ) from None
        raise  # pragma: no cover - join failed for another reason

    lengths = np.fromiter(map(len, items), dtype=np.int64, count=n)
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        raise InputError(
            "the sequence is empty (length 0); remove this row or fill in "
            "its sequence",
            source=source, row=int(empty[0]), column=column,
        )
    length = int(lengths[0])
    unequal = np.flatnonzero(lengths != length)
    if unequal.size:
        i = int(unequal[0])
        raise InputError(
            f"the sequence has length {int(lengths[i])} but expected length "
            f"{length} (the length of the first sequence); all sequences must "
            "have the same length - trim, pad or remove the rows that differ",
            source=source, row=i, column=column,
        )

    allowed = "/".join(letters)
    advice = (
        f"allowed letters are {allowed} (either case); ambiguous IUPAC codes "
        "such as N are not supported - remove these rows or resolve the "
        "letters"
    )
    try:
        raw = joined.encode("ascii")
    except UnicodeEncodeError as exc:
        pos = exc.start
        raise InputError(
            f"the sequence has a non-ASCII character {joined[pos]!r} at "
            f"position {pos % length} (0-based); {advice}",
            source=source, row=pos // length, column=column,
        ) from None

    flat = _lookup_table(letters)[np.frombuffer(raw, dtype=np.uint8)]
    bad = np.flatnonzero(flat == _INVALID)
    if bad.size:
        pos = int(bad[0])
        raise InputError(
            f"the sequence has an invalid character {joined[pos]!r} at "
            f"position {pos % length} (0-based); {advice}",
            source=source, row=pos // length, column=column,
        )
    codes = np.ascontiguousarray(flat.reshape(n, length))
    # Lower-case ASCII letters are the bytes >= 'a' (0x61); valid input has
    # no other bytes that large.
    lowercase = np.asarray((np.frombuffer(raw, dtype=np.uint8) >= ord("a")).reshape(n, length).any(axis=1))
    return codes, lowercase


def encode(
    seqs: Sequence[str] | np.ndarray | pd.Series,
    alphabet: str = "ACGT",
    *,
    source: str | None = None,
) -> np.ndarray:
    """Encode equal-length sequences as a uint8 array of letter codes.

    Parameters
    ----------
    seqs : list, tuple, numpy.ndarray or pandas.Series of str
        The sequences, all of the same non-zero length. Lower-case letters are
        accepted and encoded as their upper-case counterparts.
    alphabet : str, default "ACGT"
        The alphabet, by name (``"dna"``, ``"rna"``) or letters (``"ACGT"``,
        ``"ACGU"``); the code of a letter is its index in the letters.
    source : str, optional
        Name of where the sequences came from, used in error messages.

    Returns
    -------
    numpy.ndarray
        uint8 array of shape [N, L], C-contiguous.

    Raises
    ------
    InputError
        If there are no sequences, an entry is not a string (e.g. NaN from a
        missing cell), a sequence is empty, the lengths differ, or a
        character is not in the alphabet (including non-ASCII characters and
        IUPAC ambiguity codes such as N). The message names the row (the
        0-based index of the sequence) and, for a bad character, its 0-based
        position.

    Examples
    --------
    >>> encode(["ACGT", "tgca"])
    array([[0, 1, 2, 3],
           [3, 2, 1, 0]], dtype=uint8)
    """
    return _encode(seqs, alphabet, source=source)[0]


def decode(codes: np.ndarray, alphabet: str = "ACGT") -> np.ndarray:
    """Turn an array of letter codes back into upper-case strings.

    Parameters
    ----------
    codes : numpy.ndarray
        Integer array of shape [N, L] with values in ``0 .. len(alphabet)-1``.
    alphabet : str, default "ACGT"
        The alphabet, by name or letters (see :func:`encode`).

    Returns
    -------
    numpy.ndarray
        Unicode string array of shape [N] (dtype ``<UL``).

    Raises
    ------
    InputError
        If ``codes`` is not 2-D or holds a value outside the alphabet.

    Examples
    --------
    >>> decode(encode(["acgt"]))
    array(['ACGT'], dtype='<U4')
    """
    letters = resolve_alphabet(alphabet)
    arr = np.asarray(codes)
    if arr.ndim != 2:
        raise InputError(
            f"codes must be a 2-D array [N, L], got shape {arr.shape}",
            source="argument codes",
        )
    if arr.dtype.kind not in "ui":
        raise InputError(
            f"codes must be an integer array, got dtype {arr.dtype}",
            source="argument codes",
        )
    n, length = arr.shape
    if length == 0:
        return np.full(n, "", dtype="<U1")
    bad = np.flatnonzero(((arr < 0) | (arr >= len(letters))).ravel())
    if bad.size:
        pos = int(bad[0])
        raise InputError(
            f"code {int(arr.flat[pos])} at position {pos % length} is not in "
            f"0..{len(letters) - 1} for alphabet {letters}",
            source="argument codes", row=pos // length,
        )
    table = np.frombuffer(letters.encode("ascii"), dtype=np.uint8)
    as_bytes = np.ascontiguousarray(table[arr])
    out: np.ndarray = as_bytes.view(f"S{length}").reshape(n).astype(f"<U{length}")
    return out
