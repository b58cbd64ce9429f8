"""Write the API reference pages (docs/api/*.rst) from the package itself.

Every name in ``cisreg.__all__`` is documented on the top-level page; every public
submodule gets a page with the names of its ``__all__`` (or, without one, the functions
and classes it defines). An object already documented under another name (a
re-export) is linked instead of documented twice. The pages are regenerated on every
build, so they follow the package: nothing here lists a function by hand.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

#: The public submodules, in the order of the reference.
MODULES = [
    "cisreg.data", "cisreg.models", "cisreg.models.spec", "cisreg.models.measurement", "cisreg.models.sites",
    "cisreg.models.kinetic", "cisreg.models.presets", "cisreg.models.io", "cisreg.training", "cisreg.training.loop",
    "cisreg.training.evaluate", "cisreg.training.result", "cisreg.training.metrics", "cisreg.training.report",
    "cisreg.training.checkpoint", "cisreg.training.uncertainty", "cisreg.simulate", "cisreg.compare", "cisreg.variants",
    "cisreg.variants.effects", "cisreg.variants.optimise", "cisreg.variants.mutants", "cisreg.scaleout",
    "cisreg.scaleout.jobs", "cisreg.scaleout.dataparallel", "cisreg.plot", "cisreg.errors",
]


def _kind(obj: Any) -> str:
    if inspect.isclass(obj):
        return "autoexception" if issubclass(obj, BaseException) else "autoclass"
    if inspect.isroutine(obj):
        return "autofunction"
    return "autodata"


def _entry(kind: str, target: str, obj: Any) -> list[str]:
    lines = [f".. {kind}:: {target}"]
    if kind == "autoclass":
        lines.append("   :members:")
    if kind == "autodata" and len(repr(obj)) > 120:
        lines.append("   :no-value:")
    return [*lines, ""]


def _title(text: str, ch: str = "=") -> list[str]:
    return [text, ch * len(text), ""]


def _public(mod: Any) -> list[str]:
    names = getattr(mod, "__all__", None)
    if names is not None:
        return [n for n in names if not n.startswith("__")]
    return [n for n, v in vars(mod).items() if not n.startswith("_")
            and (inspect.isclass(v) or inspect.isfunction(v)) and getattr(v, "__module__", None) == mod.__name__]


def _attr_doc_home(obj: Any, name: str) -> str | None:
    """The module (of MODULES or their submodules) whose source documents ``name`` with a
    ``#:`` comment and holds ``obj`` under that name: where a constant is documented."""
    import sys

    from sphinx.pycode import ModuleAnalyzer

    for modname in sorted(m for m in sys.modules if m.startswith("cisreg.")):
        mod = sys.modules[modname]
        if getattr(mod, name, None) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except Exception:
            continue
        if ("", name) in docs:
            return modname
    return None


def _data_entry(target: str, obj: Any, home: str, name: str) -> list[str]:
    """A constant documented where it is defined (``home``) but shown under ``target``."""
    from sphinx.pycode import ModuleAnalyzer

    doc = ModuleAnalyzer.for_module(home).find_attr_docs()[("", name)]
    lines = [f".. py:data:: {target}"]
    if len(repr(obj)) <= 120:
        lines.append(f"   :value: {obj!r}")
    return [*lines, "", *[f"   {line}" if line.strip() else "" for line in doc], ""]


