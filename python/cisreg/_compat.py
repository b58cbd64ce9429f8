"""``cisreg.fit``, the function, under the old name of the training subpackage.

The training subpackage was named ``cisreg.fit`` before it became :mod:`cisreg.training`,
so that ``cisreg.fit`` could be one thing to type checkers: the fitting function. Code
written against the old name keeps working at run time: ``cisreg.fit`` is a module object
that, called, is :func:`cisreg.training.loop.fit` (its signature and docstring included),
whose attributes are those of :mod:`cisreg.training` (its modules included), and
``import cisreg.fit.<module>`` / ``from cisreg.fit.<module> import ...`` give the modules of
:mod:`cisreg.training` themselves (one module object per module, never a copy).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

_OLD, _NEW = "cisreg.fit", "cisreg.training"


class _FitModule(types.ModuleType):
    """``cisreg.fit`` at run time: callable as the fitting function; its attributes are the
    training subpackage's."""

    _fn: Callable[..., Any]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._fn(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        new = importlib.import_module(_NEW)
        try:
            return getattr(new, name)
        except AttributeError:
            try:
                return importlib.import_module(f"{_NEW}.{name}")
            except ModuleNotFoundError:
                raise AttributeError(f"module {_OLD!r} ({_NEW!r}) has no attribute {name!r}") from None


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports of ``cisreg.fit.<name>`` resolve to the module ``cisreg.training.<name>``."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.startswith(_OLD + "."):
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        # the import system takes the module from sys.modules once this returns
        sys.modules[module.__name__] = importlib.import_module(_NEW + module.__name__[len(_OLD):])


def install_fit_alias(fn: Callable[..., Any]) -> Any:
    """Register ``cisreg.fit`` (and its submodule names) and return the callable module."""
    mod = _FitModule(_OLD, fn.__doc__)
    mod._fn = fn
    mod.__path__ = []  # a package, so that cisreg.fit.<name> imports reach _Alias
    mod.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    mod.__wrapped__ = fn  # type: ignore[attr-defined]
    sys.modules[_OLD] = mod
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.insert(0, _Alias())
    return mod
