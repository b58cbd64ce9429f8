"""Figures of fitted models (needs the ``plot`` extra: ``pip install "cisreg[plot]"``).

Every function returns a :class:`matplotlib.figure.Figure` made without ``pyplot`` (no
display, no backend switch, the caller's pyplot state untouched) and writes it when given
``path`` (.png, .svg or .pdf)::

    import cisreg, cisreg.plot
    model = cisreg.load("lac_model")
    cisreg.plot.logos(model, path="logos.png")                  # energy logo of every site
    cisreg.plot.training("lac_model", path="training.png")      # NLL and I_var per epoch
    data = cisreg.load_example("lac-sortseq")
    cisreg.plot.measurement(model, data, path="phi.png")        # phi against the bins, test rows
    cisreg.plot.landscape(model, data.x[:5000], path="states.png")

The same figures are :class:`cisreg.Model` methods (``model.plot_logos(...)`` ...) and
the ``cisreg plot DIR`` command. matplotlib is imported when a figure is drawn, never when
cisreg is imported.
"""

from __future__ import annotations

from ._base import INSTALL_HINT, PlotDependencyError, save_figure
from .curves import measurement, phi_vs_measurement, training
from .graph import state_graph
from .landscape import landscape
from .logos import energy_heatmap, logos, pair_heatmap

__all__ = ["INSTALL_HINT", "PlotDependencyError", "energy_heatmap", "landscape", "logos", "measurement",
           "pair_heatmap", "phi_vs_measurement", "save_figure", "state_graph", "training"]
