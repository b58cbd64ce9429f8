"""Simulate MPRA / sort-seq data from any cisreg model, with known ground truth.

Use it to check that a model and an experimental design can recover what you
care about before running the experiment, or to test a fitting setup::

    truth = cisreg.Model(spec, theta_true)
    data = cisreg.simulate.sortseq(truth, n=20_000, wt="ACGT...", mutation_rate=0.1, rng=rng)
    result = cisreg.fit(data, spec)
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
