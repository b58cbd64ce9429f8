"""What every figure shares: the optional dependencies, new figures, saving, colours.

Figures are made with :class:`matplotlib.figure.Figure` directly, never through
``pyplot``: no backend is selected and no display is needed, the caller's pyplot state
is left alone, and ``savefig`` renders with Agg (PNG) or the SVG/PDF writers.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["INSTALL_HINT", "PlotDependencyError", "letter_colors", "new_figure", "require", "save_figure"]

INSTALL_HINT = 'pip install "cisreg[plot]"'

#: File formats a figure may be written in (by suffix).
FORMATS = ("png", "svg", "pdf")


class PlotDependencyError(ImportError):
    """matplotlib or logomaker is missing (they are the optional ``plot`` extra)."""


def require(logos: bool = False) -> Any:
    """The matplotlib module (and check for logomaker when ``logos``); a clear error naming
    the ``plot`` extra when either is missing."""
    try:
        import matplotlib
    except ImportError:
        raise PlotDependencyError(f"plotting needs matplotlib: {INSTALL_HINT}") from None
    if logos:
        try:
            import logomaker  # noqa: F401
        except ImportError:
            raise PlotDependencyError(f"energy logos need logomaker: {INSTALL_HINT}") from None
    return matplotlib


def new_figure(width: float, height: float, layout: Any = "constrained") -> Any:
    """A Figure that belongs to no pyplot state (width and height in inches)."""
    require()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout=layout)


def save_figure(fig: Any, path: str | Path, *, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix: .png, .svg or .pdf)."""
    from ..errors import InputError

    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise InputError(f"cannot tell the image format from {p.name!r}; use a name ending in "
                         f"{', '.join('.' + f for f in FORMATS)}", source=str(p))
    if not p.parent.is_dir():
        raise InputError(f"cannot write here: the directory {str(p.parent)!r} does not exist", source=str(p))
    fig.savefig(p, dpi=dpi, format=fmt, metadata=_metadata(fmt))
    return p


def _metadata(fmt: str) -> dict[str, Any]:
    from .. import __version__

    # no creation date: the same model gives the same file
    if fmt == "png":
        return {"Software": f"cisreg {__version__} (matplotlib)"}
    if fmt == "svg":
        return {"Creator": f"cisreg {__version__}", "Date": None}
    return {"Creator": f"cisreg {__version__}", "CreationDate": None}


def maybe_save(fig: Any, path: str | Path | None, dpi: int = 150) -> Any:
    """Save when ``path`` is given; return the figure either way."""
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


_DNA = {"A": "#0c9d3c", "C": "#1f5fd6", "G": "#f2a007", "T": "#d62020", "U": "#d62020"}
# amino acids grouped by side chain (the "chemistry" colours of sequence-logo tools)
_PROTEIN_GROUPS = (("GSTYC", "#0c9d3c"), ("NQ", "#9b2fae"), ("KRH", "#1f5fd6"), ("DE", "#d62020"),
                   ("AVLIPWFM", "#222222"), ("*", "#888888"))


def letter_colors(alphabet: Iterable[str]) -> dict[str, str]:
    """A colour for every letter: nucleotides and amino acids in the usual schemes, other
    alphabets from a qualitative palette."""
    letters = list(alphabet)
    out: dict[str, str] = {}
    protein = {c: col for group, col in _PROTEIN_GROUPS for c in group}
    nucleic = set(letters) <= set("ACGTU")
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    for i, c in enumerate(letters):
        if nucleic:
            out[c] = _DNA[c]
        elif c in protein and set(letters) <= set(protein):
            out[c] = protein[c]
        else:
            out[c] = palette[i % len(palette)]
    return out


def state_colors(n: int) -> list[Any]:
    """n distinguishable colours (tab10, then tab20, then a continuous map)."""
    require()
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["viridis"](x) for x in np.linspace(0, 1, n)]


def quantile_bins(phi: np.ndarray, n_bins: int) -> np.ndarray:
    """Edges of up to ``n_bins`` bins of phi with equal numbers of sequences (ties merged)."""
    edges = np.unique(np.quantile(phi, np.linspace(0, 1, n_bins + 1)))
    if len(edges) < 2:
        edges = np.array([phi.min() - 0.5, phi.max() + 0.5])
    return edges
