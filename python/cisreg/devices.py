"""Where the kernels run: ``device="auto" | "cpu" | "cuda"``."""

from __future__ import annotations

from typing import Any

from . import _core
from .errors import InputError

__all__ = ["DEVICES", "cuda_device_info", "resolve_device"]

#: The values a ``device`` setting takes.
DEVICES = ("auto", "cpu", "cuda")


def cuda_device_info(device: int = 0) -> dict[str, Any]:
    """What the CUDA back end sees: ``built`` (this build has it), ``count`` (devices
    visible), the name, compute capability, memory of ``device``, and ``error`` (why no
    device is usable, if none is)."""
    return dict(_core.cuda_device_info(device))


def resolve_device(device: str | None = "auto") -> str:
    """``"cpu"`` or ``"cuda"`` for a user's ``device`` setting.

    ``"auto"`` (or None) is ``"cuda"`` when this build has the CUDA back end and a device
    is visible, else ``"cpu"``; ``"cuda"`` without one is an :class:`InputError` that says why.
    """
    if device is None:
        device = "auto"
    if not isinstance(device, str) or device.lower() not in DEVICES:
        raise InputError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    d = device.lower()
    if d == "cpu":
        return "cpu"
    if _core.cuda_available():
        return "cuda"
    if d == "auto":
        return "cpu"
    info = cuda_device_info(0)
    why = info.get("error") or "no CUDA device is visible"
    raise InputError(f"device='cuda' is not available: {why}. Use device='cpu' (or 'auto').")
