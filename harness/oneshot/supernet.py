"""The NAS-Bench-201 supernet: every edge holds all operations, each with its own weights.

The macro skeleton is the benchmark network's (:class:`harness.spaces.nb201.NB201Network`):
stem conv3x3 + BN, three stages of ``cells_per_stage`` cells (C, 2C, 4C) joined by residual
reduction blocks, BN-ReLU, global average pooling, (dropout,) linear classifier. A sampled
architecture picks one operation per edge; the same cell is used in every cell position, as in
the benchmark. Weights are shared by every architecture that picks the same operation on the
same edge of the same cell position.

BatchNorm layers never track running statistics (``track_running_stats=False``): every forward
pass, in training and in evaluation mode, normalises with the statistics of its own batch, as
one-shot evaluation requires (running statistics would mix architectures).

Only *active* edges are computed: an edge ``i -> j`` is active if its operation is not ``none``,
node ``i`` is reachable from the cell input through non-``none`` edges and node ``j`` reaches
the cell output. Inactive edges contribute exactly zero in the benchmark network (a zero input
stays zero through ReLU-conv-BN without affine shift, pooling and identity), so skipping them
changes no output; it saves compute and, importantly for weight sharing, leaves the weights of
unused operations without gradients, so an SGD step on one architecture never touches them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache

import torch
from torch import nn

from harness.oneshot.config import SupernetConfig
from harness.oneshot.sharing import PartitionRule, parse_sharing
from harness.spaces import nb201
from harness.spaces.seeding import seeded

Cell = tuple[str, ...]
# One node's incoming active edges: (edge index k, source node i, op name).
NodePlan = tuple[tuple[int, int, str], ...]
PARAM_OPS: tuple[str, ...] = tuple(op for op in nb201.OPS if op != "none")


def edge_index(i: int, j: int) -> int:
    """Index in :data:`harness.spaces.nb201.EDGES` of the edge from node ``i`` to node ``j``."""
    return nb201.EDGES.index((j, i))


@lru_cache(maxsize=32768)
def plan_cell(cell: Cell) -> tuple[NodePlan, NodePlan, NodePlan]:
    """Active incoming edges of nodes 1, 2, 3 (see the module docstring), sources ascending."""
    reach = [True, False, False, False]  # reachable from the input
    for j in (1, 2, 3):
        reach[j] = any(reach[i] and cell[edge_index(i, j)] != "none" for i in range(j))
    to_out = [False, False, False, True]  # reaches the output
    for i in (2, 1, 0):
        to_out[i] = any(to_out[j] and cell[edge_index(i, j)] != "none" for j in range(i + 1, 4))
    plan = []
    for j in (1, 2, 3):
        plan.append(tuple(
            (edge_index(i, j), i, cell[edge_index(i, j)]) for i in range(j)
            if cell[edge_index(i, j)] != "none" and reach[i] and to_out[j]
        ))
    return plan[0], plan[1], plan[2]


def batch_stat_bn(module: nn.Module, affine: bool) -> nn.Module:
    """Replace every BatchNorm2d inside ``module`` by one that uses batch statistics only.

    Replacing after construction keeps the benchmark's module classes (and their parameter
    names) and consumes no random numbers, so the other layers' initialisation is unchanged.
    """
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, nn.BatchNorm2d(child.num_features, affine=affine,
                                                 track_running_stats=False))
        else:
            batch_stat_bn(child, affine)
    return module


class SharedEdge(nn.Module):
    """All parameterised candidate operations of one edge (``none`` needs no module)."""

    def __init__(self, channels: int, bn_affine: bool):
        super().__init__()
        self.ops = nn.ModuleDict(
            {op: batch_stat_bn(nb201.make_op(op, channels), bn_affine) for op in PARAM_OPS}
        )


class SharedCell(nn.Module):
    """A cell position of the supernet: six shared edges."""

    def __init__(self, channels: int, bn_affine: bool):
        super().__init__()
        self.edges = nn.ModuleList(SharedEdge(channels, bn_affine) for _ in nb201.EDGES)

    def forward(self, x: torch.Tensor, plan: tuple[NodePlan, NodePlan, NodePlan]) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        for j, node_plan in zip((1, 2, 3), plan):
            acc = None
            for k, i, op in node_plan:  # ascending sources: the benchmark's summation order
                out = self.edges[k].ops[op](nodes[i])
                acc = out if acc is None else acc + out
            nodes[j] = acc
        # A cell whose output is cut off computes zeros, as the benchmark's Zero op does.
        return nodes[3] if nodes[3] is not None else x.mul(0.0)


class NB201Supernet(nn.Module):
    """The weight-sharing supernet of NAS-Bench-201 (see the module docstring).

    ``forward(x, cell)`` runs the architecture ``cell`` (a 6-tuple of op names in
    :data:`harness.spaces.nb201.EDGES` order). Module names mirror :class:`NB201Network`
    (``stem``, ``cells.<l>``, ``lastact``, ``classifier``) with the candidate ops of edge ``k``
    of cell position ``l`` under ``cells.<l>.edges.<k>.ops.<op>``.
    """

    def __init__(self, cfg: SupernetConfig | None = None):
        super().__init__()
        cfg = cfg or SupernetConfig()
        self.cfg = cfg
        c = cfg.channels
        self.stem = batch_stat_bn(
            nn.Sequential(nn.Conv2d(3, c, kernel_size=3, padding=1, bias=False),
                          nn.BatchNorm2d(c)), affine=True)
        layers: list[nn.Module] = []
        for stage in range(3):
            if stage > 0:
                layers.append(batch_stat_bn(nb201.ResidualReduction(c, 2 * c), affine=True))
                c *= 2
            layers.extend(SharedCell(c, cfg.cell_bn_affine) for _ in range(cfg.cells_per_stage))
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c, track_running_stats=False),
                                     nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, cfg.num_classes)

    def forward(self, x: torch.Tensor, cell: Sequence[str],
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits of architecture ``cell``; ``generator`` draws the dropout mask in training."""
        plan = plan_cell(tuple(cell))
        if self.cfg.memory_format == "channels_last":
            # NHWC convolutions are ~1.7x faster on this CPU (oneDNN); the parameters are
            # converted in build_supernet.
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x, plan) if isinstance(layer, SharedCell) else layer(x)
        x = torch.flatten(self.global_pooling(self.lastact(x)), 1)
        p = self.cfg.dropout
        if self.training and p > 0:
            # A mask from an explicit generator keeps training reproducible without touching
            # (or checkpointing) the global RNG.
            keep = torch.empty_like(x).bernoulli_(1.0 - p, generator=generator)
            x = x * keep / (1.0 - p)
        return self.classifier(x)

    def op_module(self, layer: int, edge: int, op: str) -> nn.Module:
        """The module of operation ``op`` on edge ``edge`` of cell position ``layer``."""
        cell = self.cells[layer]
        if not isinstance(cell, SharedCell):
            raise ValueError(f"cells[{layer}] is a reduction block, not a cell")
        return cell.edges[edge].ops[op]

    def cell_layers(self) -> list[int]:
        """Indices in ``cells`` of the searchable cell positions (reductions excluded)."""
        return [i for i, m in enumerate(self.cells) if isinstance(m, SharedCell)]

    def active_parameters(self, cell: Sequence[str]) -> Iterator[tuple[str, nn.Parameter]]:
        """Named parameters that architecture ``cell`` uses (and that a step on it updates)."""
        plan = plan_cell(tuple(cell))
        active = {(k, op) for node in plan for k, _i, op in node}
        for name, p in self.named_parameters():
            parts = name.split(".")
            is_edge = parts[0] == "cells" and parts[2:3] == ["edges"]
            if is_edge and (int(parts[3]), parts[5]) not in active:
                continue
            yield name, p


