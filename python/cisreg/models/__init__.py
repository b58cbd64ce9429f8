"""Model specifications, compilation to the core network, parameters and I/O."""

from __future__ import annotations

from .measurement import GE, SortSeq
from .model import Model, kT_in_kcal
from .params import ParamLayout
from .presets import PRESETS, preset
from .spec import Kinetic, ModelSpec, Site, State, Thermodynamic, Transition, read_spec, spec_from_dict

__all__ = [
           "GE",
           "PRESETS",
           "Kinetic",
           "Model",
           "ModelSpec",
           "ParamLayout",
           "Site",
           "SortSeq",
           "State",
           "Thermodynamic",
           "Transition",
           "kT_in_kcal",
           "preset",
           "read_spec",
           "spec_from_dict",
]
