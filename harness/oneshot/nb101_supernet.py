"""The weight-sharing supernet of NAS-Bench-101 (NAS-Bench-1shot1 search space 3).

A NAS-Bench-101 cell's vertices carry one of three operations, and the benchmark gives every
vertex a channel count that depends on the whole graph (the output's channels are split among
the vertices that feed it, :func:`harness.spaces.nb101.compute_vertex_channels`). The supernet
therefore shares weights in two ways at once:

* **operations:** every interior vertex *position* (1..5 of the 7-vertex cell, before pruning)
  holds each candidate operation: a 3×3 and a 1×1 conv-BN-ReLU (max pooling has no weights),
  plus the 1×1 conv-BN-ReLU projection of the cell input that an edge input → vertex needs.
  An architecture activates its edges and, at each vertex, its operation;
* **channels:** each of those layers is as wide as the cell's output (the most channels any
  vertex can get), and an architecture uses the **first** channels of each, as slimmable
  networks share weights (:mod:`harness.oneshot.slim`).

The cell input's projection straight to the output (an edge input → output) and the stem and
classifier are shared by every architecture. As the benchmark does, vertices off every
input → output path are pruned before the network is built; the vertices kept keep their
positions, so a pruned architecture uses the weights of the positions it really has.

:meth:`NB101Supernet.standalone_state` writes an architecture's slices as the ``state_dict``
of its stand-alone :class:`~harness.spaces.nb101.NB101Network` (same stem width, stacks and
cells per stack); ``tests/test_more_supernets.py`` checks that the two compute the same
function (issue #43's acceptance test for this space).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from harness.oneshot.slim import SlimBatchNorm2d, SlimConv2d
from harness.spaces import nb101, nb101_cells
from harness.spaces.seeding import seeded

#: The interior vertex positions of a 7-vertex cell.
POSITIONS: tuple[int, ...] = tuple(range(1, nb101_cells.MAX_VERTICES - 1))
#: Module keys of the weighted operations (max pooling has none).
CONV_OPS: dict[str, tuple[str, int]] = {"conv3x3-bn-relu": ("conv3x3", 3),
                                        "conv1x1-bn-relu": ("conv1x1", 1)}


@dataclass(frozen=True)
class NB101Shape:
    """The stand-alone network shape a supernet holds (the benchmark's: 128, 3, 3).

    Attributes:
        stem_channels: the stem's (and the first stack's) channels.
        num_stacks: stacks of cells; each after the first halves the resolution and doubles
            the channels.
        modules_per_stack: cells per stack.
    """

    stem_channels: int = nb101.STEM_CHANNELS
    num_stacks: int = nb101.NUM_STACKS
    modules_per_stack: int = nb101.MODULES_PER_STACK


@dataclass(frozen=True)
class _Plan:
    """An architecture as the supernet runs it: the pruned graph and its vertices' positions."""

    matrix: nb101_cells.Matrix
    ops: tuple[str, ...]
    positions: tuple[int, ...]  # position (unpruned index) of each pruned vertex


def plan(spec: str) -> _Plan:
    """The pruned graph of ``spec`` and the supernet position of each of its vertices."""
    matrix, ops = nb101_cells.parse(spec)
    keep = nb101_cells.kept_vertices(matrix)
    pruned, pruned_ops = nb101_cells.prune(matrix, ops)
    return _Plan(pruned, pruned_ops, keep)


class SlimConvBnRelu(nn.Module):
    """Conv (no bias, 'same' padding) → BN → ReLU whose first channels serve a narrower one."""

    def __init__(self, max_in: int, max_out: int, kernel: int, track_running_stats: bool):
        super().__init__()
        self.conv = SlimConv2d(max_in, max_out, kernel)
        self.bn = SlimBatchNorm2d(max_out, track_running_stats, nb101.BN_EPS, nb101.BN_MOMENTUM)

    def forward(self, x: torch.Tensor, c_out: int) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x, c_out)))

    def slice_state(self, prefix: str, c_in: int, c_out: int) -> dict[str, torch.Tensor]:
        """The ``c_in → c_out`` sub-layer as a stand-alone ``ConvBnRelu``'s state under
        ``prefix``."""
        return {f"{prefix}.conv.weight": self.conv.kernel(c_in, c_out).detach().clone(),
                **self.bn.slice_state(f"{prefix}.bn", c_out)}


