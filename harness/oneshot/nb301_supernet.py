"""The weight-sharing supernet of NAS-Bench-301 (the DARTS space).

As in DARTS and its single-path descendants, every cell of the network holds, on every edge
``j → k`` that an architecture may use (intermediate node ``k`` = 2..5, earlier node ``j``),
one module of each of the seven DARTS operations, built exactly as the stand-alone network
builds it (:func:`harness.spaces.nb301.make_op`; stride 2 on the cell inputs of a reduction
cell). An architecture activates, for each intermediate node, its two ``(operation, input)``
edges, in its normal cells and in its reduction cells; the stem, the cells' input
preprocessing and the classifier are shared by every architecture. All channel counts are the
stand-alone network's, so no slicing is needed.

:meth:`NB301Supernet.standalone_state` renames an architecture's modules to the ``state_dict``
of its stand-alone :class:`~harness.spaces.nb301.NB301Network` (same ``channels`` and
``layers``); ``tests/test_more_supernets.py`` checks that the two compute the same function
(issue #43's acceptance test for this space).

One-shot training and scoring use every BatchNorm with batch statistics only
(:func:`batch_statistics_only`): running statistics would mix architectures.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.spaces import nb301
from harness.spaces.seeding import seeded


def edge_key(src: int, node: int) -> str:
    """The module key of edge ``src → node`` (``"0_2"``)."""
    return f"{src}_{node}"


class SuperCell(nn.Module):
    """One DARTS cell position: shared input preprocessing and every operation on every edge."""

    def __init__(self, c_prev_prev: int, c_prev: int, c: int, reduction: bool,
                 reduction_prev: bool):
        super().__init__()
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0 = nb301.FactorizedReduce(c_prev_prev, c)
        else:
            self.preprocess0 = nb301.ReLUConvBN(c_prev_prev, c, 1, 1, 0)
        self.preprocess1 = nb301.ReLUConvBN(c_prev, c, 1, 1, 0)
        self.edges = nn.ModuleDict({
            edge_key(src, node): nn.ModuleDict({
                op: nb301.make_op(op, c, 2 if reduction and src < 2 else 1) for op in nb301.OPS})
            for node in range(2, 2 + nb301.STEPS) for src in range(node)})

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, cell: nb301.Cell) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(nb301.STEPS):
            (op_a, src_a), (op_b, src_b) = cell[2 * k], cell[2 * k + 1]
            node = k + 2
            h = (self.edges[edge_key(src_a, node)][op_a](states[src_a])
                 + self.edges[edge_key(src_b, node)][op_b](states[src_b]))
            states.append(h)
        return torch.cat(states[2:], dim=1)


class NB301Supernet(nn.Module):
    """The DARTS evaluation network's skeleton with a :class:`SuperCell` at every position.

    Args:
        channels: initial channels ``C`` (NAS-Bench-301: 32).
        layers: cells (NAS-Bench-301: 8); cells ``layers // 3`` and ``2 · layers // 3`` reduce.
        num_classes: classifier outputs.
        channels_last: run in NHWC.
    """

    def __init__(self, channels: int = nb301.INIT_CHANNELS, layers: int = nb301.LAYERS,
                 num_classes: int = 10, channels_last: bool = False):
        super().__init__()
        self.channels_last = channels_last
        self.stem = nb301.stem(channels)
        slots = nb301.cell_slots(channels, layers)
        self.cells = nn.ModuleList(
            SuperCell(s.c_prev_prev, s.c_prev, s.c, s.reduction, s.reduction_prev)
            for s in slots)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(nb301.STEPS * slots[-1].c, num_classes)

    def forward(self, x: torch.Tensor, spec: str,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits of architecture ``spec`` (``generator``: unused; scoring and training build
        no drop path, as the stand-alone network at test time)."""
        normal, reduce = nb301.parse(spec)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, reduce if cell.reduction else normal)
        return self.classifier(torch.flatten(self.global_pooling(s1), 1))

    def standalone_state(self, spec: str) -> dict[str, torch.Tensor]:
        """The architecture's modules, named as the ``state_dict`` of its stand-alone
        :class:`~harness.spaces.nb301.NB301Network` of the same ``channels`` and ``layers``
        (copies).

        Raises:
            ValueError: if the BatchNorms keep no running statistics (a stand-alone network
                needs them).
        """
        normal, reduce = nb301.parse(spec)
        state = self.state_dict()
        if not any(k.endswith("running_mean") for k in state):
            raise ValueError("a stand-alone state needs running statistics: build the "
                             "supernet with NB301Supernet(...), not the one-shot builder")
        out = {k: v.detach().clone() for k, v in state.items() if ".edges." not in k}
        for i, cell in enumerate(self.cells):
            genes = reduce if cell.reduction else normal
            for e, (op, src) in enumerate(genes):
                prefix = f"cells.{i}.edges.{edge_key(src, 2 + e // 2)}.{op}."
                for k, v in state.items():
                    if k.startswith(prefix):
                        out[f"cells.{i}.ops.{e}.{k[len(prefix):]}"] = v.detach().clone()
        return out


def batch_statistics_only(model: nn.Module) -> nn.Module:
    """Make every BatchNorm of ``model`` normalise with the batch's own statistics, in training
    and in evaluation, and drop its running statistics (in place; returns ``model``)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.track_running_stats = False
            m.running_mean = m.running_var = m.num_batches_tracked = None
    return model


def build_nb301_supernet(seed: int | None, channels: int = nb301.INIT_CHANNELS,
                         layers: int = nb301.LAYERS, num_classes: int = 10,
                         channels_last: bool = True) -> NB301Supernet:
    """The one-shot NAS-Bench-301 supernet: batch statistics only, initialised from ``seed``
    (``None``: unseeded, for loading a checkpoint into), optionally NHWC."""
    model = seeded(seed, lambda: batch_statistics_only(
        NB301Supernet(channels, layers, num_classes, channels_last)))
    return model.to(memory_format=torch.channels_last) if channels_last else model
