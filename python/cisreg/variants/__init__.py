"""Variants of a wild type: variant-effect scans (:func:`scan`) and sequence design (:func:`design`)."""

from __future__ import annotations

from .effects import scan
from .optimise import design

__all__ = ["design", "scan"]