class SlimCell101(nn.Module):
    """One cell position of the supernet: every operation at every vertex position."""

    def __init__(self, c_in: int, c_out: int, track_running_stats: bool):
        super().__init__()
        self.c_in, self.c_out = c_in, c_out

        def layer(max_in: int, kernel: int) -> SlimConvBnRelu:
            return SlimConvBnRelu(max_in, c_out, kernel, track_running_stats)

        self.proj = nn.ModuleDict({str(t): layer(c_in, 1) for t in POSITIONS})
        self.ops = nn.ModuleDict({
            str(t): nn.ModuleDict({key: layer(c_out, k) for key, k in CONV_OPS.values()})
            for t in POSITIONS})
        self.out_proj = layer(c_in, 1)

    def forward(self, x: torch.Tensor, p: _Plan) -> torch.Tensor:
        m, n = p.matrix, len(p.matrix)
        channels = nb101.compute_vertex_channels(self.c_in, self.c_out, m)
        tensors = [x]
        for t in range(1, n - 1):
            c, pos = channels[t], str(p.positions[t])
            # The stand-alone cell's order: interior inputs (truncated), then the projection.
            add_in = [tensors[s][:, :c] for s in range(1, t) if m[s][t]]
            if m[0][t]:
                add_in.append(self.proj[pos](x, c))
            acc = add_in[0]
            for extra in add_in[1:]:
                acc = acc + extra
            if p.ops[t] == "maxpool3x3":
                tensors.append(F.max_pool2d(acc, 3, stride=1, padding=1))
            else:
                tensors.append(self.ops[pos][CONV_OPS[p.ops[t]][0]](acc, c))
        concat_in = [t for t in range(1, n - 1) if m[t][n - 1]]
        if not concat_in:
            return self.out_proj(x, self.c_out)
        out = tensors[concat_in[0]] if len(concat_in) == 1 else \
            torch.cat([tensors[t] for t in concat_in], dim=1)
        if m[0][n - 1]:
            out = out + self.out_proj(x, self.c_out)
        return out

    def slice_state(self, prefix: str, p: _Plan) -> dict[str, torch.Tensor]:
        """This cell's part of the stand-alone network's ``state_dict`` (``Cell101`` names)."""
        m, n = p.matrix, len(p.matrix)
        channels = nb101.compute_vertex_channels(self.c_in, self.c_out, m)
        out: dict[str, torch.Tensor] = {}
        for t in range(1, n - 1):
            c, pos = channels[t], str(p.positions[t])
            if m[0][t]:
                out.update(self.proj[pos].slice_state(f"{prefix}.proj.{t}", self.c_in, c))
            if p.ops[t] != "maxpool3x3":
                layer = self.ops[pos][CONV_OPS[p.ops[t]][0]]
                out.update(layer.slice_state(f"{prefix}.ops.{t}", c, c))
        if m[0][n - 1]:
            out.update(self.out_proj.slice_state(f"{prefix}.out_proj", self.c_in, self.c_out))
        return out


class NB101Supernet(nn.Module):
    """Stem, stacks of supernet cells with max-pool downsampling, GAP and a linear classifier.

    Args:
        shape: the stand-alone shape it holds.
        num_classes: classifier outputs.
        track_running_stats: ``False`` (one-shot training and scoring) normalises every batch
            with its own statistics; ``True`` keeps per-channel running statistics (tests).
        channels_last: run in NHWC (faster convolutions on this project's CPUs).
    """

    def __init__(self, shape: NB101Shape = NB101Shape(), num_classes: int = 10,
                 track_running_stats: bool = True, channels_last: bool = False):
        super().__init__()
        self.shape = shape
        self.channels_last = channels_last
        self.stem = SlimConvBnRelu(3, shape.stem_channels, 3, track_running_stats)
        cells, downsample = [], []
        c_in = channels = shape.stem_channels
        for stack in range(shape.num_stacks):
            if stack > 0:
                channels *= 2
            for k in range(shape.modules_per_stack):
                cells.append(SlimCell101(c_in, channels, track_running_stats))
                downsample.append(stack > 0 and k == 0)
                c_in = channels
        self.cells = nn.ModuleList(cells)
        self.downsample = tuple(downsample)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor, spec: str,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits of architecture ``spec`` (``generator``: unused; the network has no
        dropout, and training passes one to every supernet)."""
        p = plan(spec)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.stem(x, self.shape.stem_channels)
        for cell, down in zip(self.cells, self.downsample, strict=True):
            if down:
                x = F.max_pool2d(x, 2, stride=2)
            x = cell(x, p)
        return self.classifier(x.mean(dim=(2, 3)))

    def standalone_state(self, spec: str) -> dict[str, torch.Tensor]:
        """The architecture's slices, named as the ``state_dict`` of its stand-alone
        :class:`~harness.spaces.nb101.NB101Network` of this shape (copies)."""
        p = plan(spec)
        out = self.stem.slice_state("stem", 3, self.shape.stem_channels)
        index = 0  # the stand-alone network's ``layers`` interleave max pools and cells
        for cell, down in zip(self.cells, self.downsample, strict=True):
            index += 1 if down else 0
            out.update(cell.slice_state(f"layers.{index}", p))
            index += 1
        out["classifier.weight"] = self.classifier.weight.detach().clone()
        out["classifier.bias"] = self.classifier.bias.detach().clone()
        return out


def build_nb101_supernet(seed: int | None, shape: NB101Shape = NB101Shape(),
                         num_classes: int = 10, channels_last: bool = True) -> NB101Supernet:
    """The one-shot NAS-Bench-101 supernet of ``shape``: batch statistics only, initialised
    from ``seed`` (``None``: unseeded, for loading a checkpoint into), optionally NHWC."""
    model = seeded(seed, lambda: NB101Supernet(shape, num_classes, track_running_stats=False,
                                               channels_last=channels_last))
    return model.to(memory_format=torch.channels_last) if channels_last else model
