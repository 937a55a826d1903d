"""NAS-Bench-301: DARTS genotypes and the DARTS evaluation network as NAS-Bench-301 trained it.

A genotype has a normal and a reduction cell. Each cell has two inputs (nodes 0 and 1: the
outputs of the previous two cells) and four intermediate nodes 2..5; node ``k`` sums two
operations applied to two earlier nodes, and the cell outputs the concatenation of all four
intermediate nodes. The table lists each cell as ``[op, from, to]`` triples.

Spec format (a plain string: hashable, survives a JSON round trip), DARTS's ``(op, from)``
pairs in node order (edges ``2k`` and ``2k+1`` feed node ``k+2``), normal cell then reduction
cell::

    "sep_conv_3x3~0,sep_conv_3x3~1,...,dil_conv_3x3~2|max_pool_3x3~0,...,max_pool_3x3~1"

Network: ``NetworkCIFAR`` of the DARTS code (quark0/darts ``cnn/model.py`` and
``cnn/operations.py``), which NAS-Bench-301 trained through Auto-PyTorch's ``darts`` network
(``nasbench301/data_generation/run_proxy.py`` in automl/nasbench301). The training
configuration is in that repository's ``nasbench301/data_generation/configs/*.json`` (Siems et
al., "NAS-Bench-301 and the Case for Surrogate Benchmarks for Neural Architecture Search",
arXiv:2008.09777): ``init_channels`` 32, ``layers`` 8, ``auxiliary`` on, ``drop_path_prob``
0.2, SGD (lr 0.025, momentum 0.9, weight decay 3e-4) with cosine annealing over 100 epochs,
batch 96, cutout 16 and mixup (alpha 0.2). For scoring we build what is evaluated at test
time: no auxiliary head (it only feeds a training loss) and no drop path (a training-time
regulariser). So:

* stem: conv3×3 (3 → 3·C = 96) → BN;
* 8 cells; cells 2 and 5 (``layers // 3`` and ``2·layers // 3``) are reduction cells that
  double the channels (C = 32 → 64 → 128) and halve the resolution; a cell after a reduction
  cell preprocesses its first input with ``FactorizedReduce``, otherwise with
  ReLU-conv1×1-BN; the second input always with ReLU-conv1×1-BN;
* ops: ``sep_conv_3x3/5x5`` (two stacked ReLU-depthwise-pointwise-BN), ``dil_conv_3x3/5x5``
  (ReLU-dilated depthwise-pointwise-BN, dilation 2), ``max_pool_3x3``, ``avg_pool_3x3``
  (``count_include_pad=False``), ``skip_connect`` (identity; ``FactorizedReduce`` when it
  must reduce); in a reduction cell, operations on the cell inputs have stride 2;
* global average pooling and a linear classifier.

BN is affine with PyTorch's defaults, as in DARTS. Weights use PyTorch's default
initialisation. NAS-Bench-301 ships no parameter counts; the tests check the builder against
the DARTS paper instead (DARTS-V2 at C=36 with 20 cells: 3.3 M parameters).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from harness.spaces import SearchSpace, register_space
from harness.spaces.seeding import seeded

OPS: tuple[str, ...] = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
STEPS = 4  # intermediate nodes per cell
INIT_CHANNELS = 32
LAYERS = 8
STEM_MULTIPLIER = 3

Cell = tuple[tuple[str, int], ...]  # 8 (op, from) pairs in node order
Genotype = tuple[Cell, Cell]  # (normal, reduce)

# The DARTS paper's best cell ("DARTS (second order)"), from quark0/darts cnn/genotypes.py.
DARTS_V2: Genotype = (
    (("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
     ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)),
    (("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
     ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)),
)


# --------------------------------------------------------------------------------------------
# Spec encoding
# --------------------------------------------------------------------------------------------


def _check_cell(cell: Sequence[tuple[str, int]], where: str) -> Cell:
    if len(cell) != 2 * STEPS:
        raise ValueError(f"{where}: a cell needs {2 * STEPS} edges, got {len(cell)}")
    out = []
    for e, (op, src) in enumerate(cell):
        node = 2 + e // 2
        if op not in OPS:
            raise ValueError(f"{where}: unknown op {op!r}; expected one of {OPS}")
        if not 0 <= int(src) < node:
            raise ValueError(f"{where}: node {node} cannot take input from node {src}")
        out.append((op, int(src)))
    return tuple(out)


def cell_of_triples(triples: Sequence[Sequence], where: str = "NB301 cell") -> Cell:
    """Turn the table's ``[op, from, to]`` triples into ``(op, from)`` pairs in node order.

    Raises:
        ValueError: unless every node 2..5 has exactly two incoming edges from earlier nodes.
    """
    by_node: dict[int, list[tuple[str, int]]] = {}
    for op, src, dst in triples:
        by_node.setdefault(int(dst), []).append((op, int(src)))
    if sorted(by_node) != list(range(2, 2 + STEPS)) or any(len(v) != 2 for v in by_node.values()):
        raise ValueError(f"{where}: nodes 2..5 must each have two inputs, got {triples!r}")
    return _check_cell([e for k in sorted(by_node) for e in by_node[k]], where)


def format_spec(genotype: Genotype) -> str:
    """Encode ``(normal, reduce)`` as a spec string (inverse of :func:`parse`)."""
    normal, reduce = (_check_cell(c, "NB301 genotype") for c in genotype)
    return "|".join(",".join(f"{op}~{src}" for op, src in cell) for cell in (normal, reduce))


def parse(spec: str) -> Genotype:
    """Decode a spec into ``(normal, reduce)`` cells of ``(op, from)`` pairs.

    Raises:
        ValueError: on a malformed spec.
    """
    halves = spec.split("|")
    if len(halves) != 2:
        raise ValueError(f"NB301 spec needs a normal and a reduce cell joined by '|': {spec!r}")
    cells = []
    for half in halves:
        pairs = []
        for item in half.split(","):
            op, sep, src = item.partition("~")
            if not sep or not src.isdigit():
                raise ValueError(f"Bad edge {item!r} (expected 'op~from') in {spec!r}")
            pairs.append((op, int(src)))
        cells.append(_check_cell(pairs, f"NB301 spec {spec!r}"))
    return cells[0], cells[1]


def spec_of_row(row: dict) -> str:
    """The spec of a row of the ``nb301`` table (``normal`` and ``reduce`` columns)."""
    return format_spec((cell_of_triples(row["normal"], "normal cell"),
                        cell_of_triples(row["reduce"], "reduce cell")))


def _cell_canonical(cell: Cell, reduction: bool) -> str:
    # Each node is a sum, so it is a sorted multiset of terms; an identity edge contributes the
    # source node's terms (sums are associative), any other op wraps the source's string. The
    # cell output concatenates all intermediate nodes; the next layer is a 1×1 conv (or the
    # GAP + linear head), which absorbs any permutation of the concatenated blocks, so the node
    # strings are sorted too. Identity is only an identity where it does not have to reduce.
    terms: list[list[str]] = [["in0"], ["in1"]]
    for k in range(STEPS):
        node: list[str] = []
        for op, src in cell[2 * k : 2 * k + 2]:
            if op == "skip_connect" and not (reduction and src < 2):
                node.extend(terms[src])
            else:
                node.append(f"{op}({'+'.join(terms[src])})")
        terms.append(sorted(node))
    return ";".join(sorted("+".join(t) for t in terms[2:]))


def canonical(spec: str) -> str:
    """Canonical string of the architecture's isomorphism class.

    Equal for genotypes that differ only in the order of a node's two inputs, in the numbering
    of intermediate nodes, or in how identity edges group sums.
    """
    normal, reduce = parse(spec)
    return f"normal:{_cell_canonical(normal, False)}|reduce:{_cell_canonical(reduce, True)}"


def op_counts(spec: str) -> dict[str, int]:
    """Edges carrying each op, summed over the normal and the reduction cell (all keys)."""
    normal, reduce = parse(spec)
    c = Counter(op for op, _ in normal + reduce)
    return {op: c.get(op, 0) for op in OPS}


# --------------------------------------------------------------------------------------------
# DARTS operations and network
# --------------------------------------------------------------------------------------------


class ReLUConvBN(nn.Sequential):
    """ReLU → conv (no bias) → BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out),
        )


