"""Interrupts that a library in between may swallow.

SIGINT and SIGTERM raise KeyboardInterrupt in the main thread. When that happens inside a
callback of compiled code (pandas' C parser calling a file's read), the library may turn it
into an error of its own ("Calling read(nbytes) on source failed"), which a reader would
report as a bad input file. The commands therefore handle the signals with
:func:`interrupt_handler`, which records the interrupt before raising, and the readers ask
:func:`interrupted` before they blame the file.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

_received = False


def interrupt_handler(signum: int, frame: FrameType | None) -> None:
    """SIGINT / SIGTERM: record the interrupt, then raise KeyboardInterrupt."""
    global _received
    _received = True
    raise KeyboardInterrupt


def interrupted() -> bool:
    """Whether an interrupt arrived while :func:`handled` was in force."""
    return _received


def reraise_if_interrupted() -> None:
    """In a reader's error handler: raise KeyboardInterrupt instead when the error is an
    interrupt in disguise (an interrupt arrived while :func:`handled` was in force)."""
    if _received:
        raise KeyboardInterrupt from None


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """SIGINT and SIGTERM handled by :func:`interrupt_handler` for the duration (only from the
    main thread; elsewhere nothing changes)."""
    global _received
    _received = False
    try:
        old = (signal.signal(signal.SIGINT, interrupt_handler), signal.signal(signal.SIGTERM, interrupt_handler))
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old[0])
        signal.signal(signal.SIGTERM, old[1])
        _received = False
