"""Simulate MPRA / sort-seq data from any cisreg model, with known ground truth.

Use it to check that a model and an experimental design can recover what you
care about before running the experiment, or to test a fitting setup::

    truth = cisreg.Model(spec, theta_true)
    data = cisreg.simulate.sortseq(truth, n=20_000, wt="ACGT...", mutation_rate=0.1, rng=rng)
    result = cisreg.fit(data, spec)

:func:`sortseq` sorts cells into fluorescence bins, :func:`continuous` adds Gaussian
noise to phi, and :func:`counts` draws MPRA barcode counts (DNA / RNA reads per barcode
and replicate) from a model with a ``"counts"`` measurement, using that measurement's own
depths, link and noise model, so a fit of the same model file recovers the truth;
:func:`rounds` draws the read counts of selection rounds (SELEX, display) the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data.dataset import Dataset
from .data.validate import from_dataframe
from .errors import InputError
from .models.model import Model


def mutagenised_library(wt: str, n: int, mutation_rate: float, rng: np.random.Generator,
                        alphabet: str = "ACGT") -> np.ndarray:
    """``n`` variants of ``wt``: each position mutated to one of the other letters
    with probability ``mutation_rate``. Returns uint8 codes [n, L]."""
    if not 0.0 <= mutation_rate <= 1.0:
        raise InputError(f"mutation_rate must lie in [0, 1], got {mutation_rate}")
    lut = {c: i for i, c in enumerate(alphabet)}
    try:
        w = np.array([lut[c] for c in wt.upper()], dtype=np.int64)
    except KeyError as e:
        raise InputError(f"wt holds {e.args[0]!r}, not in the alphabet {alphabet}") from None
    A = len(alphabet)
    mut = rng.random((n, len(w))) < mutation_rate
    shift = rng.integers(1, A, size=(n, len(w)))
    codes = np.where(mut, (w[None, :] + shift) % A, w[None, :])
    return np.ascontiguousarray(codes, dtype=np.uint8)


def random_library(L: int, n: int, rng: np.random.Generator, alphabet: str = "ACGT") -> np.ndarray:
    return rng.integers(0, len(alphabet), size=(n, L), dtype=np.uint8)


def _split(n: int, rng: np.random.Generator, fractions: tuple[float, float, float]) -> np.ndarray:
    labels = np.array(["training", "validation", "test"])
    return labels[rng.choice(3, size=n, p=np.asarray(fractions) / np.sum(fractions))]


def sortseq(model: Model, *, n: int, rng: np.random.Generator, wt: str | None = None,
            mutation_rate: float = 0.1, bins: int | None = None, noise_sd: float = 0.1, log_activity: bool = False,
            reads_per_seq: float = 1.0, split: tuple[float, float, float] = (0.6, 0.2, 0.2)) -> Dataset:
    """Sort-seq data: each cell's fluorescence is ``phi`` (or ``log phi``) plus
    Gaussian noise of sd ``noise_sd`` (in units of the sd of phi over the library);
    cells are sorted into ``bins`` equally populated bins by fluorescence (default:
    the model's number of bins); each sequence gets Poisson(``reads_per_seq``) reads
    (at least one).
    """
    if bins is None:
        bins = int(getattr(model.spec.measurement, "bins", 10))
    codes = (mutagenised_library(wt, n, mutation_rate, rng, model.alphabet) if wt is not None
             else random_library(model.spec.length, n, rng, model.alphabet))
    phi = model.x_to_phi(codes)
    s = np.log(np.maximum(phi, 1e-300)) if log_activity else phi
    sd = float(np.std(s)) or 1.0
    reads = np.maximum(1, rng.poisson(reads_per_seq, size=n))
    seq_of_read = np.repeat(np.arange(n), reads)
    f = s[seq_of_read] + rng.normal(0.0, noise_sd * sd, size=len(seq_of_read))
    edges = np.quantile(f, np.linspace(0, 1, bins + 1)[1:-1])
    b = np.searchsorted(edges, f)
    counts = np.zeros((n, bins))
    np.add.at(counts, (seq_of_read, b), 1.0)
    return _dataset(model, codes, {f"ct_{i}": counts[:, i] for i in range(bins)}, rng, split)


def continuous(model: Model, *, n: int, rng: np.random.Generator, wt: str | None = None,
               mutation_rate: float = 0.1, noise_sd: float = 0.1,
               split: tuple[float, float, float] = (0.6, 0.2, 0.2)) -> Dataset:
    """Continuous measurements y = phi + N(0, (noise_sd * sd(phi))^2)."""
    codes = (mutagenised_library(wt, n, mutation_rate, rng, model.alphabet) if wt is not None
             else random_library(model.spec.length, n, rng, model.alphabet))
    phi = model.x_to_phi(codes)
    y = phi + rng.normal(0.0, noise_sd * (float(np.std(phi)) or 1.0), size=n)
    return _dataset(model, codes, {"y": y}, rng, split)


def _dataset(model: Model, codes: np.ndarray, cols: dict[str, np.ndarray], rng: np.random.Generator,
             split: tuple[float, float, float]) -> Dataset:
    import warnings

    from .data.encode import decode
    from .errors import DataWarning

    x = decode(codes, model.alphabet)
    df = pd.DataFrame({"x": x, **{k: v for k, v in cols.items()}, "set": _split(len(x), rng, split)})
    if "ct_0" in cols:
        for k in cols:
            df[k] = df[k].astype(np.int64)
    with warnings.catch_warnings():  # duplicate variants are expected in simulations; they get merged
        warnings.simplefilter("ignore", DataWarning)
        return from_dataframe(df, alphabet=model.alphabet, source="<simulated>")


def counts(model: Model, *, n: int, rng: np.random.Generator, wt: str | None = None,
           mutation_rate: float = 0.1, barcodes_per_variant: float = 3.0, dna_reads_per_barcode: float = 30.0,
           library_sd: float = 0.5, per_barcode: bool = False,
           split: tuple[float, float, float] = (0.6, 0.2, 0.2)) -> Dataset:
    """MPRA barcode counts drawn from ``model``'s ``"counts"`` measurement.

    Each of the ``n`` drawn variants gets ``max(1, Poisson(barcodes_per_variant))``
    barcodes (a sequence drawn twice is one variant with the barcodes of both); each
    barcode an abundance ``exp(N(0, library_sd^2))`` in the plasmid library. For replicate
    r, a barcode's input (DNA) reads are ``Poisson(dna_reads_per_barcode * abundance)``.
    The output (RNA) reads of each row the model will see (a barcode, or a variant with its
    barcodes' input reads summed) are Poisson or negative binomial (the model's noise, with
    its per-replicate dispersion) with mean ``(input + pseudocount) * exp(c_r) * g(phi)``:
    exactly the likelihood the model fits, with its parameters ``counts.log_depth`` (c), the
    link g and, for ``"negbin"``, ``counts.log_dispersion``. For Poisson noise the
    per-variant output is the sum of the per-barcode draws (plus one pseudocount's share),
    so the two layouts drawn with the same seed are the same experiment.

    Parameters
    ----------
    model : Model
        A model whose measurement is ``{"type": "counts", ...}``; its input / output
        column names name the simulated columns.
    n : int
        Number of variants.
    rng : numpy.random.Generator
    wt, mutation_rate
        A mutagenised library around ``wt`` (else uniformly random sequences).
    barcodes_per_variant, dna_reads_per_barcode, library_sd
        Library design: barcodes per variant (Poisson mean, at least 1), mean DNA reads
        per barcode and the log-normal spread of barcode abundance.
    per_barcode : bool, default False
        Return one row per barcode (column ``barcode``; duplicate sequences kept, as
        :func:`cisreg.read_barcodes` with ``aggregate=False`` gives) instead of one row
        per variant with the counts of its barcodes summed. The ``set`` of a barcode is
        that of its variant.
    split : tuple of 3 floats
        Training, validation and test fractions (drawn per variant; a sequence drawn
        twice is in one set).

    Returns
    -------
    Dataset
        Kind ``"table"``, with the measurement's input and output columns (at most ``n``
        variants: repeated draws of a sequence are pooled).
    """
    from .models.measurement import Counts, Rounds

    meas = model.spec.measurement
    if isinstance(meas, Rounds):
        raise InputError("simulate.counts draws MPRA input / output pairs; use simulate.rounds for a model with a "
                         "'rounds' measurement")
    if not isinstance(meas, Counts):
        raise InputError(f"simulate.counts needs a model with a 'counts' measurement, not {meas.kind!r}")
    if n < 2:
        raise InputError(f"n must be at least 2, got {n}")
    if barcodes_per_variant <= 0 or dna_reads_per_barcode <= 0 or library_sd < 0:
        raise InputError("barcodes_per_variant and dna_reads_per_barcode must be > 0 and library_sd >= 0")
    codes = (mutagenised_library(wt, n, mutation_rate, rng, model.alphabet) if wt is not None
             else random_library(model.spec.length, n, rng, model.alphabet))
    R = meas.replicates
    x = _decode(codes, model.alphabet)
    # a sequence drawn twice is one variant (its barcodes pooled): the rows the model sees
    ux, first, inverse = np.unique(x, return_index=True, return_inverse=True)
    order = np.argsort(first)  # variants in order of first draw
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    ux, ucodes = ux[order], codes[first[order]]
    nv = len(ux)
    nb = np.zeros(nv, dtype=np.int64)
    np.add.at(nb, rank[inverse.ravel()], np.maximum(rng.poisson(barcodes_per_variant, size=n), 1))
    phi = model.x_to_phi(ucodes)
    # log of the expected output per input read at the replicates' mean depth: log g + mean(c)
    yhat = meas.yhat(model, phi)
    depth = np.asarray(model.layout.view(model.theta, meas.prefix + "log_depth"), dtype=np.float64)
    rate = np.exp(yhat[:, None] + (depth - depth.mean())[None, :])  # [variants, R]: e^{c_r} g(phi)
    variant = np.repeat(np.arange(nv), nb)
    B = len(variant)
    abundance = np.exp(rng.normal(0.0, library_sd, size=B)) if library_sd > 0 else np.ones(B)
    dna = rng.poisson(dna_reads_per_barcode * abundance[:, None], size=(B, R)).astype(np.float64)
    pc = meas.pseudocount
    # each row the model will see has mean (input + pseudocount) e^{c_r} g(phi): per barcode,
    # or per variant with the barcodes' input reads summed and the pseudocount added once
    if per_barcode:
        rows_in, rows_rate = dna, rate[variant]
    else:
        rows_in = np.stack([np.bincount(variant, weights=dna[:, r], minlength=nv) for r in range(R)], axis=1)
        rows_rate = rate
    if meas.noise == "negbin":
        rd = np.exp(-np.asarray(model.layout.view(model.theta, meas.prefix + "log_dispersion"), dtype=np.float64))
        mu = (rows_in + pc) * rows_rate
        rna = rng.poisson(rng.gamma(shape=np.broadcast_to(rd, mu.shape), scale=mu / rd[None, :]))
    else:
        # Poisson: the barcodes' reads, plus one pseudocount's worth per row (a sum of
        # Poissons is Poisson), so that per-barcode rows and their per-variant sums come from
        # one draw and, without a pseudocount, aggregate exactly
        rna_bc = rng.poisson(dna * rate[variant])
        extra_bc = rng.poisson(pc * rate[variant]) if pc > 0 else np.zeros_like(rna_bc)
        if per_barcode:
            rna = rna_bc + extra_bc
        else:
            firsts = np.r_[0, np.cumsum(nb)[:-1]]
            rna = np.stack([np.bincount(variant, weights=rna_bc[:, r], minlength=nv) for r in range(R)], axis=1)
            rna = rna + extra_bc[firsts]
    rna = np.asarray(rna, dtype=np.float64)
    sets = _split(nv, rng, split)
    cols: dict[str, np.ndarray] = {}
    if per_barcode:
        cols["barcode"] = np.array([f"bc{i}" for i in range(B)], dtype=object)
        rows_x, rows_set = ux[variant], sets[variant]
    else:
        rows_x, rows_set = ux, sets
    for r in range(R):
        cols[meas.input[r]], cols[meas.output[r]] = rows_in[:, r], rna[:, r]
    df = pd.DataFrame({"x": rows_x, **cols, "set": rows_set})
    for c in meas.input + meas.output:
        df[c] = df[c].astype(np.int64)
    return _frame_to_dataset(df, model.alphabet, aggregate=not per_barcode)


def rounds(model: Model, *, n: int, rng: np.random.Generator, wt: str | None = None, mutation_rate: float = 0.1,
           reads_per_variant: float = 50.0, library_sd: float = 0.5,
           split: tuple[float, float, float] = (0.6, 0.2, 0.2)) -> Dataset:
    """Selection rounds drawn from ``model``'s ``"rounds"`` measurement.

    Round 0 (the library before selection) has ``Poisson(reads_per_variant * abundance)``
    reads per variant, the abundance ``exp(N(0, library_sd^2))``; round r's reads are Poisson
    or negative binomial (the model's noise and per-round dispersion) with mean
    ``(c_{r-1} + pseudocount) * exp(depth_r) * g(phi)``: exactly the likelihood the model
    fits, with its parameters ``rounds.log_depth``, the link g and, for ``"negbin"``,
    ``rounds.log_dispersion``. A sequence drawn twice is one variant.

    Returns
    -------
    Dataset
        Kind ``"table"``, with one count column per round (the names of the measurement's
        ``columns``).
    """
    from .models.measurement import Rounds

    meas = model.spec.measurement
    if not isinstance(meas, Rounds):
        raise InputError(f"simulate.rounds needs a model with a 'rounds' measurement, not {meas.kind!r}")
    if n < 2:
        raise InputError(f"n must be at least 2, got {n}")
    if reads_per_variant <= 0 or library_sd < 0:
        raise InputError("reads_per_variant must be > 0 and library_sd >= 0")
    codes = (mutagenised_library(wt, n, mutation_rate, rng, model.alphabet) if wt is not None
             else random_library(model.spec.length, n, rng, model.alphabet))
    x = _decode(codes, model.alphabet)
    _, first = np.unique(x, return_index=True)
    keep = np.sort(first)  # variants in order of first draw
    codes, x = codes[keep], x[keep]
    nv = len(keep)
    abundance = np.exp(rng.normal(0.0, library_sd, size=nv)) if library_sd > 0 else np.ones(nv)
    c0 = rng.poisson(reads_per_variant * abundance).astype(np.float64)
    later = meas.draw(model, model.x_to_phi(codes), c0, rng)
    cols = {meas.columns[0]: c0, **{c: later[:, r] for r, c in enumerate(meas.columns[1:])}}
    df = pd.DataFrame({"x": x, **cols, "set": _split(nv, rng, split)})
    for c in meas.columns:
        df[c] = df[c].astype(np.int64)
    return _frame_to_dataset(df, model.alphabet)


def _decode(codes: np.ndarray, alphabet: str) -> np.ndarray:
    from .data.encode import decode

    return decode(codes, alphabet)


def _frame_to_dataset(df: pd.DataFrame, alphabet: str, aggregate: bool = True) -> Dataset:
    import warnings

    from .errors import DataWarning

    with warnings.catch_warnings():  # duplicate variants are expected in simulations; they get merged
        warnings.simplefilter("ignore", DataWarning)
        return from_dataframe(df, alphabet=alphabet, source="<simulated>", aggregate=aggregate)
