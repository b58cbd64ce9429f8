"""Training curves, and phi against the measurement on held-out data."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ._base import maybe_save, new_figure, require

__all__ = ["measurement", "phi_vs_measurement", "training"]

_LN2 = math.log(2.0)


# ----------------------------------------------------------------------------- training curves
def _fit_record(source: Any, metrics: dict[str, Any] | None) -> dict[str, Any]:
    """history, best epoch, restarts, metrics and the NLL's unit from a FitResult, a report
    (dict), a model directory or report.json path, or a bare history dict."""
    from ..training.result import FitResult

    if isinstance(source, (str, Path)):
        p = Path(source)
        p = p / "report.json" if p.is_dir() else p
        if not p.is_file():
            raise InputError("no report.json: training curves need the report `cisreg fit` writes", source=str(p))
        from ..models.io import read_json_checked

        source = read_json_checked(p)
    if isinstance(source, FitResult):
        return {"history": source.history, "best_epoch": source.best_epoch, "restarts": source.restarts,
                "metrics": metrics or {}, "unit": source.model.spec.measurement.unit}
    if isinstance(source, dict) and "fit" in source and isinstance(source["fit"], dict):
        fit = source["fit"]
        if "history" not in fit:
            raise InputError("the report has no fit history to draw")
        m = metrics if metrics is not None else source.get("metrics") or {}
        unit = "read"
        for split in m.values():
            if isinstance(split, dict) and "nll_per_datum_nats" in split:
                unit = "datum"
        runs = source.get("restarts", {}).get("runs", []) if isinstance(source.get("restarts"), dict) else []
        return {"history": fit["history"], "best_epoch": fit.get("best_epoch", 0), "restarts": runs, "metrics": m,
                "unit": unit}
    if isinstance(source, dict) and "val_nll" in source:
        return {"history": source, "best_epoch": int(np.argmin(source["val_nll"])) + 1 if source["val_nll"] else 0,
                "restarts": [], "metrics": metrics or {}, "unit": "read"}
    raise InputError(f"training curves need a FitResult, a report (dict), a model directory or a history dict; "
                     f"got {type(source).__name__}")


def _baseline(metrics: dict[str, Any], split: str, unit: str) -> float | None:
    """I_var = c - NLL/ln 2 (bits, NLL in nats per unit): c from the final metrics of a split."""
    m = metrics.get(split)
    if not isinstance(m, dict):
        return None
    iv, nll = m.get("I_var_bits"), m.get(f"nll_per_{unit}_nats")
    if not isinstance(iv, (int, float)) or not isinstance(nll, (int, float)) or not (math.isfinite(iv)
                                                                                       and math.isfinite(nll)):
        return None
    return float(iv) + float(nll) / _LN2


def training(source: Any, *, metrics: dict[str, Any] | None = None, path: str | Path | None = None,
             dpi: int = 150) -> Any:
    """Training curves: NLL per read (or datum) of the training and validation rows per
    epoch, and the variational information I_var they imply (bits), the best epoch marked.

    ``source`` is a :class:`~cisreg.FitResult`, a report dict, a model directory (its
    report.json) or a history dict. I_var per epoch is c − NLL/ln 2, the constant c of
    each split taken from the final metrics (``metrics``, or the report's); without
    metrics only the NLL is drawn. Restarts: every restart's history is overlaid where the
    record keeps one, otherwise each restart's best validation NLL is marked.
    """
    require()
    rec = _fit_record(source, metrics)
    h, unit = rec["history"], rec["unit"]
    train, val = np.asarray(h.get("train_nll", []), float), np.asarray(h.get("val_nll", []), float)
    if len(val) == 0:
        raise InputError("the fit history is empty (no epoch finished)")
    base = {s: _baseline(rec["metrics"], s, unit) for s in ("training", "validation")}
    has_ivar = base["validation"] is not None
    fig = new_figure(10.0 if has_ivar else 5.5, 3.6)
    axes = fig.subplots(1, 2 if has_ivar else 1, squeeze=False)[0]
    ep = np.arange(1, len(val) + 1)
    best = rec["best_epoch"]
    colors = {"training": "#1f77b4", "validation": "#d62728"}

    ax = axes[0]
    runs = [r for r in rec["restarts"] if isinstance(r, dict)]
    for r in runs:
        rh = r.get("history")
        if isinstance(rh, dict) and rh.get("val_nll"):
            ax.plot(np.arange(1, len(rh["val_nll"]) + 1), rh["val_nll"], color="0.7", lw=0.8, zorder=1)
    ax.plot(ep[: len(train)], train, color=colors["training"], lw=1.4, label="training")
    ax.plot(ep, val, color=colors["validation"], lw=1.4, label="validation")
    if 1 <= best <= len(val):
        ax.axvline(best, color="0.3", ls=":", lw=1)
        ax.plot([best], [val[best - 1]], "o", color=colors["validation"], ms=5, zorder=5,
                label=f"best epoch {best}")
    others = [r for r in runs if isinstance(r.get("best_val_nll"), (int, float)) and math.isfinite(r["best_val_nll"])
              and r.get("best_epoch")]
    if len(others) > 1:
        ax.plot([r["best_epoch"] for r in others], [r["best_val_nll"] for r in others], "x", color="0.25", ms=6,
                mew=1.2, zorder=4, label=f"best of each restart ({len(others)})")
    lo, hi = np.nanmin(np.concatenate([train, val])), np.nanpercentile(np.concatenate([train, val]), 95)
    pad = 0.08 * (hi - lo) if hi > lo else 0.1
    ax.set_ylim(lo - pad, hi + 3 * pad)  # the first epochs may lie far above; keep the end readable
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"NLL per {unit} (nats)")
    ax.set_title("negative log-likelihood", fontsize=10)
    ax.legend(fontsize=8, frameon=False)

    if has_ivar:
        ax = axes[1]
        for split, nll in (("training", train), ("validation", val)):
            c = base[split]
            if c is None:
                continue
            ax.plot(ep[: len(nll)], c - nll / _LN2, color=colors[split], lw=1.4, label=split)
        if 1 <= best <= len(val):
            ax.axvline(best, color="0.3", ls=":", lw=1)
        test = rec["metrics"].get("test", {})
        if isinstance(test, dict) and isinstance(test.get("I_pred_bits"), (int, float)) \
                and math.isfinite(test["I_pred_bits"]):
            ax.axhline(test["I_pred_bits"], color="0.2", ls="--", lw=1,
                       label=f"I_pred on the test rows: {test['I_pred_bits']:.3f} bits")
        iv = np.concatenate([base[s] - n / _LN2 for s, n in (("training", train), ("validation", val))  # type: ignore[operator]
                             if base[s] is not None])
        lo, hi = np.nanpercentile(iv, 5), np.nanmax(iv)
        if isinstance(test, dict) and isinstance(test.get("I_pred_bits"), (int, float)):
            hi = max(hi, float(test["I_pred_bits"]))
        pad = 0.08 * (hi - lo) if hi > lo else 0.05
        ax.set_ylim(lo - 3 * pad, hi + pad)
        ax.set_xlabel("epoch")
        ax.set_ylabel("I_var (bits)")
        ax.set_title("variational information", fontsize=10)
        ax.legend(fontsize=8, frameon=False, loc="lower right")
    fig.suptitle("Training", fontsize=11)
    return maybe_save(fig, path, dpi)


# ----------------------------------------------------------------------------- phi vs the measurement
def _phi_grid(phi: np.ndarray, n: int = 300) -> np.ndarray:
    lo, hi = float(np.min(phi)), float(np.max(phi))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.03 * (hi - lo)
    return np.linspace(lo - pad, hi + pad, n)


def _groups(phi: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Row indices in ``n_groups`` groups of equal size, by increasing phi."""
    order = np.argsort(phi, kind="stable")
    return [g for g in np.array_split(order, min(n_groups, len(order))) if len(g)]


def sortseq_panels(fig: Any, model: Any, phi: np.ndarray, counts: np.ndarray, n_groups: int) -> None:
    Y = counts.shape[1]
    grid = _phi_grid(phi)
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1.0]})
    # model: p(y | phi) as the background, its mean bin as a line
    p = model.p_of_y_given_phi(grid)
    im = ax.imshow(p.T, origin="lower", aspect="auto", cmap="Greys", vmin=0,
                   extent=(grid[0], grid[-1], -0.5, Y - 0.5), interpolation="nearest")
    ax.plot(grid, p @ np.arange(Y), color="#d62728", lw=2, label="model: mean bin under p(y | φ)")
    # data: the read-weighted mean bin of sequences grouped by phi
    reads = counts.sum(axis=1)
    xs, ys, es = [], [], []
    for g in _groups(phi, n_groups):
        w = reads[g]
        if w.sum() <= 0:
            continue
        dist = counts[g].sum(axis=0) / w.sum()
        mean = float(dist @ np.arange(Y))
        sd = math.sqrt(max(float(dist @ (np.arange(Y) - mean) ** 2), 0.0))
        xs.append(float(np.average(phi[g], weights=w)))
        ys.append(mean)
        es.append(sd / math.sqrt(w.sum()))
    ax.errorbar(xs, ys, yerr=es, fmt="o", ms=3.5, color="#1f77b4", ecolor="#1f77b4", elinewidth=1, capsize=0,
                label=f"data: mean bin of reads ({len(xs)} groups by φ)")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_ylim(-0.5, Y - 0.5)
    ax.set_xlabel("φ (activity)")
    ax.set_ylabel("bin")
    ax.legend(fontsize=7.5, loc="upper left", frameon=True, framealpha=0.85)
    fig.colorbar(im, ax=ax, label="p(y | φ)", fraction=0.05, pad=0.01)
    ax.set_title("mean bin against φ", fontsize=10)
    # data: the distribution of phi of the reads sorted into each bin
    edges = np.linspace(grid[0], grid[-1], 41)
    centers = 0.5 * (edges[1:] + edges[:-1])
    from ._base import state_colors

    cols = state_colors(Y) if Y <= 10 else None
    for y in range(Y):
        hist, _ = np.histogram(phi, bins=edges, weights=counts[:, y])
        if hist.max() > 0:
            hist = 0.85 * hist / hist.max()
        color = cols[y] if cols else None
        ax2.fill_between(centers, y, y + hist, step="mid", alpha=0.55, color=color, lw=0)
        ax2.step(centers, y + hist, where="mid", color=color, lw=0.8)
        if counts[:, y].sum() > 0:
            med = _weighted_median(phi, counts[:, y])
            ax2.plot([med, med], [y, y + 0.85], color="k", lw=1)
    ax2.set_yticks(range(Y))
    ax2.set_ylim(-0.1, Y)
    ax2.set_xlim(grid[0], grid[-1])
    ax2.set_xlabel("φ (activity)")
    ax2.set_ylabel("bin")
    ax2.set_title("φ of the reads in each bin (black: median)", fontsize=10)


