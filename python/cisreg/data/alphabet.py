"""Sequence alphabets understood by cisreg.

An alphabet is a string of distinct upper-case letters; the code of a letter is
its index in that string (``"ACGT"``: A=0, C=1, G=2, T=3).
"""

from __future__ import annotations

from cisreg.errors import InputError

__all__ = ["ALPHABETS", "resolve_alphabet"]

#: Named alphabets, mapping a name to its letters in code order.
ALPHABETS: dict[str, str] = {"dna": "ACGT", "rna": "ACGU"}


def resolve_alphabet(name_or_letters: str) -> str:
    """Return the letters of an alphabet given by name or by its letters.

    Parameters
    ----------
    name_or_letters : str
        ``"dna"`` or ``"rna"``, or the letters themselves, ``"ACGT"`` or
        ``"ACGU"``; case-insensitive.

    Returns
    -------
    str
        The upper-case letters in code order, ``"ACGT"`` or ``"ACGU"``.

    Raises
    ------
    InputError
        If the alphabet is not one of those above.
    """
    if isinstance(name_or_letters, str):
        key = name_or_letters.strip()
        if key.lower() in ALPHABETS:
            return ALPHABETS[key.lower()]
        if key.upper() in ALPHABETS.values():
            return key.upper()
    known = ", ".join(
        f"{name!r} ({letters})" for name, letters in ALPHABETS.items()
    )
    raise InputError(
        f"unknown alphabet {name_or_letters!r}; use one of {known}, "
        "given by name or by its letters (case-insensitive)",
        source="argument alphabet",
    )
