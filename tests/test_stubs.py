"""The typed stubs of the compiled module (python/cisreg/_core.pyi) name exactly what the
module has: every function, class, method and property, with the same parameter names.
(`python -m mypy.stubtest cisreg._core`, run by .ci/run, checks the types too.)"""

from __future__ import annotations

import ast
import inspect
import re
from importlib import resources

from cisreg import _core


def _stub_tree() -> ast.Module:
    text = resources.files("cisreg").joinpath("_core.pyi").read_text()
    return ast.parse(text)


def _public(names):
    return {n for n in names if not n.startswith("__")}


def _runtime_params(obj) -> list[str] | None:
    """Parameter names from pybind11's signature line in the docstring."""
    doc = getattr(obj, "__doc__", None) or ""
    m = re.match(r"\s*\w+\((.*?)\)\s*->", doc)
    if m is None:
        return None
    names = []
    for part in re.split(r",\s*(?![^\[]*\])", m.group(1)):
        part = part.strip()
        if part in ("", "*", "/"):
            continue
        names.append(part.split(":")[0].strip())
    return names


def _stub_params(fn: ast.FunctionDef) -> list[str]:
    a = fn.args
    return [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]


def test_stubs_list_every_name_of_the_module():
    tree = _stub_tree()
    stub_funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    stub_classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    runtime = _public(dir(_core))
    runtime_classes = {n for n in runtime if inspect.isclass(getattr(_core, n))}
    runtime_funcs = {n for n in runtime if callable(getattr(_core, n))} - runtime_classes
    assert set(stub_classes) == runtime_classes
    assert set(stub_funcs) == runtime_funcs
    for name, fn in stub_funcs.items():
        want = _runtime_params(getattr(_core, name))
        if want is not None:
            assert _stub_params(fn) == want, name
    for name, cls in stub_classes.items():
        rt = getattr(_core, name)
        members = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
        attrs = {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
        rt_members = {n for n in _public(vars(rt)) if n != "_pybind11_conduit_v1_"} | {"__init__"}
        assert set(members) | attrs == rt_members, name
        for mname, fn in members.items():
            obj = vars(rt)[mname]
            if mname == "__init__":
                continue
            if isinstance(obj, property):
                assert any(isinstance(d, ast.Name) and d.id == "property" for d in fn.decorator_list), (name, mname)
            else:
                want = _runtime_params(obj)
                if want is not None:
                    assert _stub_params(fn)[1:] == [p for p in want if p != "self"], (name, mname)
