"""What a fit returns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..models.model import Model

__all__ = ["FitResult", "restart_summary"]


@dataclass(repr=False)
class FitResult:
    """What :func:`cisreg.fit` returns: the best model and how it was found."""

    model: Model
    history: dict[str, list[float]]
    best_epoch: int
    epochs_run: int
    wall_s: float
    stop_reason: str
    restarts: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    diverged: bool = False
    #: ``{"bootstrap": Uncertainty, "laplace": Uncertainty}`` when requested from fit
    uncertainty: dict[str, Any] = field(default_factory=dict)

    @property
    def best_val_nll(self) -> float:
        """Validation NLL per read of the returned parameters (those of ``best_epoch``)."""
        h = self.history["val_nll"]
        return h[self.best_epoch - 1] if h and 1 <= self.best_epoch <= len(h) else math.nan

    def __repr__(self) -> str:
        status = "interrupted" if self.interrupted else ("diverged" if self.diverged else "complete")
        return (f"FitResult({status}, {self.epochs_run} epochs, best epoch {self.best_epoch}, validation NLL "
                f"{self.best_val_nll:.5g}, {len(self.restarts) or 1} restart(s), {self.wall_s:.1f} s; "
                f"model={self.model!r})")

    def _repr_html_(self) -> str:
        """A summary for notebooks: how the fit ended, then the model's table."""
        from html import escape

        status = "interrupted" if self.interrupted else ("diverged" if self.diverged else "complete")
        rows = [("status", f"{status} ({self.stop_reason})"), ("epochs", self.epochs_run),
                ("best epoch", self.best_epoch), ("validation NLL", f"{self.best_val_nll:.5g}"),
                ("restarts", len(self.restarts) or 1), ("wall time", f"{self.wall_s:.1f} s")]
        body = "".join(f"<tr><th style='text-align:left'>{escape(str(k))}</th><td style='text-align:left'>"
                       f"{escape(str(v))}</td></tr>" for k, v in rows)
        return f"<table><caption>cisreg FitResult</caption>{body}</table>" + self.model._repr_html_()


def restart_summary(r: int, f: FitResult) -> dict[str, Any]:
    """One restart's outcome and physical parameters (for the report's spread)."""
    th = f.model.get_theta(units="kcal/mol")
    kt = f.model.get_theta()
    return {"restart": r, "best_val_nll": f.best_val_nll, "best_epoch": f.best_epoch, "epochs": f.epochs_run,
            "stop_reason": f.stop_reason, "interactions_kcal_mol": th["interactions"],
            "offsets_kcal_mol": th["offsets"], "interactions_kT": kt["interactions"], "log_rates": kt["log_rates"],
            "_energies": {k: v.to_numpy() for k, v in kt["energies"].items()}}
