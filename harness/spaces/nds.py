"""NDS ResNet and ResNeXt-A (CIFAR-10): specs, the networks and the reference complexity.

The two design spaces of Radosavovic et al., "On Network Design Spaces for Visual Recognition"
(ICCV 2019), as implemented by facebookresearch/pycls (``pycls/models/anynet.py`` and the NDS
configs' ``ANYNET`` settings):

* stem ``res_stem_cifar``: conv3×3 (3 → 16, stride 1) → BN → ReLU;
* three stages; stage ``i`` has ``depths[i]`` residual blocks of width ``widths[i]``; the first
  block of a stage has stride 1 in stage 1 and 2 in stages 2 and 3;
* ResNet blocks (``res_basic_block``): ``conv3×3(stride) → BN → ReLU → conv3×3 → BN``;
  ResNeXt-A blocks (``res_bottleneck_block``): ``conv1×1 → BN → ReLU → conv3×3(stride,
  groups=num_groups) → BN → ReLU → conv1×1 → BN`` with bottleneck width
  ``w_b = round(width · bot_mul)``. The table's ``num_groups`` is the *number* of groups of the
  3×3 conv (current pycls parameterises by group *width* instead, ``groups = w_b // gw``);
  reading it as the number of groups matches all 5,000 ResNeXt-A rows, reading it as a group
  width matches 8;
* the shortcut is the identity, or conv1×1(stride) → BN when the width or resolution changes;
  the block output is ``ReLU(shortcut + F(x))``;
* head: global average pooling and a linear classifier with bias.

All convs are ``bias=False``; BN uses pycls's ``eps=1e-5``, ``momentum=0.1``. Weights use
PyTorch's default initialisation (as every estbench space does), not pycls's ``init_weights``.

Reference complexity. The tables' ``ref_params`` equal the trainable parameter count of these
networks for all 10,000 rows. ``ref_flops`` equal, for all 10,000 rows:

* conv: ``k² · C_in/groups · C_out · H_out · W_out`` (no bias);
* linear: ``in · out + out`` (the bias is counted);
* **BatchNorm: 5 per output element.** We found no published statement of this rule; it was
  identified by a least-squares fit of ``ref_flops`` minus the conv/linear MACs against
  activation counts (BN outputs, shortcut-projection BN outputs, residual additions, the
  pooled map), which gave exactly 5 per BN output element (projection BNs included) and 0 for
  the rest; it then reproduces every row of both tables. (In these networks every BN except
  the projection's is followed by a ReLU of the same size, so a ReLU cost cannot be told apart
  from a BN cost; since the projection BN, which has no ReLU, also costs 5, we count BN only.)
* ReLU, additions and pooling: 0.

:func:`harness.flops.count_macs` counts BN as zero and so falls short of ``ref_flops`` by
``5 × (BN output elements)``; :func:`count_flops` adds that term, and :func:`complexity`
computes both numbers analytically (as pycls does, without running the network).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from harness.flops import count_macs
from harness.spaces import SearchSpace, register_space
from harness.spaces.seeding import seeded

STEM_WIDTH = 16
BN_EPS = 1e-5
BN_MOMENTUM = 0.1
BN_FLOPS_PER_ELEMENT = 5
OP_KEYS = ("conv3x3", "group_conv3x3", "conv1x1", "proj_conv1x1")


@dataclass(frozen=True)
class NDSArch:
    """One NDS architecture. ``bot_muls``/``num_groups`` are ``None`` for ResNet."""

    depths: tuple[int, ...]
    widths: tuple[int, ...]
    bot_muls: tuple[float, ...] | None = None
    num_groups: tuple[int, ...] | None = None

    @property
    def kind(self) -> str:
        return "resnet" if self.bot_muls is None else "resnexta"

    def bottleneck_widths(self) -> tuple[int, ...]:
        """Per-stage bottleneck width ``round(width · bot_mul)`` (pycls's ``w_b``)."""
        if self.bot_muls is None:
            raise ValueError("ResNet blocks have no bottleneck")
        return tuple(int(round(w * b)) for w, b in zip(self.widths, self.bot_muls, strict=True))


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def format_spec(arch: NDSArch) -> str:
    """``"d=12,12,16|w=24,32,40"`` (ResNet) or ``"d=..|w=..|b=0.25,..|g=2,.."`` (ResNeXt-A)."""
    parts = ["d=" + ",".join(map(str, arch.depths)), "w=" + ",".join(map(str, arch.widths))]
    if arch.bot_muls is not None:
        parts.append("b=" + ",".join(repr(float(b)) for b in arch.bot_muls))
        parts.append("g=" + ",".join(map(str, arch.num_groups)))
    return "|".join(parts)


def parse(spec: str) -> NDSArch:
    """Decode a spec written by :func:`format_spec`.

    Raises:
        ValueError: on a malformed spec or an impossible configuration.
    """
    try:
        fields = dict(part.split("=", 1) for part in spec.split("|"))
        depths, widths = _ints(fields.pop("d")), _ints(fields.pop("w"))
        bot = tuple(float(v) for v in fields.pop("b").split(",")) if "b" in fields else None
        groups = _ints(fields.pop("g")) if "g" in fields else None
    except (KeyError, ValueError):
        raise ValueError(f"Malformed NDS spec {spec!r}") from None
    if fields or (bot is None) != (groups is None):
        raise ValueError(f"Malformed NDS spec {spec!r}")
    arch = NDSArch(depths, widths, bot, groups)
    n = len(depths)
    lengths = {len(widths)} | ({len(bot), len(groups)} if bot is not None else set())
    if n == 0 or lengths != {n} or min(depths) < 1 or min(widths) < 1:
        raise ValueError(f"Inconsistent NDS spec {spec!r}")
    if bot is not None:
        for wb, g in zip(arch.bottleneck_widths(), groups, strict=True):
            if g < 1 or wb % g:
                raise ValueError(f"NDS spec {spec!r}: bottleneck width {wb} not divisible by {g}")
    return arch


def spec_of_row(row: dict) -> str:
    """The spec of a row of the ``nds_resnet`` or ``nds_resnexta`` table."""
    bot = row.get("bot_muls")
    arch = NDSArch(
        tuple(int(d) for d in row["depths"]),
        tuple(int(w) for w in row["widths"]),
        None if bot is None else tuple(float(b) for b in bot),
        None if bot is None else tuple(int(g) for g in row["num_groups"]),
    )
    return format_spec(arch)


def canonical(spec: str) -> str:
    """Distinct configurations are distinct networks, so the normalised spec is canonical."""
    return format_spec(parse(spec))


@dataclass(frozen=True)
class Dims:
    """The layer widths a network of an architecture is built with.

    Attributes:
        stem: the stem's width (16 in the benchmark).
        widths: each stage's width.
        bottlenecks: each stage's bottleneck width (ResNeXt-A), else ``None``.
    """

    stem: int
    widths: tuple[int, ...]
    bottlenecks: tuple[int, ...] | None


def dims(arch: NDSArch, scale: float = 1.0) -> Dims:
    """The widths of ``arch`` at width multiplier ``scale`` (1: the benchmark's network).

    Every width, the stem's included, becomes ``round(w * scale)`` (at least 1); a bottleneck
    width becomes the multiple of its group count nearest ``w_b * scale`` (at least one channel
    per group), so that every scaled architecture is a valid network. At ``scale=1`` these are
    the architecture's own widths. Reduced widths make the one-shot pilots affordable on a CPU
    (``harness.oneshot.nds_supernet``), as NAS-Bench-201's runs use 8 channels instead of 16.
    """
    def w(v: int) -> int:
        return max(1, int(round(v * scale)))

    widths = tuple(w(v) for v in arch.widths)
    if arch.kind == "resnet":
        return Dims(w(STEM_WIDTH), widths, None)
    bottlenecks = tuple(g * max(1, int(round(b * scale / g)))
                        for b, g in zip(arch.bottleneck_widths(), arch.num_groups, strict=True))
    return Dims(w(STEM_WIDTH), widths, bottlenecks)


def _blocks(arch: NDSArch, d: Dims | None = None):
    """Yield ``(stage, w_in, w_out, stride)`` for every block, in network order (at the
    widths ``d``; default: the architecture's own)."""
    d = d if d is not None else dims(arch)
    w_in = d.stem
    for stage, (depth, w) in enumerate(zip(arch.depths, d.widths, strict=True)):
        for b in range(depth):
            yield stage, w_in, w, (2 if stage > 0 and b == 0 else 1)
            w_in = w


def op_counts(spec: str) -> dict[str, int]:
    """Convolutions by kind: plain 3×3, grouped 3×3 (groups > 1), 1×1 in blocks, projections.

    The stem conv is not counted (every network has the same one).
    """
    arch = parse(spec)
    c = dict.fromkeys(OP_KEYS, 0)
    for stage, w_in, w_out, stride in _blocks(arch):
        if arch.kind == "resnet":
            c["conv3x3"] += 2
        else:
            c["group_conv3x3" if arch.num_groups[stage] > 1 else "conv3x3"] += 1
            c["conv1x1"] += 2
        c["proj_conv1x1"] += int(w_in != w_out or stride != 1)
    return c


# --------------------------------------------------------------------------------------------
# Analytic complexity (what pycls reports)
# --------------------------------------------------------------------------------------------


def complexity(spec: str, num_classes: int = 10, size: int = 32) -> tuple[int, int]:
    """``(params, flops)`` of the network for one ``size``×``size`` image, computed analytically.

    Uses the reference rule of the module docstring; equals ``ref_params`` / ``ref_flops`` for
    every row of both tables, and equals counting the built network (see :func:`count_flops`).
    """
    arch = parse(spec)
    params = flops = 0
    h = size

    def conv(c_in: int, c_out: int, k: int, hw: int, groups: int = 1) -> None:
        nonlocal params, flops
        params += k * k * (c_in // groups) * c_out
        flops += k * k * (c_in // groups) * c_out * hw * hw

    def bn(c: int, hw: int) -> None:
        nonlocal params, flops
        params += 2 * c
        flops += BN_FLOPS_PER_ELEMENT * c * hw * hw

    conv(3, STEM_WIDTH, 3, h)
    bn(STEM_WIDTH, h)
    for stage, w_in, w, stride in _blocks(arch):
        h_out = h // stride
        if arch.kind == "resnet":
            conv(w_in, w, 3, h_out)
            bn(w, h_out)
            conv(w, w, 3, h_out)
            bn(w, h_out)
        else:
            wb, g = arch.bottleneck_widths()[stage], arch.num_groups[stage]
            conv(w_in, wb, 1, h)  # pycls strides the 3×3, so the first 1×1 runs at input size
            bn(wb, h)
            conv(wb, wb, 3, h_out, groups=g)
            bn(wb, h_out)
            conv(wb, w, 1, h_out)
            bn(w, h_out)
        if w_in != w or stride != 1:
            conv(w_in, w, 1, h_out)
            bn(w, h_out)
        h = h_out
    w_last = arch.widths[-1]
    params += w_last * num_classes + num_classes
    flops += w_last * num_classes + num_classes
    return params, flops


def count_flops(model: nn.Module, input_shape: tuple[int, ...] = (1, 3, 32, 32)) -> int:
    """FLOPs of one forward pass under the NDS reference rule, counted on a built network.

    :func:`harness.flops.count_macs` (convs, linear layers) plus 5 per BatchNorm output
    element; works on ``meta``-device networks too, since only shapes are needed.
    """
    bn_elements = 0

    def bn_hook(m, inp, out):
        nonlocal bn_elements
        bn_elements += out.numel()

    handles = [m.register_forward_hook(bn_hook) for m in model.modules()
               if isinstance(m, nn.BatchNorm2d)]
    try:
        macs = count_macs(model, input_shape)
    finally:
        for h in handles:
            h.remove()
    return macs + BN_FLOPS_PER_ELEMENT * bn_elements // input_shape[0]


# --------------------------------------------------------------------------------------------
# The networks
# --------------------------------------------------------------------------------------------


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class BasicTransform(nn.Module):
    """``conv3×3(stride) → BN → ReLU → conv3×3 → BN`` (pycls ``BasicTransform``)."""

    def __init__(self, w_in: int, w_out: int, stride: int):
        super().__init__()
        self.a = nn.Conv2d(w_in, w_out, 3, stride=stride, padding=1, bias=False)
        self.a_bn = _bn(w_out)
        self.a_relu = nn.ReLU(inplace=True)
        self.b = nn.Conv2d(w_out, w_out, 3, stride=1, padding=1, bias=False)
        self.b_bn = _bn(w_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b_bn(self.b(self.a_relu(self.a_bn(self.a(x)))))


class BottleneckTransform(nn.Module):
    """``1×1 → BN → ReLU → 3×3(stride, groups) → BN → ReLU → 1×1 → BN`` (pycls)."""

    def __init__(self, w_in: int, w_out: int, stride: int, w_b: int, groups: int):
        super().__init__()
        self.a = nn.Conv2d(w_in, w_b, 1, bias=False)
        self.a_bn = _bn(w_b)
        self.a_relu = nn.ReLU(inplace=True)
        self.b = nn.Conv2d(w_b, w_b, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.b_bn = _bn(w_b)
        self.b_relu = nn.ReLU(inplace=True)
        self.c = nn.Conv2d(w_b, w_out, 1, bias=False)
        self.c_bn = _bn(w_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.a_relu(self.a_bn(self.a(x)))
        x = self.b_relu(self.b_bn(self.b(x)))
        return self.c_bn(self.c(x))


class ResBlock(nn.Module):
    """``ReLU(shortcut(x) + F(x))``; the shortcut projects (1×1 conv + BN) on a shape change."""

    def __init__(self, w_in: int, w_out: int, stride: int, transform: nn.Module):
        super().__init__()
        self.proj = None
        if w_in != w_out or stride != 1:
            self.proj = nn.Sequential(
                nn.Conv2d(w_in, w_out, 1, stride=stride, bias=False), _bn(w_out)
            )
        self.f = transform
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.proj is None else self.proj(x)
        return self.relu(shortcut + self.f(x))


class NDSNetwork(nn.Module):
    """pycls AnyNet with the CIFAR stem, three residual stages and a GAP + linear head.

    ``scale`` builds the network at a width multiplier (:func:`dims`); the benchmark's network
    is ``scale=1``.
    """

    def __init__(self, spec: str, num_classes: int = 10, scale: float = 1.0):
        super().__init__()
        self.spec = spec
        arch = parse(spec)
        d = dims(arch, scale)
        self.stem = nn.Sequential(
            nn.Conv2d(3, d.stem, 3, stride=1, padding=1, bias=False),
            _bn(d.stem),
            nn.ReLU(inplace=True),
        )
        blocks: list[nn.Module] = []
        for stage, w_in, w_out, stride in _blocks(arch, d):
            if arch.kind == "resnet":
                f = BasicTransform(w_in, w_out, stride)
            else:
                f = BottleneckTransform(w_in, w_out, stride, d.bottlenecks[stage],
                                        arch.num_groups[stage])
            blocks.append(ResBlock(w_in, w_out, stride, f))
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(d.widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


def build_network(spec: str, num_classes: int = 10, seed: int | None = None,
                  device: str | torch.device = "cpu") -> NDSNetwork:
    """Build the network for ``spec``, initialised deterministically from ``seed``.

    ``device="meta"`` builds a shape-only network (no memory, no real initialisation) for
    counting parameters and FLOPs. Otherwise weights are drawn on the CPU from a private
    generator state (the global RNG is restored afterwards).
    """
    if torch.device(device).type == "meta":
        with torch.device("meta"):
            return NDSNetwork(spec, num_classes)
    return seeded(seed, lambda: NDSNetwork(spec, num_classes)).to(device)


def _space(name: str, title: str) -> SearchSpace:
    return SearchSpace(
        name=name,
        title=title,
        table=name,
        spec_of_row=spec_of_row,
        builder=lambda spec, n, seed: build_network(spec, n, seed),
        op_counts=op_counts,
        canonical=canonical,
        meta_builder=lambda spec, n: build_network(spec, n, device="meta"),
        # pycls's own counting rule (conv MACs + linear + 5 per BN element), exact for
        # every row of the NDS tables
        complexity=lambda spec, n: complexity(spec, n),
    )


def _resnet() -> SearchSpace:
    return _space("nds_resnet", "NDS ResNet (CIFAR-10)")


def _resnexta() -> SearchSpace:
    return _space("nds_resnexta", "NDS ResNeXt-A (CIFAR-10)")


register_space("nds_resnet", _resnet)
register_space("nds_resnexta", _resnexta)

