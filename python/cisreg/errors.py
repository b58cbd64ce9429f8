"""Exceptions raised by cisreg.

Every error caused by the user's input is an :class:`InputError`, a subclass of
:class:`ValueError`, whose message names where the problem is (file, row,
column, key) and what to do about it.
"""

from __future__ import annotations


class InputError(ValueError):
    """Invalid user input: a data table, a model file, a parameter array.

    Attributes
    ----------
    message:
        The message without the location prefix.
    source:
        The file or argument the problem was found in (may be ``None``).
    row, column, key:
        Where in the source the problem is, when known (0-based data row,
        column name, model-file key path).
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        row: int | None = None,
        column: str | None = None,
        key: str | None = None,
    ) -> None:
        where = []
        if source is not None:
            where.append(str(source))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        if key is not None:
            where.append(f"key {key!r}")
        full = f"{', '.join(where)}: {message}" if where else message
        if row is not None:
            full += " (rows are data rows counted from 0, header excluded)"
        super().__init__(full)
        self.message = message
        self.source = source
        self.row = row
        self.column = column
        self.key = key


class ModelFileError(InputError):
    """A model directory or model specification that cannot be used."""


class DataWarning(UserWarning):
    """Something in the input was changed on purpose and the user should know
    (duplicate sequences aggregated, lowercase letters upper-cased, ...)."""
