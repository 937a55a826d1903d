"""NAS-Bench-201: the benchmark's network, and (re-exported from
:mod:`harness.spaces.nb201_cells`) cell encoding, enumeration and isomorphism classes.

A cell is a DAG on 4 nodes; each of the 6 edges ``i -> j`` (``i < j``) carries one of five
operations (see :mod:`harness.spaces.nb201_cells` for the string form and the canonical
isomorphism-class rule).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from harness.spaces.nb201_cells import (
    EDGES,
    NUM_CELLS,
    NUM_CLASSES,
    OPS,
    Cell,
    canonical,
    enumerate_cells,
    format_cell,
    op_counts,
    parse,
)
from harness.spaces.seeding import seeded

__all__ = ["EDGES", "NUM_CELLS", "NUM_CLASSES", "OPS", "Cell", "NB201Network", "build_network",
           "canonical", "count_parameters", "enumerate_cells", "format_cell", "make_op",
           "op_counts", "parse"]


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
