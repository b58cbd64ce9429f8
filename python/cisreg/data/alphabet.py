"""Sequence alphabets understood by cisreg.

An alphabet is a string of distinct letters; the code of a letter is its index in that
string (``"ACGT"``: A=0, C=1, G=2, T=3). Letters are matched without regard to case, so
an alphabet must not hold the same letter in both cases. Named alphabets: ``"dna"``
(ACGT), ``"rna"`` (ACGU), ``"protein"`` (the 20 amino acids ACDEFGHIKLMNPQRSTVWY) and
``"protein*"`` (with the stop codon ``*``). Nucleic-acid alphabets have a complement
(for sites read on both strands).
"""

from __future__ import annotations

from cisreg.errors import InputError

__all__ = ["ALPHABETS", "complement", "resolve_alphabet"]

#: Named alphabets, mapping a name to its letters in code order.
ALPHABETS: dict[str, str] = {
    "dna": "ACGT",
    "rna": "ACGU",
    "protein": "ACDEFGHIKLMNPQRSTVWY",
    "protein*": "ACDEFGHIKLMNPQRSTVWY*",
}

_COMPLEMENTS: dict[str, str] = {"ACGT": "TGCA", "ACGU": "UGCA"}

#: The largest alphabet the kernels take (codes are bytes).
MAX_LETTERS = 255


def resolve_alphabet(name_or_letters: str) -> str:
    """Return the letters of an alphabet given by name or by its letters.

    Parameters
    ----------
    name_or_letters : str
        A name (``"dna"``, ``"rna"``, ``"protein"``, ``"protein*"``; case-insensitive) or
        the letters themselves, e.g. ``"ACGT"`` or ``"ACDEFGHIKLMNPQRSTVWY"``: printable
        ASCII characters other than space, comma and quotes, each at most once (ignoring
        case).

    Returns
    -------
    str
        The letters in code order (upper case for letters).

    Raises
    ------
    InputError
        If the alphabet is empty, repeats a letter or holds an unusable character.
    """
    if not isinstance(name_or_letters, str):
        raise InputError(f"an alphabet must be a string, got {type(name_or_letters).__name__}",
                         source="argument alphabet")
    key = name_or_letters.strip()
    if key.lower() in ALPHABETS:
        return ALPHABETS[key.lower()]
    letters = key.upper()
    known = ", ".join(f"{name!r} ({v})" for name, v in ALPHABETS.items())
    if len(letters) < 1:
        raise InputError(f"the alphabet is empty; use a name ({known}) or a string of letters",
                         source="argument alphabet")
    bad = [c for c in letters if not (33 <= ord(c) < 127) or c in ",\"'"]
    if bad:
        raise InputError(f"alphabet {name_or_letters!r} holds the character {bad[0]!r}; letters must be printable "
                         f"ASCII characters other than space, comma and quotes (or use a name: {known})",
                         source="argument alphabet")
    seen: set[str] = set()
    for c in letters:
        if c in seen:
            raise InputError(f"alphabet {name_or_letters!r} lists the letter {c!r} twice (letters are matched "
                             f"without regard to case); use distinct letters or a name: {known}",
                             source="argument alphabet")
        seen.add(c)
    if len(letters) > MAX_LETTERS:
        raise InputError(f"an alphabet has at most {MAX_LETTERS} letters", source="argument alphabet")
    return letters


def complement(letters: str) -> list[int] | None:
    """Codes of the complement of each letter of a nucleic-acid alphabet, else None."""
    comp = _COMPLEMENTS.get(letters)
    if comp is None:
        return None
    return [letters.index(c) for c in comp]


def alphabet_name(letters: str) -> str:
    """The name of an alphabet if it has one (``"dna"``), else its letters."""
    for name, v in ALPHABETS.items():
        if v == letters:
            return name
    return letters
