"""How much weight sharing: one supernet for the whole space, or one per part of it.

The paper's mitigation of the correlation gap by *less sharing* gives several supernets each a
part of the space, so that fewer architectures interfere through the same weights. Here the
parts are fixed rules on the cell; :class:`harness.oneshot.supernet.PartitionedSupernet` holds
one supernet per part and routes each architecture to its own.

Equal budget: training still samples one architecture per step from the same sampler and
updates only the supernet of its part, so the total number of steps (and images) equals that
of a single supernet, and each part gets steps in proportion to its sampling probability.

Rules (the ``sharing`` option):

* ``full``: one supernet (the standard one-shot estimator).
* ``partition-op`` / ``partition-op<k>``: 5 supernets, by the operation on edge ``k`` of
  :data:`harness.spaces.nb201.EDGES` (default 3, the direct edge 0 -> 3, input to output).
* ``partition-convs``: 4 supernets, by the number of convolutions in the cell
  (0-1, 2, 3, 4-6; close to equal shares of the 15,625 cells: 23 %, 31 %, 28 %, 18 %).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from harness.spaces.nb201 import EDGES, OPS

DEFAULT_EDGE = 3
_CONV_BINS = (0, 0, 1, 2, 3, 3, 3)  # number of conv ops (0..6) -> part


@dataclass(frozen=True)
class PartitionRule:
    """A fixed rule assigning each cell to one of ``n_parts`` supernets."""

    name: str
    n_parts: int
    kind: str  # "full" | "op" | "convs"
    edge: int = DEFAULT_EDGE

    def part(self, cell: Sequence[str]) -> int:
        """The index of the supernet responsible for ``cell``."""
        if self.kind == "full":
            return 0
        if self.kind == "op":
            return OPS.index(cell[self.edge])
        n_conv = sum(op in ("nor_conv_1x1", "nor_conv_3x3") for op in cell)
        return _CONV_BINS[n_conv]


@lru_cache(maxsize=16)
def parse_sharing(name: str) -> PartitionRule:
    """The partition rule named ``name`` (see the module docstring).

    Raises:
        ValueError: on an unknown name.
    """
    if name == "full":
        return PartitionRule(name, 1, "full")
    if name == "partition-convs":
        return PartitionRule(name, max(_CONV_BINS) + 1, "convs")
    m = re.fullmatch(r"partition-op(\d?)", name)
    if m:
        edge = int(m.group(1)) if m.group(1) else DEFAULT_EDGE
        if edge >= len(EDGES):
            raise ValueError(f"partition-op<k> needs an edge index 0..{len(EDGES) - 1}")
        return PartitionRule(name, len(OPS), "op", edge)
    raise ValueError(
        f"Unknown sharing rule {name!r}; expected 'full', 'partition-op', 'partition-op<k>' "
        "(k = edge index 0..5) or 'partition-convs'."
    )
