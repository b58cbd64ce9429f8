"""Sequence design: mutants of a wild type whose predicted activity hits a target, or is as
high or as low as possible, within a budget of mutations.

The optimiser
-------------
The objective is a score to minimise: ``-phi`` (``target="max"``), ``phi`` (``"min"``) or
``|phi - target|`` (a number). Every candidate lies within ``max_mutations`` (K) letters of
the wild type (Hamming distance), and every batch of candidates goes through the engine in
one call.

1. **Exhaustive**, when the sequences within K mutations number at most ``exhaustive_limit``
   (default 100,000; e.g. K <= 2 for a 75-bp DNA promoter): all of them are evaluated and
   the result is exact.
2. Otherwise a **batched greedy beam search**: starting from the wild type, all single-letter
   changes of the ``beam`` current sequences that stay within the budget are evaluated in one
   call, and the ``beam`` best distinct sequences among them and the current ones are kept; at
   most K rounds, stopping early when the best score does not improve.
3. Then **simulated annealing** from the ``chains`` best distinct sequences found so far,
   all chains advanced together, one batched engine call per step. A move changes one letter:
   a uniformly chosen position to a uniformly chosen other letter; a chain at the budget
   (Hamming distance K) instead changes the letter of one of its mutated positions (the
   wild-type letter included, which frees one mutation) or, with probability 1/2, *swaps*
   mutations (reverts one mutated position and mutates one wild-type position), so no move
   leaves the budget. A move that changes the score by Δ is accepted with probability
   min(1, exp(-Δ / T_k)) (Metropolis). **Schedule**: geometric cooling over ``steps`` steps,
   T_k = T_0 · r^(k / (steps - 1)) with r = ``cooling`` (default 1e-3), and T_0 the median
   absolute score change of the wild type's single mutants (the size of a typical move);
   when all single mutants score the same as the wild type, T = 0 (only moves that do not
   worsen the score are accepted).

Every evaluated sequence is remembered (the best few hundred distinct ones), and the answer
is the ``n`` best distinct sequences among all of them, so the greedy's and the best single
mutant's results are never lost. With a seed, the result is reproducible (the engine's phi
does not depend on the number of threads).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from .._threads import effective_n_threads
from ..errors import InputError
from ..models.model import check_dtype
from .mutants import check_wt, double_mutants, evaluate_phi, hamming, mutation_names, single_mutants

__all__ = [
    "DEFAULT_BEAM",
    "DEFAULT_CHAINS",
    "DEFAULT_COOLING",
    "DEFAULT_EXHAUSTIVE_LIMIT",
    "DEFAULT_STEPS",
    "design",
]

DEFAULT_CHAINS = 64
DEFAULT_STEPS = 1000
DEFAULT_BEAM = 16
DEFAULT_COOLING = 1e-3
DEFAULT_EXHAUSTIVE_LIMIT = 100_000
_PRUNE_EVERY = 50  # annealing steps between prunings of the archive


def _check_target(target: Any) -> tuple[str, float]:
    """('max' | 'min' | 'target', value)."""
    if isinstance(target, str):
        t = target.strip().lower()
        if t in ("max", "min"):
            return t, math.nan
        try:
            value = float(t)
        except ValueError:
            raise InputError(f"the target must be a number (the phi to reach), 'max' or 'min'; got {target!r}",
                             source="target") from None
    elif isinstance(target, (int, float, np.integer, np.floating)) and not isinstance(target, bool):
        value = float(target)
    else:
        raise InputError(f"the target must be a number (the phi to reach), 'max' or 'min'; got "
                         f"{type(target).__name__} {target!r}", source="target")
    if not math.isfinite(value):
        raise InputError(f"the target must be a finite number, 'max' or 'min'; got {target!r}", source="target")
    return "target", value


def _check_int(v: Any, name: str, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise InputError(f"{name} must be an integer, got {type(v).__name__} {v!r}", source=name)
    if int(v) < lo:
        raise InputError(f"{name} must be at least {lo}, got {int(v)}", source=name)
    return int(v)


def n_within(L: int, A: int, K: int) -> int:
    """Number of sequences within Hamming distance K of a sequence of length L over A letters."""
    return sum(math.comb(L, k) * (A - 1) ** k for k in range(K + 1))


def _rows_key(codes: np.ndarray) -> np.ndarray:
    """One opaque value per row, equal for equal rows."""
    c = np.ascontiguousarray(codes)
    return c.view(np.dtype((np.void, c.shape[1]))).ravel()


def _best_distinct(codes: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (lowest-scoring) distinct rows, best first (ties: byte order of the rows)."""
    _, idx = np.unique(_rows_key(codes), return_index=True)
    order = idx[np.argsort(scores[idx], kind="stable")][:k]
    return codes[order], scores[order]


