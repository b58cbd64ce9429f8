"""Checks of the files that cisreg opens inside its own directories (stores, model directories)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["own_file_problem"]


def own_file_problem(f: Path) -> str | None:
    """Why ``f`` cannot be one of a directory's own files: ``"missing"``, ``"a symbolic
    link"`` (it could point anywhere), ``"not a regular file"`` or ``"unreadable (...)"``;
    None for a regular file."""
    try:
        mode = os.lstat(f).st_mode
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({' '.join(str(exc).split())})"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return None if stat.S_ISREG(mode) else "not a regular file"
