"""The state graph of a kinetic model with its fitted rates, drawn with matplotlib alone."""

from __future__ import annotations

import itertools
import math
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ._base import maybe_save, new_figure, require, state_colors

__all__ = ["circle_order", "state_graph"]


def circle_order(states: list[str], edges: list[tuple[str, str]], max_search: int = 8) -> list[str]:
    """The order of ``states`` around a circle that puts connected states next to each other:
    the least total circular distance over the (undirected) edges, searched exhaustively up
    to ``max_search`` states (the first state stays first; ties keep the given order)."""
    n = len(states)
    if n <= 3 or n > max_search:
        return list(states)
    idx = {s: i for i, s in enumerate(states)}
    pairs = {tuple(sorted((idx[a], idx[b]))) for a, b in edges if a != b}

    def cost(order: tuple[int, ...]) -> int:
        where = {v: k for k, v in enumerate(order)}
        return sum(min(abs(where[i] - where[j]), n - abs(where[i] - where[j])) for i, j in pairs)

    best = tuple(range(n))
    best_cost = cost(best)
    for rest in itertools.permutations(range(1, n)):
        c = cost((0, *rest))
        if c < best_cost:
            best, best_cost = (0, *rest), c
    return [states[i] for i in best]


def _tex(s: str) -> str:
    """A name as a mathtext subscript."""
    return "".join("\\" + ch if ch in "_^{}$%&#" else ch for ch in s).replace("+", "{+}")


def _plain(s: str) -> str:
    return s.replace("$", r"\$")


def _num(v: float) -> str:
    if v == 0:
        return "0"
    if 1e-2 <= abs(v) < 1e4:
        return f"{v:.3g}"
    return f"{v:.2e}"


def _rate_label(t: Any, kappa: float, dG: dict[str, float] | None) -> str:
    terms = "".join(f" {'+' if c >= 0 else '−'} {'' if abs(c) == 1 else f'{abs(c):g}·'}ΔG$_{{{_tex(s)}}}$"
                    for s, c in t.energies if c != 0)
    const = (f"{kappa:.3g}" if not isinstance(t.rate, str) else f"{kappa:+.2f}").replace("-", "−")
    lines = [_plain(t.name) + (f"  [κ: {_plain(t.rate)}]" if isinstance(t.rate, str) else ""),
             f"ln k = {const}{terms}"]
    if dG is not None:
        lk = kappa + sum(c * dG[s] for s, c in t.energies)
        lines.append(f"k$_{{ref}}$ = {_num(math.exp(lk))}")
    return "\n".join(lines)


def _place(label: Any, p0: np.ndarray, c: np.ndarray, p1: np.ndarray, taken: list[Any], renderer: Any) -> Any:
    """Move ``label`` along its arc to the first point where it overlaps no taken box (the
    least overlap if there is none); return its display box."""
    best: Any = None
    best_overlap = math.inf
    for u in (0.5, 0.36, 0.64, 0.26, 0.74, 0.18, 0.82):
        label.set_position((1 - u) ** 2 * p0 + 2 * u * (1 - u) * c + u**2 * p1)
        bb = label.get_window_extent(renderer).padded(8)
        overlap = sum(_area(bb, o) for o in taken)
        if overlap < best_overlap:
            best, best_overlap = (label.get_position(), bb), overlap
        if overlap == 0:
            break
    label.set_position(best[0])
    return best[1]


def _area(a: Any, b: Any) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.hypot(*v))
    out: np.ndarray = v / n if n > 0 else v
    return out