class DilConv(nn.Sequential):
    """ReLU → dilated depthwise conv → pointwise conv → BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 dilation: int):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation,
                      groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )


class SepConv(nn.Sequential):
    """Two stacked depthwise-separable convs; only the first may have stride 2."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, groups=c_in,
                      bias=False),
            nn.Conv2d(c_in, c_in, 1, bias=False),
            nn.BatchNorm2d(c_in),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=1, padding=padding, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution with two offset stride-2 1×1 convs, concatenated, then BN."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        if c_out % 2:
            raise ValueError("FactorizedReduce needs an even number of output channels")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        # The second conv sees the input shifted by one pixel, so together they cover every
        # position that a single stride-2 conv would skip.
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def make_op(op: str, c: int, stride: int) -> nn.Module:
    """A DARTS operation on ``c`` channels with the given stride."""
    if op == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if op == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c)
    if op == "sep_conv_3x3":
        return SepConv(c, c, 3, stride, 1)
    if op == "sep_conv_5x5":
        return SepConv(c, c, 5, stride, 2)
    if op == "dil_conv_3x3":
        return DilConv(c, c, 3, stride, 2, 2)
    if op == "dil_conv_5x5":
        return DilConv(c, c, 5, stride, 4, 2)
    raise ValueError(f"Unknown DARTS op {op!r}; expected one of {OPS}")


