"""NAS-Bench-101: the benchmark's network, built from a cell spec.

Cells (spec encoding, pruning, graph hashing, isomorphism classes) live in
:mod:`harness.spaces.nb101_cells`, which needs no torch.

The network reproduces ``nasbench/lib/model_builder.py`` and ``base_ops.py`` of
google-research/nasbench (the TensorFlow code that trained the benchmark), re-implemented in
PyTorch:

* stem: conv3×3 (128 channels) → BN → ReLU;
* 3 stacks of 3 cells; before stacks 2 and 3 a 2×2 max pool (stride 2) halves the resolution
  and the cells' output channels double (128 → 256 → 512);
* inside a cell, the output channels are split among the vertices feeding the output
  (:func:`compute_vertex_channels`), vertex inputs are *summed*, the output vertex
  *concatenates* its interior inputs, and every edge out of the cell input goes through its own
  1×1 conv-BN-ReLU projection (added to the output when input → output is an edge);
* interior edges whose source has one channel more than the destination are truncated;
* global average pooling and a linear classifier (with bias).

Every conv is ``bias=False`` and followed by BN with the benchmark's ``momentum=0.997``
(TensorFlow convention; PyTorch's ``momentum`` is ``1 - 0.997``) and ``epsilon=1e-5``. With this
the parameter count equals the benchmark's ``trainable_parameters`` for all 5,000 cells of the
table (``tests/test_spaces_more.py``). Weights use PyTorch's default initialisation (as every
estbench space does), not TensorFlow's variance-scaling initialiser.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from harness.spaces import SearchSpace, register_space
from harness.spaces.nb101_cells import (
    OPS,
    Matrix,
    canonical,
    op_counts,
    parse,
    prune,
    spec_of_row,
)
from harness.spaces.seeding import seeded

STEM_CHANNELS = 128
NUM_STACKS = 3
MODULES_PER_STACK = 3
BN_MOMENTUM = 1.0 - 0.997  # TF's 0.997 decay of the moving averages, in PyTorch's convention
BN_EPS = 1e-5


def compute_vertex_channels(c_in: int, c_out: int, matrix: Sequence[Sequence[int]]) -> list[int]:
    """Output channels of every vertex of a pruned cell (the benchmark's rule).

    The ``c_out`` output channels are split as evenly as possible among the vertices feeding
    the output (earlier vertices get the remainder, one channel each); every other interior
    vertex gets the maximum of its successors' channels, so that channels never increase
    along an edge and any mismatch is at most one channel (absorbed by truncation).
    """
    n = len(matrix)
    channels = [0] * n
    channels[0], channels[n - 1] = c_in, c_out
    if n == 2:
        return channels
    fan_in = sum(matrix[v][n - 1] for v in range(1, n - 1))
    base, extra = divmod(c_out, fan_in)
    for v in range(1, n - 1):
        if matrix[v][n - 1]:
            channels[v] = base + (1 if extra > 0 else 0)
            extra -= 1 if extra > 0 else 0
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            for dst in range(v + 1, n - 1):
                if matrix[v][dst]:
                    channels[v] = max(channels[v], channels[dst])
        if channels[v] <= 0:
            raise ValueError("NB101 cell: an interior vertex would get no channels")
    return channels


# --------------------------------------------------------------------------------------------
# The benchmark's network
# --------------------------------------------------------------------------------------------


class ConvBnRelu(nn.Module):
    """Conv (no bias, 'same' padding) → BN → ReLU: the benchmark's ``conv_bn_relu``."""

    def __init__(self, c_in: int, c_out: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


def make_op(op: str, channels: int) -> nn.Module:
    """A vertex operation with ``channels`` in and out, stride 1."""
    if op == "conv3x3-bn-relu":
        return ConvBnRelu(channels, channels, 3)
    if op == "conv1x1-bn-relu":
        return ConvBnRelu(channels, channels, 1)
    if op == "maxpool3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    raise ValueError(f"Unknown NB101 op {op!r}; expected one of {OPS}")


class Cell101(nn.Module):
    """One NAS-Bench-101 module (cell) built from a pruned matrix and its labels."""

    def __init__(self, matrix: Matrix, ops: Sequence[str], c_in: int, c_out: int):
        super().__init__()
        self.matrix = matrix
        n = len(matrix)
        self.n = n
        self.channels = compute_vertex_channels(c_in, c_out, matrix)
        # ModuleDicts keyed by vertex index keep the state-dict names stable and readable.
        self.proj = nn.ModuleDict()
        self.ops = nn.ModuleDict()
        for t in range(1, n - 1):
            if matrix[0][t]:
                self.proj[str(t)] = ConvBnRelu(c_in, self.channels[t], 1)
            self.ops[str(t)] = make_op(ops[t], self.channels[t])
        self.out_proj = ConvBnRelu(c_in, c_out, 1) if matrix[0][n - 1] else None
        self.concat_in = [t for t in range(1, n - 1) if matrix[t][n - 1]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, n = self.matrix, self.n
        tensors = [x]
        for t in range(1, n - 1):
            c = self.channels[t]
            # Interior inputs first, then the projected cell input, as the benchmark sums them.
            add_in = [tensors[s][:, :c] for s in range(1, t) if m[s][t]]
            if m[0][t]:
                add_in.append(self.proj[str(t)](x))
            acc = add_in[0]
            for extra in add_in[1:]:
                acc = acc + extra
            tensors.append(self.ops[str(t)](acc))
        if not self.concat_in:
            return self.out_proj(x)
        if len(self.concat_in) == 1:
            out = tensors[self.concat_in[0]]
        else:
            out = torch.cat([tensors[t] for t in self.concat_in], dim=1)
        if self.out_proj is not None:
            out = out + self.out_proj(x)
        return out


class NB101Network(nn.Module):
    """Stem, 3 stacks of 3 cells with max-pool downsampling, GAP and a linear classifier."""

    def __init__(self, spec: str, num_classes: int = 10, stem_channels: int = STEM_CHANNELS,
                 num_stacks: int = NUM_STACKS, modules_per_stack: int = MODULES_PER_STACK):
        super().__init__()
        self.spec = spec
        matrix, ops = prune(*parse(spec))
        self.stem = ConvBnRelu(3, stem_channels, 3)
        layers: list[nn.Module] = []
        c_in = channels = stem_channels
        for stack in range(num_stacks):
            if stack > 0:
                layers.append(nn.MaxPool2d(2, stride=2))
                channels *= 2
            for _ in range(modules_per_stack):
                layers.append(Cell101(matrix, ops, c_in, channels))
                c_in = channels
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward_pre_gap(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map that global average pooling reduces (Zen-NAS's ``forward_pre_GAP``).

        The official network pools with a plain mean, not a pooling module, so estimators that
        need the pre-GAP features (``zen``) cannot find them by module type and call this.
        """
        return self.layers(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_pre_gap(x).mean(dim=(2, 3)))


def count_parameters(spec: str, num_classes: int = 10) -> int:
    """Trainable parameters of the network for ``spec``, computed without building it.

    Mirrors :class:`NB101Network` layer by layer (conv weights, BN scale and shift, the
    classifier's weight and bias); thousands of specs per second, where building even on the
    ``meta`` device takes tens of milliseconds per network.
    """
    matrix, ops = prune(*parse(spec))
    n = len(matrix)

    def conv_bn(c_in: int, c_out: int, k: int) -> int:
        return k * k * c_in * c_out + 2 * c_out

    def cell(c_in: int, c_out: int) -> int:
        ch = compute_vertex_channels(c_in, c_out, matrix)
        total = conv_bn(c_in, c_out, 1) if matrix[0][n - 1] else 0
        for t in range(1, n - 1):
            if matrix[0][t]:
                total += conv_bn(c_in, ch[t], 1)
            if ops[t] != "maxpool3x3":
                total += conv_bn(ch[t], ch[t], 3 if ops[t] == "conv3x3-bn-relu" else 1)
        return total

    total = conv_bn(3, STEM_CHANNELS, 3)
    c_in = channels = STEM_CHANNELS
    for stack in range(NUM_STACKS):
        if stack > 0:
            channels *= 2
        for _ in range(MODULES_PER_STACK):
            total += cell(c_in, channels)
            c_in = channels
    return total + channels * num_classes + num_classes


def build_network(spec: str, num_classes: int = 10, seed: int | None = None,
                  device: str | torch.device = "cpu") -> NB101Network:
    """Build the benchmark's network for ``spec``, initialised deterministically from ``seed``.

    ``device="meta"`` builds a shape-only network (no memory, no initialisation), which is how
    the tests count parameters of all 5,000 networks (up to 50 M parameters each) in seconds.
    Otherwise weights are drawn on the CPU from a private generator state (the global RNG is
    restored afterwards), so a seed gives the same weights bit for bit on any device.
    """
    if torch.device(device).type == "meta":
        with torch.device("meta"):
            return NB101Network(spec, num_classes)
    return seeded(seed, lambda: NB101Network(spec, num_classes)).to(device)


def _space() -> SearchSpace:
    return SearchSpace(
        name="nb101",
        title="NAS-Bench-101",
        table="nb101",
        spec_of_row=spec_of_row,
        builder=lambda spec, n, seed: build_network(spec, n, seed),
        op_counts=op_counts,
        canonical=canonical,
        meta_builder=lambda spec, n: build_network(spec, n, device="meta"),
    )


register_space("nb101", _space)