def state_graph(model: Any, *, x_ref: str | None = None, path: str | Path | None = None, dpi: int = 150) -> Any:
    """The Markov graph of a kinetic model: states on a circle (ordered so that connected
    states sit side by side), one arrow per transition labelled with its fitted log-rate,
    ln k = κ + Σ β_s ΔG_s (fixed rate constants without a sign; learned ones name their κ).

    With a reference sequence ``x_ref`` the figure also gives each rate's value for it
    (``k_ref``) and each state's steady-state occupancy. Transitions whose flux is the
    activity are drawn in red; states whose occupancy is the activity are outlined in red.
    """
    require()
    if model.spec.kind != "kinetic":
        raise InputError("the state graph is drawn for kinetic models; this model is thermodynamic "
                         "(see the state landscape instead)")
    from matplotlib.patches import Circle, FancyArrowPatch
    from matplotlib.path import Path as MplPath

    g = model.spec.gpmap
    names = circle_order(list(g.states), [(t.source, t.target) for t in g.transitions])
    n = len(names)
    rates = model.get_theta()["log_rates"]
    dG = occ = None
    phi_ref = math.nan
    if x_ref is not None:
        det = model.x_to_details([x_ref])
        dG = {k: float(v) for k, v in det["dG"].iloc[0].items()}
        occ = {k: float(v) for k, v in det["state_probs"].iloc[0].items()}
        phi_ref = float(det["phi"][0])
    flux = set(g.flux)
    active = {s for s, c in g.occupancy if c != 0}

    R = 1.0
    if n == 4:  # a square reads better than a diamond
        ang = {s: math.pi * (0.75 - 0.5 * i) for i, s in enumerate(names)}
    else:
        ang = {s: math.pi / 2 - 2 * math.pi * i / n for i, s in enumerate(names)}
    pos = {s: np.array([R * math.cos(a), R * math.sin(a)]) for s, a in ang.items()}
    node_r = float(np.clip(1.0 / n, 0.1, 0.24))

    xy = np.array(list(pos.values()))
    lim_x = float(np.abs(xy[:, 0]).max()) + node_r + 0.4  # room for the labels of outer arcs
    lim_y = float(np.abs(xy[:, 1]).max()) + node_r + 0.3
    width = float(np.clip(5.0 + 0.6 * n, 7.5, 13.0))
    title_in = 0.7
    height = width * lim_y / lim_x + title_in
    # a fixed axes box (no layout engine), so that label extents can be measured in place
    fig = new_figure(width, height, layout=None)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0 - title_in / height))
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_xlim(-lim_x, lim_x)
    ax.set_ylim(-lim_y, lim_y)
    cols = state_colors(len(g.states))
    color_of = {s: cols[i] for i, s in enumerate(g.states)}
    taken = []  # display boxes of the nodes and of the labels placed so far
    for s in names:
        circle = Circle((float(pos[s][0]), float(pos[s][1])), node_r, facecolor=(*color_of[s][:3], 0.3),
                        edgecolor="#d62728" if s in active else "0.2", lw=2.4 if s in active else 1.2, zorder=3)
        ax.add_patch(circle)
        taken.append(circle.get_window_extent(renderer).shrunk(0.8, 0.8))
        if occ is not None:
            ax.text(pos[s][0], pos[s][1] + 0.02, _plain(s), ha="center", va="bottom", fontsize=10, zorder=4,
                    fontweight="bold")
            ax.text(pos[s][0], pos[s][1] - 0.02, f"p = {occ[s]:.3f}", ha="center", va="top", fontsize=8, zorder=4)
        else:
            ax.text(*pos[s], _plain(s), ha="center", va="center", fontsize=10, zorder=4, fontweight="bold")

    by_pair: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for t in g.transitions:
        by_pair[(t.source, t.target)].append(t)
    for (a, b), trs in by_pair.items():
        pa, pb = pos[a], pos[b]
        d = pb - pa
        for k, t in enumerate(trs):
            rad = 0.14 + 0.3 * k
            kappa = rates[t.rate] if isinstance(t.rate, str) else float(t.rate)
            color = "#d62728" if t.name in flux else "0.25"
            # a quadratic Bezier from rim to rim, its control point rad * |d| off the chord's middle
            ctrl = 0.5 * (pa + pb) + rad * np.array([d[1], -d[0]])
            start = pa + node_r * _unit(ctrl - pa)
            end = pb + (node_r + 0.01) * _unit(ctrl - pb)
            curve = MplPath([start, ctrl, end], [MplPath.MOVETO, MplPath.CURVE3, MplPath.CURVE3])
            ax.add_patch(FancyArrowPatch(path=curve, arrowstyle="-|>", mutation_scale=14, lw=1.4, color=color,
                                         zorder=2))
            label = ax.text(0, 0, _rate_label(t, kappa, dG), fontsize=7.5, ha="center", va="center", color=color,
                            zorder=5, linespacing=1.2,
                            bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": color, "lw": 0.6, "alpha": 0.92})
            taken.append(_place(label, start, ctrl, end, taken, renderer))
    what = "activity = flux through the red transitions" if flux else "activity = occupancy of the red states"
    ref = f"; rates k and occupancies p at the reference sequence (φ = {phi_ref:.3g})" if x_ref is not None else ""
    title = f"Kinetic state graph: {n} states, {len(g.transitions)} transitions; {what}{ref}"
    fig.suptitle("\n".join(textwrap.wrap(title, int(width * 12))), fontsize=10, y=1 - 0.12 / height, va="top")
    return maybe_save(fig, path, dpi)
