"""Built-in model specifications."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path
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

#: The three-state protein model of deep mutational scans of a binding domain (e.g. GB1,
#: Olson et al. 2014; Otwinowski 2018; Tareen et al. 2022): unfolded, folded (folding
#: energy dG_F, additive over the whole sequence) and folded + bound (binding energy
#: dG_B); activity = P(folded + bound). The length is the data's.
FOLD_BIND: dict[str, Any] = {
    "name": "fold-bind",
    "description": "protein fold + bind: unfolded / folded (dG_F) / folded+bound (dG_B), activity P(folded+bound)",
    "alphabet": "protein",
    "length": "auto",
    "sites": [{"name": "fold", "start": 0, "width": "all"}, {"name": "bind", "start": 0, "width": "all"}],
    "thermodynamic": {"states": [
        {"name": "unfolded", "bound": []},
        {"name": "folded", "bound": ["fold"]},
        {"name": "folded+bound", "bound": ["fold", "bind"], "activity": 1},
    ]},
    "measurement": {"type": "ge", "noise": "gaussian", "hidden": 20},
}

#: Example model files shipped with the package (cisreg/examples/*.json).
EXAMPLE_FILES: dict[str, str] = {"activator-rnap-kinetic": "activator_rnap_kinetic.json"}


def example_path(name: str) -> Path:
    """Path of a model file shipped with the package."""
    if name not in EXAMPLE_FILES:
        raise ModelFileError(f"unknown example model {name!r}; examples: {sorted(EXAMPLE_FILES)}")
    return Path(str(importlib.resources.files("cisreg") / "examples" / EXAMPLE_FILES[name]))


def _example(name: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(example_path(name).read_text(encoding="utf-8"))
    return out


PRESETS: dict[str, Any] = {"lac": LAC, "fold-bind": FOLD_BIND, **{k: _example for k in EXAMPLE_FILES}}


def preset(name: str) -> ModelSpec:
    """A built-in model by name: ``"lac"``, ``"fold-bind"`` (its length is the data's:
    ``preset("fold-bind").with_length(L)``) or an example model file
    (``"activator-rnap-kinetic"``)."""
    if name not in PRESETS:
        raise ModelFileError(f"unknown built-in model {name!r}; built-in models: {sorted(PRESETS)}")
    d = PRESETS[name]
    if callable(d):
        return spec_from_dict(d(name), source=str(example_path(name)))
    return spec_from_dict(d, source=f"built-in:{name}")


def resolve_spec(spec: Any) -> ModelSpec:
    """A ModelSpec from a ModelSpec, a model-file dict, a built-in name or a path."""
    if isinstance(spec, ModelSpec):
        return spec
    if isinstance(spec, dict):
        return spec_from_dict(spec)
    if isinstance(spec, (str, Path)):
        from .spec import read_spec

        if str(spec) in PRESETS and not Path(spec).exists():
            return preset(str(spec))
        return read_spec(spec)
    raise TypeError(f"a model must be a ModelSpec, a model-file dict, a built-in name ({', '.join(sorted(PRESETS))})"
                    f" or the path of a JSON/TOML model file; got {type(spec).__name__}")
