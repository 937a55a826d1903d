"""NAS-Bench-201: cell encoding, enumeration, isomorphism classes and the benchmark's network.

A cell is a DAG on 4 nodes; each of the 6 edges ``i -> j`` (``i < j``) carries one of five
operations. The official string lists, for each node ``j = 1..3``, the incoming edges
``op~i`` in increasing ``i``::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|

Internally a cell is a tuple of 6 op names in edge order ``(1,0), (2,0), (2,1), (3,0), (3,1),
(3,2)``.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from harness.spaces.seeding import seeded

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_CELLS = 15625
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120}

Cell = tuple[str, ...]


def parse(arch_str: str) -> Cell:
    """Parse an official NAS-Bench-201 arch string into a 6-tuple of op names.

    Raises:
        ValueError: on any deviation from the official form.
    """
    nodes = arch_str.split("+")
    if len(nodes) != 3:
        raise ValueError(f"NB201 arch string needs 3 node groups joined by '+': {arch_str!r}")
    ops: list[str] = []
    for j, group in enumerate(nodes, start=1):
        if not (group.startswith("|") and group.endswith("|")):
            raise ValueError(f"Node group {group!r} must be wrapped in '|' in {arch_str!r}")
        items = group[1:-1].split("|")
        if len(items) != j:
            raise ValueError(f"Node {j} must have {j} inputs in {arch_str!r}")
        for i, item in enumerate(items):
            op, _, src = item.partition("~")
            if op not in OPS or src != str(i):
                raise ValueError(f"Bad edge {item!r} (expected 'op~{i}') in {arch_str!r}")
            ops.append(op)
    return tuple(ops)


def format_cell(cell: Sequence[str]) -> str:
    """Format a 6-tuple of op names as the official arch string (inverse of :func:`parse`)."""
    if len(cell) != 6 or any(op not in OPS for op in cell):
        raise ValueError(f"A NB201 cell is 6 ops from {OPS}, got {cell!r}")
    groups, k = [], 0
    for j in (1, 2, 3):
        groups.append("|" + "|".join(f"{cell[k + i]}~{i}" for i in range(j)) + "|")
        k += j
    return "+".join(groups)


def enumerate_cells() -> Iterator[Cell]:
    """All 15,625 cells in lexicographic order of :data:`OPS` over :data:`EDGES`.

    The benchmark's own index order is a fixed permutation of this set that only the benchmark
    file defines; :func:`harness.spaces.nb201.official_cells` reads it from the table.
    """
    return itertools.product(OPS, repeat=6)


def canonical(cell: Sequence[str]) -> str:
    """Canonical string of a cell's isomorphism class (NAS-Bench-201's convention).

    The rule (the benchmark's ``to_unique_str(consider_zero=True)``; it yields 6,466 classes and
    is the one the paper's de-isomorphic set uses). Each node gets a string, node 0 is ``"0"``.
    For node ``j``, each incoming edge ``i -> j`` contributes one term:

    * ``"#"`` (zero) if the op is ``none`` or node ``i``'s string is exactly ``"#"``;
    * node ``i``'s string itself if the op is ``skip_connect`` (identity);
    * ``"(" + s_i + ")@" + op`` otherwise.

    Node ``j``'s string is its terms sorted and joined by ``"+"`` (sums commute); the class is
    node 3's string. Note that the convention is deliberately shallow: zero terms stay in the
    sum and only an *exactly* zero node propagates zero, so a few functionally equal cells (for
    example ones whose output is zero through two paths) stay in separate classes. A stricter
    functional rule (drop zero terms, flatten identity sums) merges them into 4,930 classes;
    we keep the benchmark's rule because published de-isomorphic results use it.
    """
    nodes = ["0"]
    k = 0
    for j in (1, 2, 3):
        terms = []
        for i in range(j):
            op = cell[k + i]
            if op == "none" or nodes[i] == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(nodes[i])
            else:
                terms.append(f"({nodes[i]})@{op}")
        k += j
        nodes.append("+".join(sorted(terms)))
    return nodes[3]


def op_counts(cell: Sequence[str]) -> dict[str, int]:
    """Number of edges carrying each operation (all five keys present)."""
    c = Counter(cell)
    return {op: c.get(op, 0) for op in OPS}


# --------------------------------------------------------------------------------------------
# The benchmark's network (NAS-Bench-201 "TinyNetwork" with an inferred cell)
# --------------------------------------------------------------------------------------------


class ReLUConvBN(nn.Module):
    """ReLU → Conv (no bias) → BN, the benchmark's convolution op."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=True, track_running_stats=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Zero(nn.Module):
    """The ``none`` op: multiplies by zero (kept as a module, as the benchmark does)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(op: str, channels: int) -> nn.Module:
    """An NB201 cell operation with equal input/output channels and stride 1."""
    if op == "none":
        return Zero()
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0)
    if op == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"Unknown NB201 op {op!r}; expected one of {OPS}")


class Cell201(nn.Module):
    """A normal cell: node j = sum over i < j of op_ij(node i); the output is node 3."""

    def __init__(self, cell: Sequence[str], channels: int):
        super().__init__()
        self.cell = tuple(cell)
        self.edges = nn.ModuleList(make_op(op, channels) for op in self.cell)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        k = 0
        for j in (1, 2, 3):
            acc = self.edges[k](nodes[0])
            for i in range(1, j):
                acc = acc + self.edges[k + i](nodes[i])
            nodes.append(acc)
            k += j
        return nodes[3]


class ResidualReduction(nn.Module):
    """The benchmark's reduction block: a ResNet basic block with stride 2.

    ``ReLUConvBN(3x3, stride 2) → ReLUConvBN(3x3)`` plus a shortcut ``AvgPool(2) → Conv1x1``
    (no BN on the shortcut, as in NAS-Bench-201).
    """

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """Stem conv3×3(C)+BN, 3 stages of N cells (C, 2C, 4C) joined by residual reductions,
    BN-ReLU, global average pooling and a linear classifier."""

    def __init__(self, cell: Sequence[str], num_classes: int = 10, channels: int = 16,
                 cells_per_stage: int = 5):
        super().__init__()
        self.cell = tuple(cell)
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        layers: list[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(c, c * 2))
                c *= 2
            layers.extend(Cell201(cell, c) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lastact(self.cells(self.stem(x)))
        return self.classifier(torch.flatten(self.global_pooling(x), 1))


def build_network(cell: Sequence[str] | str, num_classes: int = 10, seed: int | None = None,
                  device: str | torch.device = "cpu") -> NB201Network:
    """Build the benchmark's network for a cell, initialised deterministically from ``seed``.

    Initialisation is PyTorch's default for each layer type, drawn on the CPU from a private
    generator state (the global RNG is restored afterwards), so the same seed gives the same
    weights bit for bit whatever the device.
    """
    if isinstance(cell, str):
        cell = parse(cell)
    return seeded(seed, lambda: NB201Network(cell, num_classes)).to(device)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (what the benchmark reports as params)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
