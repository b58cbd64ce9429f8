"""The flat parameter vector and its named blocks.

All parameters of a model live in one float64 vector ``theta``; a
:class:`ParamLayout` names its blocks (energy matrices, offsets, interaction
energies, log-rate constants, activities, t_sat, measurement parameters) and gives
numpy views into it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Block:
    name: str
    offset: int
    shape: tuple[int, ...]
    kind: str  # energy | offset | interaction | rate | activity | t_sat | measurement
    trainable: bool = True

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def stop(self) -> int:
        return self.offset + self.size


class ParamLayout:
    """Ordered named blocks of the flat parameter vector."""

    def __init__(self) -> None:
        self._blocks: dict[str, Block] = {}
        self.size = 0

    def add(self, name: str, shape: tuple[int, ...], kind: str, trainable: bool = True) -> Block:
        if name in self._blocks:
            raise ValueError(f"parameter block {name!r} defined twice")
        b = Block(name, self.size, tuple(int(s) for s in shape), kind, trainable)
        self._blocks[name] = b
        self.size += b.size
        return b

    def __getitem__(self, name: str) -> Block:
        return self._blocks[name]

    def __contains__(self, name: object) -> bool:
        return name in self._blocks

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._blocks.values())

    def names(self) -> list[str]:
        return list(self._blocks)

    def view(self, theta: np.ndarray, name: str) -> np.ndarray:
        """A view (not a copy) of block ``name`` in ``theta``, in the block's shape."""
        b = self._blocks[name]
        v = theta[b.offset : b.stop]
        return v.reshape(b.shape)  # a view; shape () gives a writable 0-d view

    def trainable_mask(self) -> np.ndarray:
        m = np.zeros(self.size, dtype=bool)
        for b in self._blocks.values():
            if b.trainable:
                m[b.offset : b.stop] = True
        return m

    def kind_mask(self, *kinds: str) -> np.ndarray:
        m = np.zeros(self.size, dtype=bool)
        for b in self._blocks.values():
            if b.kind in kinds:
                m[b.offset : b.stop] = True
        return m

    def to_json(self) -> list[dict[str, object]]:
        return [{"name": b.name, "offset": b.offset, "shape": list(b.shape), "kind": b.kind,
                 "trainable": b.trainable} for b in self._blocks.values()]
