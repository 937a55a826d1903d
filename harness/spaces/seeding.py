"""The seeded network build, written once for every search space.

A network is initialised with PyTorch's default initialisers, drawn on the CPU from a private
generator state seeded with ``seed``; the global RNG is restored afterwards. So the same seed
gives the same weights bit for bit, whatever the device the network is moved to later, and
building a network never disturbs anyone else's random stream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

T = TypeVar("T")


def seeded(seed: int | None, make: Callable[[], T]) -> T:
    """``make()`` under a private CPU RNG state seeded with ``seed`` (``None``: the global
    state, unseeded)."""
    if seed is None:
        return make()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()