def write_pages(outdir: Path) -> list[str]:
    import cisreg

    for modname in MODULES:
        importlib.import_module(modname)

    outdir.mkdir(parents=True, exist_ok=True)
    seen: dict[int, str] = {}
    pages = []

    top = [*_title("The ``cisreg`` namespace"), ".. module:: cisreg", "",
           "What ``import cisreg`` gives: every name in ``cisreg.__all__``.", "",
           f"``cisreg.__version__`` is ``{cisreg.__version__!r}``.", ""]
    for name in cisreg.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(cisreg, name)
        if name == "fit":
            top += [".. function:: fit(data, model, **settings)", "   :no-index:", "",
                    "   Fit a model to a data set by maximum likelihood: :func:`cisreg.training.loop.fit`",
                    "   (which lists every setting). Returns a :class:`cisreg.FitResult`. (``cisreg.fit``",
                    "   is also the old name of :mod:`cisreg.training`: ``import cisreg.fit.metrics`` still",
                    "   works.)", ""]
            continue
        if inspect.ismodule(obj):
            top += [f".. py:data:: {name}", "   :no-index:", "", f"   The module :mod:`{obj.__name__}`.", ""]
            continue
        seen[id(obj)] = f"cisreg.{name}"
        top += _entry(_kind(obj), f"cisreg.{name}", obj)
    (outdir / "cisreg.rst").write_text("\n".join(top), encoding="utf-8")
    pages.append("cisreg")

    for modname in MODULES:
        mod = importlib.import_module(modname)
        lines = [*_title(f"``{modname}``"), f".. automodule:: {modname}", "   :no-members:", ""]
        also = []
        for name in _public(mod):
            obj = getattr(mod, name)
            if inspect.ismodule(obj):
                continue
            key = id(obj)
            if _kind(obj) == "autodata" and key not in seen:
                home = _attr_doc_home(obj, name)
                if home is not None and home != modname and home in MODULES:
                    seen[key] = f"{home}.{name}"
            if key in seen and (inspect.isclass(obj) or inspect.isroutine(obj) or isinstance(obj, (dict, tuple))):
                also.append(f"``{name}`` (:py:obj:`{seen[key]}`)")
                continue
            seen[key] = f"{modname}.{name}"
            home = _attr_doc_home(obj, name) if _kind(obj) == "autodata" else None
            if home is not None and home != modname:  # a re-exported constant: its ``#:`` doc
                lines += _data_entry(f"{modname}.{name}", obj, home, name)
            else:
                lines += _entry(_kind(obj), f"{modname}.{name}", obj)
        if also:
            lines[6:6] = ["Also here, documented elsewhere: " + ", ".join(also) + ".", ""]
        (outdir / f"{modname}.rst").write_text("\n".join(lines), encoding="utf-8")
        pages.append(modname)

    index = [*_title("API reference"), "Generated from the docstrings of the installed package on every build.",
             "", ".. toctree::", "   :maxdepth: 1", "", *[f"   {p}" for p in pages], ""]
    (outdir / "index.rst").write_text("\n".join(index), encoding="utf-8")
    return pages


def _on_init(app: Any) -> None:
    write_pages(Path(app.srcdir) / "api")


_RST_TRAPS = re.compile(r"(?<![`\\])\b([A-Za-z]\w*)_(?=[\s,.;:)\"'*]|$)")


def _docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Docstrings are written for ``help()`` as much as for Sphinx: a constant that has
    no doc of its own gets no docstring of its type (``dict``'s), and a word ending in
    ``_`` outside literals (``ct_``, a column prefix) is not a reST link."""
    if what in ("data", "attribute") and lines and "\n".join(lines).strip() == (type(obj).__doc__ or "").strip():
        lines[:] = []
        return
    out = []
    for line in lines:
        parts = line.split("``")
        for i in range(0, len(parts), 2):  # outside ``literals``
            if "`" not in parts[i]:
                parts[i] = _RST_TRAPS.sub(r"\1\\_", parts[i])
        out.append("``".join(parts))
    lines[:] = out


_FIELD_SECTIONS = {"Parameters", "Other Parameters", "Attributes", "Keyword Arguments", "Args", "Arguments"}


def _is_prose(line: str) -> bool:
    """A line at a parameter's indentation that cannot be a parameter (``name``,
    ``name : type``, ``a, b : type``, ``name:``): a sentence."""
    name = line.split(" : ", 1)[0].strip().rstrip(":")
    return bool(re.search(r"(?<!,) ", name))


def _prose_out_of_fields(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """A paragraph of prose at the end of a numpy-style Parameters section (a note on all
    parameters) is read by napoleon as more parameters; move it before the section."""
    i = 0
    while i + 1 < len(lines):
        head, rule = lines[i], lines[i + 1]
        if head.strip() in _FIELD_SECTIONS and rule.strip() and set(rule.strip()) == {"-"}:
            indent = len(head) - len(head.lstrip())
            j, moved = i + 2, []
            while j < len(lines):
                line = lines[j]
                if j + 1 < len(lines) and line.strip() and set(lines[j + 1].strip()) == {"-"} \
                        and len(line) - len(line.lstrip()) == indent:
                    break  # the next section
                starts = line.strip() and len(line) - len(line.lstrip()) == indent and \
                    (j == i + 2 or not lines[j - 1].strip())
                if starts and _is_prose(line):
                    k = j
                    while k < len(lines) and lines[k].strip():
                        k += 1
                    moved += [*lines[j:k], ""]
                    del lines[j:k]
                    continue
                j += 1
            if moved:
                lines[i:i] = moved
                i += len(moved)
        i += 1


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _on_init)
    app.connect("autodoc-process-docstring", _prose_out_of_fields, priority=100)  # before napoleon
    app.connect("autodoc-process-docstring", _docstring)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
