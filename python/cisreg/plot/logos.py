"""Energy logos of sites, heatmaps of pair energies, position-bias profiles of sliding sites.

Logos show minus the energy, so that the letters a site favours stand up and the ones it
penalises hang below the axis. The gauge is the one :meth:`cisreg.Model.get_theta`
declares (the likelihood does not depend on it); its name is in every title.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ._base import letter_colors, maybe_save, new_figure, require

__all__ = ["energy_heatmap", "logos", "pair_heatmap"]

_GAUGE_NAMES = {"uniform": "uniform gauge", "wt": "relative to the reference sequence",
                "empirical": "library-frequency gauge", "none": "as stored (no gauge)"}


def _theta(model: Any, gauge: str, x_wt: str | None, x_library: Any, units: str,
           temperature_c: float) -> dict[str, Any]:
    out: dict[str, Any] = model.get_theta(gauge=gauge, x_wt=x_wt, x_library=x_library, units=units,
                                          temperature_c=temperature_c)
    return out


def _unit(units: str) -> str:
    return "kT" if units == "kT" else "kcal/mol"


def _sites(model: Any, sites: str | Sequence[str] | None) -> list[Any]:
    if sites is None:
        return list(model.spec.sites)
    names = [sites] if isinstance(sites, str) else list(sites)
    known = [s.name for s in model.spec.sites]
    out = []
    for n in names:
        if n not in known:
            raise InputError(f"this model has no site {n!r}; its sites: {known}")
        out.append(model.spec.site(n))
    return out


def _site_title(site: Any, offset: float, unit: str, gauge: str) -> str:
    if site.sliding:
        where = f"slides over [{site.start}, {site.slide_stop})" + (", both strands" if site.n_strands == 2 else "")
    else:
        where = f"positions {site.start}-{site.start + site.width - 1}"
    kind = "" if site.energy == "additive" else f", {site.energy} energies"
    what = {"wt": "ΔG of the reference", "uniform": "mean ΔG over random sequences",
            "empirical": "mean ΔG over the library"}.get(gauge, "offset") if not site.sliding else "offset"
    return f"{site.name}  ({where}{kind});  {what} {offset:+.2f} {unit}"


def _auto_style(site: Any, alphabet: str, style: str) -> str:
    if style not in ("auto", "logo", "heatmap"):
        raise InputError(f"style must be 'auto', 'logo' or 'heatmap', got {style!r}")
    if style != "auto":
        return style
    return "heatmap" if len(alphabet) > 4 or site.width > 80 else "logo"


def _integer_ticks(ax: Any, n: int) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=min(n, 16), integer=True))


def _draw_logo(ax: Any, E: Any, alphabet: str, site: Any, unit: str) -> None:
    import logomaker

    df = -E  # favoured letters up
    df.index = df.index.astype(int)
    logo = logomaker.Logo(df, ax=ax, color_scheme=letter_colors(alphabet), flip_below=True, baseline_width=0.6,
                          vpad=0.05, width=0.9)
    logo.style_spines(visible=False)
    logo.style_spines(spines=("left", "bottom"), visible=True)
    _integer_ticks(ax, len(df))
    ax.set_ylabel(f"−ΔG ({unit})")
    ax.set_xlabel("motif position" if site.sliding else "sequence position")


def _draw_heatmap(fig: Any, ax: Any, E: Any, alphabet: str, site: Any, unit: str, wt: np.ndarray | None) -> None:
    vals = E.to_numpy().T  # [A, width]
    lim = float(np.nanmax(np.abs(vals))) or 1.0
    pos = E.index.to_numpy()
    im = ax.imshow(vals, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                   extent=(pos[0] - 0.5, pos[-1] + 0.5, len(alphabet) - 0.5, -0.5))
    ax.set_yticks(range(len(alphabet)), list(alphabet), fontsize=7 if len(alphabet) > 8 else 9)
    if wt is not None and not site.sliding:
        ref = wt[site.start : site.start + site.width]
        ax.plot(pos, ref, "o", ms=2.5, mfc="k", mec="none", label="reference")
    _integer_ticks(ax, len(pos))
    ax.set_xlabel("motif position" if site.sliding else "sequence position")
    fig.colorbar(im, ax=ax, label=f"ΔG ({unit})", fraction=0.03, pad=0.01)


def _draw_bias(ax: Any, bias: Any, unit: str, name: str) -> None:
    pos = np.asarray(bias.columns, dtype=float)
    for strand, style in zip(bias.index, ("-", "--")):
        ax.plot(pos, -bias.loc[strand].to_numpy(), style, lw=1.2,
                label="forward strand" if strand == "+" else "reverse strand")
    ax.axhline(0, color="0.6", lw=0.6, zorder=0)
    ax.set_xlim(pos[0] - 0.5, pos[-1] + 0.5)
    ax.set_ylabel(f"−bias ({unit})")
    ax.set_xlabel("placement (first sequence position)")
    ax.set_title(f"{name}: placement bias (up: favoured placement)", fontsize=9, loc="left")
    ax.legend(fontsize=7, frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, borderaxespad=0.1)


def logos(model: Any, *, sites: str | Sequence[str] | None = None, gauge: str = "uniform", x_wt: str | None = None,
          x_library: Any = None, units: str = "kT", temperature_c: float = 37.0, style: str = "auto",
          path: str | Path | None = None, dpi: int = 150) -> Any:
    """One figure with the energy logo of every site (or of ``sites``), in ``gauge``.

    Letters stand up when they favour binding (the logo shows −ΔG). Sliding sites with a
    position bias get its profile beneath their logo. Sites over large alphabets (protein)
    or wider than 80 positions are drawn as heatmaps (``style="auto"``; or force ``"logo"``
    / ``"heatmap"``). Pair energies are drawn by :func:`pair_heatmap`. Returns the
    matplotlib Figure, and writes it to ``path`` when given (.png, .svg or .pdf).
    """
    require(logos=True)
    chosen = _sites(model, sites)
    th = _theta(model, gauge, x_wt, x_library, units, temperature_c)
    unit = _unit(units)
    wt = model.codes([x_wt])[0] if x_wt is not None else None
    rows: list[tuple[str, Any]] = []
    for s in chosen:
        rows.append(("site", s))
        if s.name in th["biases"]:
            rows.append(("bias", s))
    heights = [1.0 if kind == "site" else 0.6 for kind, _ in rows]
    wmax = max(s.width for s in chosen)
    fig_w = float(np.clip(1.6 + 0.2 * wmax, 5.5, 16.0))
    fig = new_figure(fig_w, 0.55 + sum(2.0 * h for h in heights))
    gs = fig.add_gridspec(len(rows), 1, height_ratios=heights)
    for r, (kind, s) in enumerate(rows):
        site_style = _auto_style(s, model.alphabet, style)
        if kind == "bias" or s.width == wmax or site_style == "heatmap":
            ax = fig.add_subplot(gs[r])
        else:  # left-aligned, letters as wide as in the widest logo
            sub = gs[r].subgridspec(1, 2, width_ratios=[s.width, wmax - s.width], wspace=0)
            ax = fig.add_subplot(sub[0])
        if kind == "bias":
            _draw_bias(ax, th["biases"][s.name], unit, s.name)
            continue
        E = th["energies"][s.name]
        if site_style == "logo":
            _draw_logo(ax, E.copy(), model.alphabet, s, unit)
        else:
            _draw_heatmap(fig, ax, E, model.alphabet, s, unit, wt if gauge == "wt" else None)
        ax.set_title(_site_title(s, th["offsets"][s.name], unit, gauge), fontsize=9, loc="left")
    fig.suptitle(f"Energy {'logos' if len(chosen) > 1 else 'logo'}, {_GAUGE_NAMES.get(gauge, gauge)} ({unit}); "
                 f"letters up favour binding", fontsize=10)
    return maybe_save(fig, path, dpi)


def energy_heatmap(model: Any, site: str, **kw: Any) -> Any:
    """The energy matrix of ``site`` as a heatmap (letters by positions); see :func:`logos`."""
    return logos(model, sites=site, style="heatmap", **kw)


def pair_heatmap(model: Any, site: str, *, gauge: str = "uniform", x_wt: str | None = None, x_library: Any = None,
                 units: str = "kT", temperature_c: float = 37.0, path: str | Path | None = None,
                 dpi: int = 150) -> Any:
    """Pair energies of a ``"neighbor"`` or ``"pairwise"`` site as a heatmap.

    Pairwise sites: an upper-triangular matrix of blocks, block (i, j) holding the energy
    of letter a at motif position i (rows) with letter b at position j (columns).
    Neighbour sites: a strip of the (i, i+1) blocks. Red costs energy, blue favours
    binding.
    """
    require()
    (s,) = _sites(model, site)
    th = _theta(model, gauge, x_wt, x_library, units, temperature_c)
    if s.name not in th["pair_energies"]:
        raise InputError(f"site {s.name!r} has additive energies only (no pair energies to draw)")
    pe = th["pair_energies"][s.name]
    pairs, P = pe["pairs"], np.asarray(pe["values"])
    alphabet = model.alphabet
    A, w = len(alphabet), s.width
    unit = _unit(units)
    first = 0 if s.sliding else s.start
    lim = float(np.max(np.abs(P))) or 1.0
    neighbor = all(j == i + 1 for i, j in pairs)
    small = A <= 4
    if neighbor:
        M = np.full((A, (w - 1) * A), np.nan)
        for q, (i, _) in enumerate(pairs):
            M[:, i * A : (i + 1) * A] = P[q]
        fig = new_figure(float(np.clip(2.5 + 0.2 * (w - 1) * A, 6.5, 16.0)), float(np.clip(1.7 + 0.2 * A, 2.6, 6.0)))
        ax = fig.add_subplot()
        im = ax.imshow(M, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest", aspect="auto")
        for q in range(1, w - 1):
            ax.axvline(q * A - 0.5, color="k", lw=0.6)
        ax.set_xticks([q * A + (A - 1) / 2 for q in range(w - 1)],
                      [f"{first + q}|{first + q + 1}" for q in range(w - 1)], fontsize=7, rotation=90 if w > 12 else 0)
        ax.set_yticks(range(A), list(alphabet), fontsize=7 if A > 4 else 8)
        ax.set_ylabel("letter at position i")
        letters = "".join(alphabet) if small else "..."
        ax.set_xlabel(f"positions i|i+1 (letter at i+1 along each block: {letters})")
    else:
        # rows: positions 0 .. w-2 (i), columns: 1 .. w-1 (j > i)
        M = np.full(((w - 1) * A, (w - 1) * A), np.nan)
        for q, (i, j) in enumerate(pairs):
            M[i * A : (i + 1) * A, (j - 1) * A : j * A] = P[q]
        side = float(np.clip(1.5 + 0.09 * w * A, 4.5, 11.0))
        fig = new_figure(side + 1.2, side)
        ax = fig.add_subplot()
        im = ax.imshow(M, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest", aspect="equal")
        for q in range(1, w - 1):
            ax.axvline(q * A - 0.5, color="0.8", lw=0.4, zorder=0)
            ax.axhline(q * A - 0.5, color="0.8", lw=0.4, zorder=0)
        step = max(1, int(np.ceil(w / 20)))
        centers = [q * A + (A - 1) / 2 for q in range(0, w - 1, step)]
        ax.set_xticks(centers, [str(first + q + 1) for q in range(0, w - 1, step)], fontsize=7)
        ax.set_yticks(centers, [str(first + q) for q in range(0, w - 1, step)], fontsize=7)
        ax.xaxis.tick_top()
        ax.xaxis.set_label_position("top")
        where = "motif position" if s.sliding else "sequence position"
        ax.set_xlabel(f"{where} j (letters {''.join(alphabet) if small else '...'} within each block)")
        ax.set_ylabel(f"{where} i")
        for sp in ax.spines.values():
            sp.set_visible(False)
    fig.colorbar(im, ax=ax, label=f"pair energy ({unit})", fraction=0.04 if neighbor else 0.046, pad=0.02)
    title = (f"{s.name}: {s.energy} pair energies, {_GAUGE_NAMES.get(gauge, gauge)} ({unit}); "
             "red costs energy, blue favours binding")
    fig.suptitle("\n".join(textwrap.wrap(title, int(fig.get_figwidth() * 13))), fontsize=9)
    return maybe_save(fig, path, dpi)