class PartitionedSupernet(nn.Module):
    """Several supernets, each responsible for one part of the space (less weight sharing).

    All parts start from identical weights (copies of one seeded supernet), so a comparison
    with the plain supernet differs only in how much is shared.
    """

    def __init__(self, cfg: SupernetConfig, rule: PartitionRule):
        super().__init__()
        self.cfg = cfg
        self.rule = rule
        first = NB201Supernet(cfg)
        nets = [first]
        for _ in range(rule.n_parts - 1):
            clone = NB201Supernet(cfg)
            clone.load_state_dict(first.state_dict())
            nets.append(clone)
        self.parts = nn.ModuleList(nets)

    def supernet_for(self, cell: Sequence[str]) -> NB201Supernet:
        """The supernet that owns ``cell``."""
        return self.parts[self.rule.part(cell)]

    def forward(self, x: torch.Tensor, cell: Sequence[str],
                generator: torch.Generator | None = None) -> torch.Tensor:
        return self.supernet_for(cell)(x, cell, generator)


def build_supernet(cfg: SupernetConfig, sharing: str = "full",
                   seed: int | None = None) -> NB201Supernet | PartitionedSupernet:
    """A supernet (or partitioned supernets) initialised from ``seed`` on the CPU.

    The global RNG is left untouched (a private forked state), so the same seed gives the same
    initial weights bit for bit.
    """
    rule = parse_sharing(sharing)

    model = seeded(seed, lambda: NB201Supernet(cfg) if rule.n_parts == 1
                   else PartitionedSupernet(cfg, rule))
    if cfg.memory_format == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    return model


def supernet_for(model: nn.Module, cell: Sequence[str]) -> NB201Supernet:
    """The plain supernet that evaluates ``cell`` (``model`` itself unless partitioned)."""
    return model.supernet_for(cell) if isinstance(model, PartitionedSupernet) else model