def _weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    o = np.argsort(x)
    c = np.cumsum(w[o])
    return float(x[o][np.searchsorted(c, 0.5 * c[-1])])


def continuous_panel(fig: Any, model: Any, phi: np.ndarray, y: np.ndarray, ylabel: str, curve: str, n_groups: int,
                title: str) -> None:
    ax = fig.subplots()
    grid = _phi_grid(phi)
    many = len(phi) > 3000
    ax.scatter(phi, y, s=3 if many else 8, alpha=0.25 if many else 0.5, color="#1f77b4", lw=0, rasterized=True,
               label=f"data ({len(phi):,} sequences)")
    gx = [float(np.mean(phi[g])) for g in _groups(phi, n_groups)]
    gy = [float(np.mean(y[g])) for g in _groups(phi, n_groups)]
    ax.plot(gx, gy, "o", ms=4, mfc="white", mec="k", mew=0.8, label=f"data: mean of {len(gx)} groups by φ")
    ax.plot(grid, model.phi_to_yhat(grid), color="#d62728", lw=2, label=curve)
    lo, hi = np.percentile(y, [0.5, 99.5])
    pad = 0.1 * (hi - lo) if hi > lo else 1.0
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlim(grid[0], grid[-1])
    ax.set_xlabel("φ (activity)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, frameon=True, framealpha=0.85, loc="upper left")
    ax.set_title(title, fontsize=10)


def r2(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1] ** 2)


