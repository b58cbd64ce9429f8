"""MaveDB score sets and HGVS variant names, in and out.

A MaveDB score set is a table of variants named in HGVS relative to a target sequence
(``hgvs_pro`` such as ``p.Ala2Cys`` or ``p.[Ala2Cys;Lys5Leu]``, ``hgvs_nt`` such as
``c.12A>G`` or ``n.[12A>G;30T>C]``) with a ``score`` column (count tables have the same
variant columns and read counts instead). :func:`read_mavedb` builds the full sequence of
every variant from the target and its HGVS string (parsed and validated by the
``mavehgvs`` package, MaveDB's own parser) and returns a :class:`~cisreg.data.Dataset`;
:func:`hgvs_names` writes the HGVS names of mutants (``cisreg scan --format mavedb``).

Rules, as MaveDB defines them: positions are 1-based and relative to the target; ``_wt``
(the wild type), ``_sy`` (synonymous at the protein level), ``p.=`` and ``p.Ala2=`` leave
the target unchanged; a substitution whose reference residue differs from the target's is
an error naming the row. The models have a fixed length, so variants that change it
(deletions, insertions, duplications, frameshifts) are errors, as are positions outside
the target (UTR, intronic) and stop codons (``Ter``, not in the protein alphabet).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from cisreg.data.dataset import Dataset
from cisreg.errors import InputError

__all__ = ["hgvs_names", "read_mavedb", "variant_sequences"]

#: Three-letter amino-acid codes of HGVS, and their one-letter codes.
AA3 = {"Ala": "A", "Arg": "R", "Asn": "N", "Asp": "D", "Cys": "C", "Gln": "Q", "Glu": "E", "Gly": "G",
       "His": "H", "Ile": "I", "Leu": "L", "Lys": "K", "Met": "M", "Phe": "F", "Pro": "P", "Ser": "S",
       "Thr": "T", "Trp": "W", "Tyr": "Y", "Val": "V", "Ter": "*"}
AA1 = {v: k for k, v in AA3.items()}
#: Strings of MaveDB's variant columns that name the target itself.
UNCHANGED = ("_wt", "_sy", "p.=", "c.=", "n.=", "g.=")
NT_PREFIXES = ("c", "n", "g")


def _mavehgvs() -> Any:
    try:
        import mavehgvs
    except ImportError:  # pragma: no cover - the test extra installs it
        raise InputError("reading HGVS variants needs the mavehgvs package: pip install \"cisreg[mavedb]\"") from None
    return mavehgvs


def read_target(target: str | os.PathLike[str]) -> str:
    """A target sequence given as letters, or as a FASTA file (its first record)."""
    t = str(target)
    if os.path.isfile(t):
        from cisreg.data.readers import _parse_fasta

        seqs = _parse_fasta(t)[1]
        if not seqs:
            raise InputError("the FASTA file holds no sequence", source=t)
        t = seqs[0]
    seq = "".join(t.split()).upper()
    if not seq or not seq.isalpha():
        raise InputError(f"the target must be a sequence of letters or a FASTA file, got {str(target)[:40]!r}")
    return seq


def infer_kind(target: str) -> str:
    """"dna" for a target of the letters A, C, G and T only, else "protein"."""
    return "dna" if set(target) <= set("ACGT") else "protein"


def variant_sequences(variants: Sequence[Any], target: str, kind: str, *, source: str | None = None,
                      column: str | None = None) -> list[str]:
    """The sequence of each HGVS variant of ``target`` (``kind`` "protein": ``p.`` strings;
    "dna": ``c.``, ``n.`` or ``g.`` strings). Errors name the row (counted from 0) and column."""
    if kind not in ("protein", "dna"):
        raise InputError(f"kind must be 'protein' or 'dna', got {kind!r}")
    mh = _mavehgvs()
    cache: dict[str, str] = {}
    out = []
    for i, v in enumerate(variants):
        if not isinstance(v, str) or not v.strip():
            raise InputError(f"no variant string ({v!r}); every row needs an HGVS variant in this column",
                             source=source, row=i, column=column)
        s = v.strip()
        if s not in cache:
            try:
                cache[s] = _apply(mh, s, target, kind)
            except InputError as e:
                raise InputError(e.message, source=source, row=i, column=column) from None
        out.append(cache[s])
    return out


def _apply(mh: Any, s: str, target: str, kind: str) -> str:
    if s in UNCHANGED:
        return target
    try:
        var = mh.Variant(s)
    except mh.exceptions.MaveHgvsParseError as e:
        raise InputError(f"{s!r} is not a valid MAVE-HGVS variant ({e})") from None
    prefix = var.prefix
    want = ("p",) if kind == "protein" else NT_PREFIXES
    if prefix not in want:
        raise InputError(f"{s!r} is a {prefix}. variant; a {kind} target takes "
                         f"{' or '.join(p + '.' for p in want)} variants")
    multi = var.is_multi_variant()
    types = var.variant_type if multi else [var.variant_type]
    positions = var.positions if multi else [var.positions]
    changes = var.sequence if multi else [var.sequence]
    seq = list(target)
    for vt, pos, change in zip(types, positions, changes):
        if vt not in ("sub", "equal"):
            raise InputError(f"{s!r} is a {vt}: only substitutions (and '=') keep the sequence's length, which a "
                             "model fixes")
        if pos is None:  # p.= inside a multi-variant
            continue
        if pos.is_utr() or pos.is_intronic():
            raise InputError(f"{s!r} names a position outside the target (UTR or intronic)")
        p = int(pos.position)
        if not 1 <= p <= len(target):
            raise InputError(f"{s!r} names position {p}, outside the target of length {len(target)}")
        ref = AA3.get(pos.amino_acid, "?") if kind == "protein" else change[0]
        if target[p - 1] != ref:
            shown = pos.amino_acid if kind == "protein" else ref
            have = AA1.get(target[p - 1], target[p - 1]) if kind == "protein" else target[p - 1]
            raise InputError(f"{s!r} says position {p} is {shown}, but the target has {have} there; check the "
                             "target sequence (positions count from 1)")
        if vt == "sub":
            alt = AA3[change[1]] if kind == "protein" else change[1]
            if alt == "*":
                raise InputError(f"{s!r} is a stop codon (Ter), which is not in the protein alphabet of the models")
            seq[p - 1] = alt
    return "".join(seq)


def read_mavedb(scores: str | os.PathLike[str] | pd.DataFrame, target: str | os.PathLike[str], *,
                kind: str | None = None, variant_col: str | None = None, score_col: str | None = "score",
                seed: int = 0, split: tuple[float, float, float] = (0.6, 0.2, 0.2)) -> Dataset:
    """A MaveDB score set (or count table) as a Dataset of full variant sequences.

    Parameters
    ----------
    scores : path or pandas.DataFrame
        The score set (CSV/TSV, as MaveDB exports it) or count table.
    target : str or path
        The target sequence (letters, or a FASTA file): the protein sequence for ``hgvs_pro``
        variants, the nucleotide sequence for ``hgvs_nt`` variants.
    kind : {"protein", "dna"}, optional
        Default: "dna" when the target has only the letters ACGT, else "protein".
    variant_col : str, optional
        The HGVS column (default ``hgvs_pro`` for proteins, ``hgvs_nt`` for DNA).
    score_col : str or None, default "score"
        The measurement, read as ``y`` (a GE model's target); None (or a table without it):
        the other numeric columns are kept as columns (a counts measurement's input and
        output reads).
    seed, split
        The random training / validation / test split (a ``set`` column takes precedence).

    Returns
    -------
    Dataset
        ``x`` the variant sequences, ``y`` the scores; the table's other columns (the HGVS
        strings, ``accession``, counts) as columns. Variants of one sequence (synonymous
        codons, for a protein target) are aggregated as :func:`cisreg.from_dataframe` does.
    """
    from cisreg.data.readers import read_frame
    from cisreg.data.validate import from_dataframe

    if isinstance(scores, pd.DataFrame):
        df, source = scores.copy(), "<DataFrame>"
    else:
        df, source, _ = read_frame(Path(scores))
    seq = read_target(target)
    kind = kind or infer_kind(seq)
    col = variant_col or ("hgvs_pro" if kind == "protein" else "hgvs_nt")
    if col not in df.columns:
        raise InputError(f"no variant column {col!r}; columns found: {list(df.columns)} (choose one with "
                         "variant_col= / --hgvs-column)", source=source)
    if "x" in df.columns:
        raise InputError("the table already has a column 'x'; rename it (read_mavedb writes the sequences there)",
                         source=source)
    df.insert(0, "x", variant_sequences(df[col].tolist(), seq, kind, source=source, column=col))
    y_col = score_col if score_col is not None and score_col in df.columns else "y"
    alphabet = "protein" if kind == "protein" else "dna"
    return from_dataframe(df, x_col="x", y_col=y_col, alphabet=alphabet, seed=seed, split=split, source=source)


def hgvs_names(mutations: Sequence[Sequence[tuple[int, str, str]]], kind: str, prefix: str | None = None
               ) -> list[str]:
    """HGVS names of mutants, each a list of (1-based position, wild-type letter, new letter):
    ``p.Ala2Cys`` / ``p.[Ala2Cys;Lys5Leu]`` (protein) or ``n.12A>G`` / ``n.[12A>G;30T>C]``
    (DNA; ``prefix`` "c", "n" or "g", default "n")."""
    if kind == "protein":
        pre = "p"
        fmt = [[f"{AA1[w]}{p}{AA1[m]}" for p, w, m in muts] for muts in mutations]
    elif kind == "dna":
        pre = prefix or "n"
        if pre not in NT_PREFIXES:
            raise InputError(f"the HGVS prefix of a DNA target is c, n or g, got {pre!r}")
        fmt = [[f"{p}{w}>{m}" for p, w, m in muts] for muts in mutations]
    else:
        raise InputError(f"kind must be 'protein' or 'dna', got {kind!r}")
    return [f"{pre}.{parts[0]}" if len(parts) == 1 else f"{pre}.[{';'.join(parts)}]" if parts else "_wt"
            for parts in fmt]
