"""Model specifications: what a model file says, as frozen dataclasses.

A model file (JSON, or TOML on Python 3.11+) names the alphabet and sequence
length, the binding sites (windows of the sequence with an energy matrix each), a
genotype-phenotype map (``"thermodynamic"`` states or a ``"kinetic"`` graph) and a
measurement process::

    {"alphabet": "ACGT", "length": 75,
     "sites": [{"name": "CRP", "start": 1, "width": 26},
               {"name": "RNAP", "start": 34, "width": 41}],
     "thermodynamic": {"states": [
        {"name": "free", "bound": []},
        {"name": "CRP", "bound": ["CRP"]},
        {"name": "RNAP", "bound": ["RNAP"], "activity": 1},
        {"name": "CRP+RNAP", "bound": ["CRP", "RNAP"], "interactions": ["dG_I"],
         "activity": 1}]},
     "measurement": {"type": "sortseq", "bins": 10, "hidden": 50}}

Parsing validates everything and raises :class:`cisreg.errors.ModelFileError`
naming the offending key and what is allowed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.alphabet import alphabet_name, complement, resolve_alphabet
from ..errors import InputError, ModelFileError
from .measurement import MeasurementProcess, parse_measurement

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.+\-]{0,199}$")


ENERGY_KINDS = ("additive", "neighbor", "pairwise")


@dataclass(frozen=True)
class Site:
    """A binding site: a motif of ``width`` positions with an energy matrix (``E.<name>``
    [width, A]) and an offset (``eps.<name>``), and, for ``energy`` ``"neighbor"`` or
    ``"pairwise"``, energies of pairs of motif positions (``P.<name>`` [pairs, A, A]:
    adjacent pairs, or every pair at most ``max_distance`` apart).

    A fixed site is the window [start, start + width). A sliding site (``slide_stop``
    given) may sit at any placement [p, p + width) with start <= p <= slide_stop - width,
    on the forward strand or on both (``strands="both"``: also the reverse complement):
    dG = eps - log sum over placements of exp(-(energy of the placement + bias)), with an
    optional learnable bias per strand and placement (``bias.<name>``).
    """

    name: str
    start: int
    width: int
    energy: str = "additive"
    max_distance: int | None = None
    slide_stop: int | None = None
    strands: str = "forward"
    position_bias: bool = False

    @property
    def sliding(self) -> bool:
        return self.slide_stop is not None

    @property
    def n_place(self) -> int:
        return (self.slide_stop - self.start - self.width + 1) if self.slide_stop is not None else 1

    @property
    def n_strands(self) -> int:
        return 2 if self.strands == "both" else 1

    @property
    def n_configs(self) -> int:
        """Placements times strands; a site with more than one has per-row placement weights."""
        return self.n_place * self.n_strands

    @property
    def stop(self) -> int:
        """The end of the sequence range the site reads."""
        return self.slide_stop if self.slide_stop is not None else self.start + self.width

    def pairs(self) -> list[tuple[int, int]]:
        """The motif position pairs (i < j) that carry pair energies."""
        if self.energy == "additive":
            return []
        dmax = 1 if self.energy == "neighbor" else (self.max_distance or self.width)
        return [(i, j) for i in range(self.width) for j in range(i + 1, min(self.width, i + dmax + 1))]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name}
        if self.slide_stop is None:
            d["start"] = self.start
        d["width"] = self.width
        if self.energy != "additive":
            d["energy"] = self.energy
        if self.max_distance is not None:
            d["max_distance"] = self.max_distance
        if self.slide_stop is not None:
            d["slide"] = {"start": self.start, "stop": self.slide_stop, "strands": self.strands}
            if self.position_bias:
                d["slide"]["position_bias"] = True
        return d


@dataclass(frozen=True)
class State:
    """A thermodynamic state: the set of bound sites, the interaction energies
    that apply, and its activity (a number, or the name of a learnable one)."""

    name: str
    bound: tuple[str, ...] = ()
    interactions: tuple[str, ...] = ()
    activity: float | str = 0.0


@dataclass(frozen=True)
class Thermodynamic:
    states: tuple[State, ...]


@dataclass(frozen=True)
class Transition:
    """A kinetic transition with log-rate kappa[rate] + sum_s energies[s] * dG_s.

    ``rate`` is the name of a learnable log-rate constant, or a number (a fixed
    log-rate constant, in natural-log units)."""

    name: str
    source: str
    target: str
    rate: str | float
    energies: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Kinetic:
    states: tuple[str, ...]
    transitions: tuple[Transition, ...]
    # activity: either state occupancies {state: coefficient or name} or flux through transitions
    occupancy: tuple[tuple[str, float | str], ...] = ()
    flux: tuple[str, ...] = ()
    solver: str = "auto"  # "king-altman", "linear" or "auto"
    max_trees: int = 100_000


@dataclass(frozen=True)
class ModelSpec:
    alphabet: str
    length: int
    sites: tuple[Site, ...]
    gpmap: Thermodynamic | Kinetic
    measurement: MeasurementProcess
    t_sat: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def kind(self) -> str:
        return "thermodynamic" if isinstance(self.gpmap, Thermodynamic) else "kinetic"

    @property
    def length_from_data(self) -> bool:
        """Whether the model file says ``"length": "auto"`` (the length of the data it is fitted to)."""
        return self.length == 0

    def with_length(self, length: int) -> ModelSpec:
        """This specification for sequences of ``length`` (for ``"length": "auto"``)."""
        if not self.length_from_data:
            return self
        d = dict(self.extra["auto"])
        return spec_from_dict(d, source=self.extra.get("source"), length=length)

    def site(self, name: str) -> Site:
        for s in self.sites:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The model file as a JSON-compatible dict (inverse of :func:`spec_from_dict`)."""
        d: dict[str, Any] = {
            "alphabet": alphabet_name(self.alphabet),
            "length": self.length,
            "sites": [s.to_dict() for s in self.sites],
        }
        if isinstance(self.gpmap, Thermodynamic):
            states = []
            for st in self.gpmap.states:
                e: dict[str, Any] = {"name": st.name, "bound": list(st.bound)}
                if st.interactions:
                    e["interactions"] = list(st.interactions)
                if st.activity != 0:
                    e["activity"] = st.activity
                states.append(e)
            d["thermodynamic"] = {"states": states}
        else:
            k = self.gpmap
            trs = []
            for t in k.transitions:
                e = {"name": t.name, "from": t.source, "to": t.target, "rate": t.rate}
                if t.energies:
                    e["energies"] = dict(t.energies)
                trs.append(e)
            act: dict[str, Any] = {"flux": list(k.flux)} if k.flux else {"states": dict(k.occupancy)}
            d["kinetic"] = {"states": list(k.states), "transitions": trs, "activity": act,
                            "solver": k.solver, "max_trees": k.max_trees}
        d["measurement"] = self.measurement.to_dict()
        if self.t_sat != 1.0:
            d["t_sat"] = self.t_sat
        return d


