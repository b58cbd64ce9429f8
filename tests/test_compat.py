"""cisreg.fit is the fitting function to type checkers and users, and, at run time, still
the old name of the training subpackage (cisreg.training)."""

from __future__ import annotations

import inspect
import subprocess
import sys

import cisreg
import cisreg.training.loop


def test_cisreg_fit_is_the_function_with_its_signature_and_doc():
    assert callable(cisreg.fit)
    assert inspect.signature(cisreg.fit) == inspect.signature(cisreg.training.loop.fit)
    assert "epochs" in str(inspect.signature(cisreg.fit))
    assert cisreg.fit.__doc__ == cisreg.training.loop.fit.__doc__


def test_the_old_import_paths_reach_the_same_modules():
    code = """
import cisreg.fit.metrics
import cisreg
import cisreg.training.metrics as new
from cisreg.fit.loop import train_epoch
from cisreg.fit import FitResult, metrics
assert cisreg.fit.metrics is new and metrics is new
assert train_epoch is cisreg.training.loop.train_epoch
assert FitResult is cisreg.FitResult and cisreg.fit.FitResult is cisreg.FitResult
assert callable(cisreg.fit) and cisreg.fit.evaluate.evaluate is cisreg.evaluate
try:
    cisreg.fit.no_such_module
except AttributeError as e:
    assert "no_such_module" in str(e)
else:
    raise SystemExit("no AttributeError")
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