class _Archive:
    """The best distinct sequences evaluated so far (pruned to ``keep``; the top ``keep``
    of the union of all batches is kept exactly)."""

    def __init__(self, L: int, keep: int) -> None:
        self.keep = keep
        self.codes = np.empty((0, L), np.uint8)
        self.scores = np.empty(0)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self.evaluated = 0

    def add(self, codes: np.ndarray, scores: np.ndarray) -> None:
        self._pending.append((codes.copy(), scores.copy()))
        self.evaluated += codes.shape[0]

    def prune(self) -> None:
        if self._pending:
            codes = np.concatenate([self.codes, *(c for c, _ in self._pending)])
            scores = np.concatenate([self.scores, *(s for _, s in self._pending)])
            self._pending = []
            self.codes, self.scores = _best_distinct(codes, scores, self.keep)

    def best(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        self.prune()
        return self.codes[:k], self.scores[:k]


def _neighbours(beam: np.ndarray, A: int) -> np.ndarray:
    """Every single-letter change of every row of ``beam``: [B L (A-1), L]."""
    B, L = beam.shape
    step = np.arange(1, A, dtype=np.int64)
    pos = np.tile(np.repeat(np.arange(L, dtype=np.int64), A - 1), B)
    rows = np.repeat(np.arange(B), L * (A - 1))
    new = ((beam[rows, pos].astype(np.int64) + np.tile(step, B * L)) % A).astype(np.uint8)
    out: np.ndarray = beam[rows].copy()
    out[np.arange(out.shape[0]), pos] = new
    return out


def _pick(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniformly chosen True column of each row of ``mask`` (every row has one)."""
    keys = rng.random(mask.shape)
    keys[~mask] = -1.0
    out: np.ndarray = keys.argmax(axis=1)
    return out


def _enumerate_within(wt: np.ndarray, A: int, K: int) -> np.ndarray:
    """Every sequence within K mutations of ``wt`` (small spaces only), the wild type first."""
    import itertools

    L = wt.shape[0]
    parts = [wt[None, :]]
    if K >= 1:
        parts.append(single_mutants(wt, A)[0])
    if K >= 2:
        parts.append(double_mutants(wt, A)[0])
    for k in range(3, K + 1):
        combos = np.array(list(itertools.combinations(range(L), k)), dtype=np.int64).reshape(-1, k)
        letters = np.indices((A - 1,) * k).reshape(k, -1).T + 1  # [(A-1)^k, k] steps away from wt
        nc, nl = combos.shape[0], letters.shape[0]
        pos = np.repeat(combos, nl, axis=0)  # [nc nl, k]
        step = np.tile(letters, (nc, 1))
        out = np.repeat(wt[None, :], nc * nl, axis=0)
        rows = np.arange(nc * nl)[:, None]
        out[rows, pos] = ((wt[pos].astype(np.int64) + step) % A).astype(np.uint8)
        parts.append(out)
    return np.concatenate(parts)


def design(model: Any, wt: str, *, target: float | str = "max", max_mutations: int = 3, n: int = 10,
           rng: np.random.Generator | int | None = None, chains: int = DEFAULT_CHAINS, steps: int = DEFAULT_STEPS,
           beam: int = DEFAULT_BEAM, cooling: float = DEFAULT_COOLING,
           exhaustive_limit: int = DEFAULT_EXHAUSTIVE_LIMIT, n_threads: int | None = None,
           dtype: str = "float64") -> pd.DataFrame:
    """Design mutants of ``wt`` whose predicted activity hits ``target`` (or is maximal /
    minimal) within ``max_mutations`` mutations.

    The optimiser (exhaustive search of small spaces; otherwise a batched greedy beam search
    followed by simulated annealing with geometric cooling, many chains per engine call) is
    described in :mod:`cisreg.variants.optimise`.

    Parameters
    ----------
    model : cisreg.Model
        Any model (thermodynamic or kinetic, any alphabet).
    wt : str
        The wild type: ``model.spec.length`` letters of the model's alphabet.
    target : float or {"max", "min"}, default "max"
        The activity phi to reach (designs minimise ``|phi - target|``), or ``"max"`` /
        ``"min"`` to make phi as high / as low as possible. A numeric string is accepted.
    max_mutations : int, default 3
        The budget K: no design differs from ``wt`` at more than K positions (larger values
        mean the whole sequence, L). 0 returns the wild type.
    n : int, default 10
        Number of distinct designs to return (at most the number of sequences within K
        mutations of ``wt``).
    rng : numpy.random.Generator or int, optional
        Random generator or seed of the annealing (None: fresh entropy, not reproducible).
    chains : int, default 64
        Annealing chains, advanced together (one engine call of ``chains`` rows per step).
    steps : int, default 1000
        Annealing steps (0: greedy only).
    beam : int, default 16
        Width of the greedy beam search.
    cooling : float, default 1e-3
        Ratio of the final to the initial annealing temperature (0 < cooling <= 1).
    exhaustive_limit : int, default 100000
        Evaluate every sequence within the budget when there are at most this many (0: never).
    n_threads : int, optional
        Threads of the engine (default: all cores).
    dtype : {"float64", "float32"}, default "float64"
        Compute precision of the engine.

    Returns
    -------
    pandas.DataFrame
        ``n`` rows, best first: ``rank`` (1 = best), ``sequence``, ``mutations`` (``A12G,T30C``,
        1-based positions; empty for the wild type), ``hamming`` (distance from ``wt``),
        ``phi``, ``dphi`` (``phi - phi_wt``) and, with a numeric target, ``abs_error``
        (``|phi - target|``). ``DataFrame.attrs`` records the wild type, its phi, the
        target, the budget, the method (``"exhaustive"`` or ``"greedy+annealing"``), the
        annealing settings (``T0`` included) and the number of sequences evaluated.

    Raises
    ------
    cisreg.InputError
        For a bad ``wt`` (length, letters), a negative budget, a target that is neither a
        finite number nor ``"max"`` / ``"min"``, ``n`` < 1 or more designs than there are
        sequences within the budget, or bad optimiser settings.

    Examples
    --------
    >>> model = cisreg.Model("lac", seed=0)
    >>> best = cisreg.design(model, "A" * 75, target="max", max_mutations=3, n=5, rng=0)
    >>> best[["mutations", "phi", "dphi"]]
    """
    dtype = check_dtype(dtype)
    wt_codes = check_wt(model, wt)
    mode, t = _check_target(target)
    mm: Any = max_mutations  # checked as given: an int by annotation, anything at run time
    if isinstance(mm, (int, np.integer)) and not isinstance(mm, bool) and mm < 0:
        raise InputError(f"max_mutations must be >= 0 (the number of mutations allowed from the wild type); got "
                         f"{int(max_mutations)}: no sequence lies within a negative budget", source="max_mutations")
    K = _check_int(max_mutations, "max_mutations", 0)
    n = _check_int(n, "n", 1)
    chains = _check_int(chains, "chains", 1)
    steps = _check_int(steps, "steps", 0)
    beam = _check_int(beam, "beam", 1)
    exhaustive_limit = _check_int(exhaustive_limit, "exhaustive_limit", 0)
    cool: Any = cooling
    if isinstance(cool, bool) or not isinstance(cool, numbers.Real) or not 0 < float(cool) <= 1:
        raise InputError(f"cooling must be a number in (0, 1], got {cooling!r}", source="cooling")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

    letters = model.alphabet
    A, L = len(letters), wt_codes.shape[0]
    K = min(K, L) if A > 1 else 0
    total = n_within(L, A, K)
    if n > total:
        raise InputError(f"only {total} distinct sequence(s) lie within {K} mutation(s) of the wild type "
                         f"(length {L}, {A} letters); ask for n <= {total} or allow more mutations", source="n")

    def score(phi: np.ndarray) -> np.ndarray:
        if mode == "max":
            return -phi
        if mode == "min":
            same: np.ndarray = phi.copy()
            return same
        out: np.ndarray = np.abs(phi - t)
        return out

    threads = effective_n_threads(n_threads)  # resolved once: the annealing calls the engine per step

    def run(codes: np.ndarray) -> np.ndarray:
        return score(_core.phi(model.core, codes, model.theta, None, threads, dtype=dtype))

    phi_wt = float(evaluate_phi(model, wt_codes[None, :], n_threads=1, dtype=dtype)[0])
    info: dict[str, Any] = {}
    if total <= exhaustive_limit:
        allc = _enumerate_within(wt_codes, A, K)
        archive = _Archive(L, n)
        archive.add(allc, run(allc))
        method = "exhaustive"
    else:
        method = "greedy+annealing"
        archive = _Archive(L, max(4 * n, chains, beam))
        s_wt = score(np.array([phi_wt]))
        archive.add(wt_codes[None, :], s_wt)
        # 1. batched greedy beam search
        cur, cur_s = wt_codes[None, :].copy(), s_wt
        T0 = 0.0
        rounds = 0
        for rounds in range(1, K + 1):
            cand = _neighbours(cur, A)
            cand = cand[hamming(cand, wt_codes) <= K]
            cand_s = run(cand)
            archive.add(cand, cand_s)
            if rounds == 1:  # the wild type's single mutants: the size of a typical move
                T0 = float(np.median(np.abs(cand_s - s_wt[0])))
            best_before = float(cur_s.min())
            cur, cur_s = _best_distinct(np.concatenate([cur, cand]), np.concatenate([cur_s, cand_s]), beam)
            if not float(cur_s.min()) < best_before:
                break
        info.update(greedy_rounds=rounds, T0=T0)
        # 2. simulated annealing, all chains per engine call
        if steps > 0 and K > 0:
            start, start_s = archive.best(chains)
            reps = np.arange(chains) % start.shape[0]
            state, state_s = start[reps].copy(), start_s[reps].copy()
            idx = np.arange(chains)
            for k in range(steps):
                T = T0 * cooling ** (k / max(steps - 1, 1))
                mutated = state != wt_codes[None, :]
                ham = mutated.sum(axis=1)
                at_budget = ham >= K
                prop = state.copy()
                # point moves: any position below the budget, a mutated one at the budget
                allowed = np.where(at_budget[:, None], mutated, True)
                p = _pick(allowed, rng)
                old = prop[idx, p].astype(np.int64)
                prop[idx, p] = ((old + rng.integers(1, A, chains)) % A).astype(np.uint8)
                # swap moves at the budget: revert one mutated position, mutate one wild-type position
                swap = at_budget & (ham < L) & (rng.random(chains) < 0.5)
                if swap.any():
                    rows = np.flatnonzero(swap)
                    r = _pick(mutated[rows], rng)
                    q = _pick(~mutated[rows], rng)
                    prop[rows] = state[rows]
                    prop[rows, r] = wt_codes[r]
                    prop[rows, q] = ((wt_codes[q].astype(np.int64) + rng.integers(1, A, rows.shape[0])) % A
                                     ).astype(np.uint8)
                prop_s = run(prop)
                archive.add(prop, prop_s)
                delta = prop_s - state_s
                u = rng.random(chains)
                if T > 0:
                    with np.errstate(over="ignore"):
                        accept = (delta <= 0) | (u < np.exp(-np.maximum(delta, 0.0) / T))
                else:
                    accept = delta <= 0
                state[accept] = prop[accept]
                state_s[accept] = prop_s[accept]
                if (k + 1) % _PRUNE_EVERY == 0:
                    archive.prune()
        info.update(chains=chains, steps=steps, beam=beam, cooling=float(cooling), schedule="geometric")

    codes, _ = archive.best(n)
    phi = evaluate_phi(model, codes, n_threads=threads, dtype=dtype)
    order = np.argsort(score(phi), kind="stable")  # recomputed phi: the table is self-consistent
    codes, phi = codes[order], phi[order]
    ham = hamming(codes, wt_codes)
    row, pos = np.nonzero(codes != wt_codes[None, :])  # by row, then position
    names = mutation_names(letters, pos, wt_codes[pos], codes[row, pos])
    groups = np.split(names, np.cumsum(ham)[:-1])
    table: dict[str, Any] = {
        "rank": np.arange(1, codes.shape[0] + 1),
        "sequence": _decode(codes, letters),
        "mutations": [",".join(g) for g in groups],
        "hamming": ham,
        "phi": phi,
        "dphi": phi - phi_wt,
    }
    if mode == "target":
        table["abs_error"] = np.abs(phi - t)
    df = pd.DataFrame(table)
    df.attrs.update({"wt": str(_decode(wt_codes[None, :], letters)[0]), "phi_wt": phi_wt,
                     "target": t if mode == "target" else mode, "max_mutations": K, "method": method,
                     "evaluated": archive.evaluated, **info})
    out: pd.DataFrame = df
    return out


def _decode(codes: np.ndarray, letters: str) -> np.ndarray:
    from ..data.encode import decode

    return decode(codes, letters)