# ----------------------------------------------------------------------------- parsing


def _err(key: str, msg: str, source: str | None) -> ModelFileError:
    return ModelFileError(msg, source=source, key=key)


def _keys(d: Any, key: str, allowed: set[str], required: set[str], source: str | None) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise _err(key, f"must be an object (a JSON dict), got {type(d).__name__}", source)
    unknown = sorted(str(k) for k in d if not isinstance(k, str) or k not in allowed)
    if unknown:
        raise _err(f"{key}.{unknown[0]}" if key else unknown[0],
                   f"unknown key; allowed keys here are {sorted(allowed)}", source)
    missing = sorted(required - set(d))
    if missing:
        raise _err(f"{key}.{missing[0]}" if key else missing[0], "required key is missing", source)
    return d


def _int(v: Any, key: str, lo: int, hi: int, source: str | None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _err(key, f"must be an integer, got {v!r}", source)
    if not lo <= v <= hi:
        raise _err(key, f"must be between {lo} and {hi}, got {v}", source)
    return v


def _num(v: Any, key: str, source: str | None) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _err(key, f"must be a number, got {_short(v)}", source)
    try:
        x = float(v)
    except OverflowError:
        raise _err(key, "is too large a number", source) from None
    if x != x or x in (float("inf"), float("-inf")):
        raise _err(key, "must be finite", source)
    return x


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


#: Parameter-block names and prefixes that user-chosen names (interaction energies,
#: rate constants, activities) must not take.
RESERVED = ("t_sat",)
RESERVED_PREFIXES = ("E.", "eps.", "P.", "bias.", "act.", "kappa.", "mpa.", "ge.", "counts.", "rounds.")


def _free_name(v: Any, key: str, source: str | None) -> str:
    """A name for a learnable scalar: a valid name that is not a reserved block name."""
    n = _name(v, key, source)
    if n in RESERVED or n.startswith(RESERVED_PREFIXES):
        raise _err(key, f"{n!r} is reserved for cisreg's own parameters (t_sat and names starting with "
                        f"{', '.join(RESERVED_PREFIXES)}); choose another name", source)
    return n


def _name(v: Any, key: str, source: str | None) -> str:
    if not isinstance(v, str) or not _NAME.match(v):
        raise _err(key, f"must be a name of letters, digits and _ . + - (starting with a letter "
                        f"or _; at most 200 characters), got {_short(v)}", source)
    return v


def _names(v: Any, key: str, source: str | None, free: bool = False) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise _err(key, f"must be a list of names, got {_short(v)}", source)
    check = _free_name if free else _name
    out = tuple(check(x, f"{key}[{i}]", source) for i, x in enumerate(v))
    if len(set(out)) != len(out):
        raise _err(key, "lists a name twice", source)
    return out


def _unique(names: list[str], key: str, what: str, source: str | None) -> None:
    seen: set[str] = set()
    for i, n in enumerate(names):
        if n in seen:
            raise _err(f"{key}[{i}].name", f"duplicate {what} name {n!r}; names must be unique", source)
        seen.add(n)


def spec_from_dict(d: Any, *, source: str | None = None, length: int | None = None) -> ModelSpec:
    """Validate a model-file dict and return a :class:`ModelSpec`.

    ``"length": "auto"`` takes the length from the data the model is fitted to: give it
    here, or call :meth:`ModelSpec.with_length` later (until then the spec has length 0).
    """
    top = {"alphabet", "length", "sites", "thermodynamic", "kinetic", "measurement", "t_sat", "name",
           "description"}
    d = _keys(d, "", top, {"length", "sites", "measurement"}, source)
    alpha_in = d.get("alphabet", "dna")
    try:
        alphabet = resolve_alphabet(alpha_in)
    except InputError as e:
        raise _err("alphabet", str(e).split(": ", 1)[-1], source) from None
    auto = d["length"] == "auto"
    if auto:
        if length is None:
            length = 0
        L = length
    else:
        L = _int(d["length"], "length", 1, 1_000_000, source)
    if not isinstance(d["sites"], list) or not d["sites"]:
        raise _err("sites", "must be a non-empty list of {name, start, width}", source)
    sites = [_parse_site(s, i, L, alphabet, source) for i, s in enumerate(d["sites"])] if L else []
    if L:
        _unique([s.name for s in sites], "sites", "site", source)
        site_names = {s.name for s in sites}
    else:  # names only, until the length is known
        site_names = set()
        for i, s in enumerate(d["sites"]):
            s = _keys(s, f"sites[{i}]", _SITE_KEYS, {"name"}, source)
            site_names.add(_name(s["name"], f"sites[{i}].name", source))

    has_t, has_k = "thermodynamic" in d, "kinetic" in d
    if has_t == has_k:
        raise _err("thermodynamic", "exactly one of 'thermodynamic' or 'kinetic' must be given", source)
    if has_t:
        gpmap: Thermodynamic | Kinetic = _parse_thermo(d["thermodynamic"], site_names, source)
    else:
        gpmap = _parse_kinetic(d["kinetic"], site_names, source)

    meas = parse_measurement(d["measurement"], source)
    t_sat = _num(d.get("t_sat", 1.0), "t_sat", source)
    if t_sat <= 0:
        raise _err("t_sat", "must be positive", source)
    extra: dict[str, Any] = {k: d[k] for k in ("name", "description") if k in d}
    if auto and not L:
        extra["auto"] = d
        extra["source"] = source
    return ModelSpec(alphabet, L, tuple(sites), gpmap, meas, t_sat, extra)


_SITE_KEYS = {"name", "start", "width", "energy", "max_distance", "slide"}
#: Parameters one site may have (the model-directory limit, cisreg.models.io.MAX_PARAMS):
#: checked from the specification, before any array is allocated.
MAX_SITE_PARAMS = 50_000_000


def _parse_site(s: Any, i: int, length: int, alphabet: str, source: str | None) -> Site:
    k = f"sites[{i}]"
    s = _keys(s, k, _SITE_KEYS, {"name", "width"}, source)
    name = _name(s["name"], f"{k}.name", source)
    slide = s.get("slide")
    if slide is None:
        if "start" not in s:
            raise _err(f"{k}.start", "required key is missing (or give \"slide\" for a site of unknown position)",
                       source)
        start = _int(s["start"], f"{k}.start", 0, length - 1, source)
        if s["width"] == "all":
            width = length - start
        else:
            width = _int(s["width"], f"{k}.width", 1, length, source)
        if start + width > length:
            raise _err(f"{k}.width", f"window [{start}, {start + width}) of site {name!r} extends past the "
                                     f"sequence end ({length}); shorten the width or move the start", source)
        stop, strands, bias = None, "forward", False
    else:
        if "start" in s:
            raise _err(f"{k}.start", "a sliding site takes its range from \"slide\": {\"start\": a, \"stop\": b}; "
                                     "drop \"start\"", source)
        slide = _keys(slide, f"{k}.slide", {"start", "stop", "strands", "position_bias"}, {"start", "stop"}, source)
        start = _int(slide["start"], f"{k}.slide.start", 0, length - 1, source)
        stop = _int(slide["stop"], f"{k}.slide.stop", 1, length, source)
        width = _int(s["width"], f"{k}.width", 1, length, source)
        if stop - start < width:
            raise _err(f"{k}.slide", f"the range [{start}, {stop}) of site {name!r} is shorter than its width "
                                     f"{width}; widen the range or shorten the motif", source)
        strands = slide.get("strands", "forward")
        if strands not in ("forward", "both"):
            raise _err(f"{k}.slide.strands", f"must be 'forward' or 'both', got {strands!r}", source)
        if strands == "both" and complement(alphabet) is None:
            raise _err(f"{k}.slide.strands", f"the reverse strand needs a nucleic-acid alphabet (dna, rna); "
                                             f"{alphabet_name(alphabet)!r} has no complement: use \"forward\"",
                       source)
        bias = slide.get("position_bias", False)
        if not isinstance(bias, bool):
            raise _err(f"{k}.slide.position_bias", f"must be true or false, got {bias!r}", source)
    energy = s.get("energy", "additive")
    if energy not in ENERGY_KINDS:
        raise _err(f"{k}.energy", f"must be one of {', '.join(map(repr, ENERGY_KINDS))}, got {energy!r}", source)
    max_distance = None
    if "max_distance" in s:
        if energy != "pairwise":
            raise _err(f"{k}.max_distance", "applies to \"energy\": \"pairwise\" sites only", source)
        max_distance = _int(s["max_distance"], f"{k}.max_distance", 1, max(1, width - 1), source)
    if energy != "additive" and width < 2:
        raise _err(f"{k}.energy", f"{energy} energies need pairs of positions; site {name!r} has width {width}",
                   source)
    A = len(alphabet)
    dmax = 0 if energy == "additive" else (1 if energy == "neighbor" else (max_distance or width - 1))
    n_pairs = sum(width - d for d in range(1, dmax + 1))
    n_par = width * A + n_pairs * A * A
    if n_par > MAX_SITE_PARAMS:
        raise _err(f"{k}.width", f"site {name!r} ({energy}, width {width}, {n_pairs} pairs over {A} letters) would "
                                 f"need {n_par:,} parameters ({8 * n_par / 2**30:.1f} GiB per copy), more than the "
                                 f"{MAX_SITE_PARAMS:,} allowed; narrow the site or limit max_distance", source)
    return Site(name, start, width, energy, max_distance, stop, strands, bias)


def _activity(v: Any, key: str, source: str | None) -> float | str:
    if isinstance(v, str):
        return _free_name(v, key, source)
    x = _num(v, key, source)
    if x < 0:
        raise _err(key, "activities must be >= 0", source)
    return x


def _parse_thermo(t: Any, site_names: set[str], source: str | None) -> Thermodynamic:
    t = _keys(t, "thermodynamic", {"states"}, {"states"}, source)
    if not isinstance(t["states"], list) or not t["states"]:
        raise _err("thermodynamic.states", "must be a non-empty list of states", source)
    states = []
    for i, s in enumerate(t["states"]):
        k = f"thermodynamic.states[{i}]"
        s = _keys(s, k, {"name", "bound", "interactions", "activity"}, {"name"}, source)
        name = _name(s["name"], f"{k}.name", source)
        bound = _names(s.get("bound", []), f"{k}.bound", source)
        for j, b in enumerate(bound):
            if b not in site_names:
                raise _err(f"{k}.bound[{j}]", f"names unknown site {b!r}; known sites: {sorted(site_names)}",
                           source)
        inter = _names(s.get("interactions", []), f"{k}.interactions", source, free=True)
        for j, b in enumerate(inter):
            if b in site_names:
                raise _err(f"{k}.interactions[{j}]", f"{b!r} is a site name; interaction energies need "
                                                     "names of their own", source)
        states.append(State(name, bound, inter, _activity(s.get("activity", 0.0), f"{k}.activity", source)))
    _unique([s.name for s in states], "thermodynamic.states", "state", source)
    if not any(s.activity != 0 for s in states):
        raise _err("thermodynamic.states", "no state has a non-zero activity, so phi would be 0 for every "
                                           "sequence; give the active states \"activity\": 1", source)
    return Thermodynamic(tuple(states))


def _parse_kinetic(k: Any, site_names: set[str], source: str | None) -> Kinetic:
    k = _keys(k, "kinetic", {"states", "transitions", "activity", "solver", "max_trees"},
              {"states", "transitions", "activity"}, source)
    states = _names(k["states"], "kinetic.states", source)
    if len(states) < 2:
        raise _err("kinetic.states", "a kinetic model needs at least 2 states", source)
    if not isinstance(k["transitions"], list) or not k["transitions"]:
        raise _err("kinetic.transitions", "must be a non-empty list of transitions", source)
    trs = []
    for i, t in enumerate(k["transitions"]):
        key = f"kinetic.transitions[{i}]"
        t = _keys(t, key, {"name", "from", "to", "rate", "energies"}, {"from", "to", "rate"}, source)
        src, dst = t["from"], t["to"]
        for role, v in (("from", src), ("to", dst)):
            if v not in states:
                raise _err(f"{key}.{role}", f"names unknown state {v!r}; known states: {list(states)}", source)
        if src == dst:
            raise _err(f"{key}.to", "a transition must connect two different states", source)
        rate = t["rate"]
        rate = _free_name(rate, f"{key}.rate", source) if isinstance(rate, str) else _num(rate, f"{key}.rate", source)
        if isinstance(rate, str) and (rate in site_names or rate in states):
            raise _err(f"{key}.rate", f"{rate!r} is already a site or state name", source)
        en = t.get("energies", {})
        if not isinstance(en, dict):
            raise _err(f"{key}.energies", "must be an object {SITE: coefficient}", source)
        energies = []
        for sname, coef in en.items():
            if sname not in site_names:
                raise _err(f"{key}.energies.{sname}", f"unknown site; known sites: {sorted(site_names)}", source)
            energies.append((sname, _num(coef, f"{key}.energies.{sname}", source)))
        default = f"{src}_to_{dst}_{i}" if len(src) + len(dst) < 180 else f"transition_{i}"
        name = _name(t.get("name", default), f"{key}.name", source)
        trs.append(Transition(name, src, dst, rate, tuple(energies)))
    _unique([t.name for t in trs], "kinetic.transitions", "transition", source)
    act = _keys(k["activity"], "kinetic.activity", {"states", "flux"}, set(), source)
    if ("states" in act) == ("flux" in act):
        raise _err("kinetic.activity", "give exactly one of 'states' (occupancies) or 'flux' (transitions)",
                   source)
    occ: list[tuple[str, float | str]] = []
    flux: tuple[str, ...] = ()
    if "states" in act:
        if not isinstance(act["states"], dict) or not act["states"]:
            raise _err("kinetic.activity.states", "must be a non-empty object {STATE: coefficient}", source)
        for sname, c in act["states"].items():
            if sname not in states:
                raise _err(f"kinetic.activity.states.{sname}", f"unknown state; known: {list(states)}", source)
            occ.append((sname, _activity(c, f"kinetic.activity.states.{sname}", source)))
        if all(c == 0 for _, c in occ):
            raise _err("kinetic.activity.states", "every activity is 0, so phi would be 0 for every sequence; "
                                                  "give the active states a positive coefficient", source)
    else:
        flux = _names(act["flux"], "kinetic.activity.flux", source)
        tnames = {t.name for t in trs}
        for j, f in enumerate(flux):
            if f not in tnames:
                raise _err(f"kinetic.activity.flux[{j}]", f"unknown transition {f!r}; known: {sorted(tnames)}",
                           source)
        if not flux:
            raise _err("kinetic.activity.flux", "must name at least one transition", source)
    solver = k.get("solver", "auto")
    if solver not in ("auto", "king-altman", "linear"):
        raise _err("kinetic.solver", f"must be 'auto', 'king-altman' or 'linear', got {solver!r}", source)
    max_trees = _int(k.get("max_trees", 100_000), "kinetic.max_trees", 1, 100_000_000, source)
    return Kinetic(states, tuple(trs), tuple(occ), flux, solver, max_trees)


def read_spec(path: str | Path) -> ModelSpec:
    """Read a model file (``.json``, or ``.toml`` on Python 3.11+)."""
    p = Path(path)
    src = str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelFileError("model file not found; give a path to a JSON/TOML model file or a built-in "
                             "name such as 'lac'", source=src) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ModelFileError(f"cannot read model file: {e}", source=src) from None
    if p.suffix.lower() == ".toml":
        try:
            import tomllib  # type: ignore[import-not-found]
        except ImportError:  # pragma: no cover - Python < 3.11
            raise ModelFileError("TOML model files need Python 3.11 or newer; use JSON", source=src) from None
        try:
            d = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ModelFileError(f"not valid TOML: {e}", source=src) from None
        except (ValueError, RecursionError) as e:
            raise ModelFileError(f"not a usable TOML model file: {str(e)[:200]}", source=src) from None
    else:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ModelFileError(f"not valid JSON (line {e.lineno}, column {e.colno}): {e.msg}", source=src) from None
        except (ValueError, RecursionError) as e:  # huge integer literals, absurd nesting
            raise ModelFileError(f"not a usable JSON model file: {str(e)[:200]}", source=src) from None
    return spec_from_dict(d, source=src)
