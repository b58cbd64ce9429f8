"""Built-in model specifications."""

from __future__ import annotations

from typing import Any

from ..errors import ModelFileError
from .spec import ModelSpec, spec_from_dict

#: The E. coli lac promoter model of Kinney et al. (2010) / Tareen & Kinney (2019):
#: CRP and RNA polymerase binding a 75-bp promoter; four states; the CRP-RNAP
#: interaction energy dG_I; RNAP-bound states transcribe.
LAC: dict[str, Any] = {
    "name": "lac",
    "description": "lac promoter: CRP (positions 1-26) + RNAP (34-74), 4 states, interaction dG_I",
    "alphabet": "ACGT",
    "length": 75,
    "sites": [{"name": "CRP", "start": 1, "width": 26}, {"name": "RNAP", "start": 34, "width": 41}],
    "thermodynamic": {"states": [
        {"name": "free", "bound": []},
        {"name": "CRP", "bound": ["CRP"]},
        {"name": "RNAP", "bound": ["RNAP"], "activity": 1},
        {"name": "CRP+RNAP", "bound": ["CRP", "RNAP"], "interactions": ["dG_I"], "activity": 1},
    ]},
    "measurement": {"type": "sortseq", "bins": 10, "hidden": 50},
}

PRESETS: dict[str, dict[str, Any]] = {"lac": LAC}


def preset(name: str) -> ModelSpec:
    """A built-in model by name (``"lac"``)."""
    if name not in PRESETS:
        raise ModelFileError(f"unknown built-in model {name!r}; built-in models: {sorted(PRESETS)}")
    return spec_from_dict(PRESETS[name], source=f"built-in:{name}")