class DartsCell(nn.Module):
    """One DARTS cell: preprocess both inputs to ``c`` channels, 4 summing nodes, concat."""

    def __init__(self, cell: Cell, c_prev_prev: int, c_prev: int, c: int, reduction: bool,
                 reduction_prev: bool):
        super().__init__()
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(c_prev_prev, c)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, 1, 0)
        self.indices = tuple(src for _, src in cell)
        self.ops = nn.ModuleList(
            make_op(op, c, 2 if reduction and src < 2 else 1) for op, src in cell
        )
        self.multiplier = STEPS

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(STEPS):
            a, b = 2 * k, 2 * k + 1
            h = self.ops[a](states[self.indices[a]]) + self.ops[b](states[self.indices[b]])
            states.append(h)
        return torch.cat(states[2:], dim=1)


@dataclass(frozen=True)
class CellSlot:
    """One cell position of the DARTS network.

    Attributes:
        c_prev_prev, c_prev: channels of the cell's two inputs.
        c: channels of each intermediate node (the cell outputs ``STEPS * c``).
        reduction: whether the cell halves the resolution (and doubles ``c``).
        reduction_prev: whether the previous cell did (the first input is then reduced).
    """

    c_prev_prev: int
    c_prev: int
    c: int
    reduction: bool
    reduction_prev: bool


def cell_slots(channels: int = INIT_CHANNELS, layers: int = LAYERS) -> list[CellSlot]:
    """The cells of the DARTS network in order: cells ``layers // 3`` and ``2 · layers // 3``
    reduce; the stem outputs ``STEM_MULTIPLIER · channels``."""
    slots = []
    c_prev_prev = c_prev = STEM_MULTIPLIER * channels
    c, reduction_prev = channels, False
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        c = 2 * c if reduction else c
        slots.append(CellSlot(c_prev_prev, c_prev, c, reduction, reduction_prev))
        c_prev_prev, c_prev, reduction_prev = c_prev, STEPS * c, reduction
    return slots


def stem(channels: int = INIT_CHANNELS) -> nn.Sequential:
    """The DARTS stem: conv3×3 (3 → ``STEM_MULTIPLIER · channels``) → BN."""
    width = STEM_MULTIPLIER * channels
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))


class NB301Network(nn.Module):
    """DARTS ``NetworkCIFAR`` without auxiliary head and drop path (see module docstring)."""

    def __init__(self, genotype: Genotype, num_classes: int = 10, channels: int = INIT_CHANNELS,
                 layers: int = LAYERS):
        super().__init__()
        normal, reduce = genotype
        self.stem = stem(channels)
        slots = cell_slots(channels, layers)
        self.cells = nn.ModuleList(
            DartsCell(reduce if s.reduction else normal, s.c_prev_prev, s.c_prev, s.c,
                      s.reduction, s.reduction_prev) for s in slots)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(STEPS * slots[-1].c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(torch.flatten(self.global_pooling(s1), 1))


def build_network(spec: str | Genotype, num_classes: int = 10, seed: int | None = None,
                  device: str | torch.device = "cpu", channels: int = INIT_CHANNELS,
                  layers: int = LAYERS) -> NB301Network:
    """Build the evaluation network for a genotype, initialised deterministically from ``seed``.

    ``channels``/``layers`` default to NAS-Bench-301's 32/8 (other values, e.g. DARTS's 36/20,
    are for checks against published numbers). ``device="meta"`` builds a shape-only network.
    Otherwise weights are drawn on the CPU from a private generator state (the global RNG is
    restored afterwards), so a seed gives the same weights bit for bit on any device.
    """
    genotype = parse(spec) if isinstance(spec, str) else spec
    if torch.device(device).type == "meta":
        with torch.device("meta"):
            return NB301Network(genotype, num_classes, channels, layers)
    return seeded(seed, lambda: NB301Network(genotype, num_classes, channels, layers)).to(device)


def _space() -> SearchSpace:
    return SearchSpace(
        name="nb301",
        title="NAS-Bench-301 (DARTS)",
        table="nb301",
        spec_of_row=spec_of_row,
        builder=lambda spec, n, seed: build_network(spec, n, seed),
        op_counts=op_counts,
        canonical=canonical,
        meta_builder=lambda spec, n: build_network(spec, n, device="meta"),
    )


register_space("nb301", _space)