def phi_vs_measurement(model: Any, phi: Any, targets: Any, *, label: str = "held-out data", n_groups: int = 30,
                       path: str | Path | None = None, dpi: int = 150) -> Any:
    """phi against the measurement, from arrays: ``phi`` [N] and the targets [N, T] the
    measurement process reads (``model.targets_of(data)``).

    Sort-seq: the mean bin against phi (data in groups of equal size; the model's mean bin
    over p(y | phi) in the background) and the distribution of phi of the reads in each
    bin. GE: y against phi with g(phi). Counts and rounds: the observed log ratio of output
    to depth-weighted input reads against phi with the model's yhat(phi). Each measurement
    process draws its own figure (its ``figure`` method) with the panels of this module.
    """
    require()
    phi = np.asarray(phi, dtype=np.float64).ravel()
    t = np.asarray(targets, dtype=np.float64)
    if t.ndim == 1:
        t = t[:, None]
    if t.shape[0] != len(phi):
        raise InputError(f"phi has {len(phi)} values but targets {t.shape[0]} rows")
    if len(phi) == 0:
        raise InputError("no sequences to draw")
    fig = model.spec.measurement.figure(model, phi, t, label=label, n_groups=n_groups)
    return maybe_save(fig, path, dpi)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def measurement(model: Any, data: Any, *, split: str = "test", n_threads: int | None = None, n_groups: int = 30,
                path: str | Path | None = None, dpi: int = 150) -> Any:
    """phi against the measurement on the ``split`` rows of a Dataset (default the held-out
    test rows; ``"all"`` for every row). See :func:`phi_vs_measurement`."""
    rows = np.arange(data.n) if split == "all" else data.indices(split)
    if len(rows) == 0:
        raise InputError(f"the data have no {split} rows; choose another split (or 'all')", source=data.source)
    targets = model.targets_of(data)[rows]
    phi = model.x_to_phi(data.codes[rows], n_threads=n_threads)
    label = "all rows" if split == "all" else f"{split} rows"
    return phi_vs_measurement(model, phi, targets, label=label, n_groups=n_groups, path=path, dpi=dpi)

