"""Variants of a wild type: variant-effect scans (:func:`scan`)."""

from __future__ import annotations

from .effects import scan

__all__ = ["scan"]
