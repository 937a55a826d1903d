"""Weight-sharing supernets of the NDS ResNet and ResNeXt-A spaces (slimmable, once-for-all style).

One network holds, per stage, the largest depth and width any architecture of the space uses
(and, for ResNeXt-A, the largest bottleneck width); an architecture uses the **first**
``depths[s]`` blocks of stage ``s`` and the **first** channels of every layer, as slimmable
networks (Yu et al., ICLR 2019) and once-for-all networks (Cai et al., ICLR 2020) share weights.
Every layer of :mod:`harness.spaces.nds`'s stand-alone network has a counterpart here whose
weight the architecture's layer is a leading slice of:

* a convolution ``w_in → w_out`` uses ``weight[:w_out, :w_in]``;
* a grouped 3×3 convolution of width ``w_b`` with ``g`` groups uses, for group ``i``, the
  diagonal block ``weight[i·w_b/g : (i+1)·w_b/g, i·w_b/g : (i+1)·w_b/g]`` of the dense
  ``w_b_max × w_b_max`` kernel (so architectures with other group counts share the kernel's
  diagonal);
* a BatchNorm uses the first ``w`` entries of its affine parameters and running statistics
  (a running-statistics update of one architecture touches only its own slice);
* the shortcut projection (1×1 conv + BN) exists on the first block of every stage and is used
  exactly when the stand-alone block has one (a change of width or resolution);
* the classifier uses ``weight[:, :w_last]`` and the whole bias.

:meth:`NDSSupernet.standalone_state` writes an architecture's slices as the ``state_dict`` of
its stand-alone :class:`~harness.spaces.nds.NDSNetwork`; ``tests/test_nds_supernet.py`` checks
that the two compute the same function (the acceptance test of issue #43 for these spaces).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from harness.oneshot.slim import SlimBatchNorm2d, SlimConv2d
from harness.spaces.nds import BN_EPS, BN_MOMENTUM, STEM_WIDTH, NDSArch, dims, parse
from harness.spaces.seeding import seeded


@dataclass(frozen=True)
class NDSSupernetShape:
    """The largest architecture a supernet must hold, per stage.

    Attributes:
        kind: ``"resnet"`` or ``"resnexta"``.
        depths: the largest depth of each stage.
        widths: the largest width of each stage (at ``scale``).
        bottlenecks: the largest bottleneck width of each stage (ResNeXt-A), else ``None``.
        scale: the width multiplier architectures are built at
            (:func:`harness.spaces.nds.dims`; 1: the benchmark's widths).
        stem: the stem's width at ``scale``.
    """

    kind: str
    depths: tuple[int, ...]
    widths: tuple[int, ...]
    bottlenecks: tuple[int, ...] | None = None
    scale: float = 1.0
    stem: int = STEM_WIDTH

    @classmethod
    def covering(cls, specs: Sequence[str], scale: float = 1.0) -> NDSSupernetShape:
        """The smallest shape that holds every architecture of ``specs`` (all one kind) at
        width multiplier ``scale``.

        Raises:
            ValueError: ``specs`` is empty or mixes ResNet and ResNeXt-A.
        """
        archs = [parse(s) for s in specs]
        kinds = {a.kind for a in archs}
        if len(kinds) != 1:
            raise ValueError(f"specs must be of one NDS kind, not {sorted(kinds) or 'none'}")
        n = len(archs[0].depths)
        ds = [dims(a, scale) for a in archs]

        def most(values: Sequence[Sequence[int]]) -> tuple[int, ...]:
            return tuple(max(v[s] for v in values) for s in range(n))

        kind = kinds.pop()
        return cls(kind, most([a.depths for a in archs]), most([d.widths for d in ds]),
                   most([d.bottlenecks for d in ds]) if kind == "resnexta" else None,
                   scale, ds[0].stem)

    def holds(self, arch: NDSArch) -> bool:
        """Whether ``arch`` (at this shape's scale) is a sub-network of this shape."""
        d = dims(arch, self.scale)
        ok = (arch.kind == self.kind and len(arch.depths) == len(self.depths)
              and d.stem == self.stem
              and all(a <= m for a, m in zip(arch.depths, self.depths))
              and all(w <= m for w, m in zip(d.widths, self.widths)))
        if ok and self.bottlenecks is not None:
            ok = all(b <= m for b, m in zip(d.bottlenecks, self.bottlenecks))
        return ok


class SlimBlock(nn.Module):
    """A residual block (ResNet basic or ResNeXt-A bottleneck) at its largest size.

    Args:
        kind: ``"resnet"`` or ``"resnexta"``.
        max_in, max_out: largest input and output widths.
        stride: 2 on the first block of stages 2 and 3, else 1.
        max_b: largest bottleneck width (ResNeXt-A).
        projects: whether some architecture needs the shortcut projection here (first block
            of a stage).
    """

    def __init__(self, kind: str, max_in: int, max_out: int, stride: int, max_b: int | None,
                 projects: bool, track_running_stats: bool = True):
        super().__init__()

        def bn(c: int) -> SlimBatchNorm2d:
            return SlimBatchNorm2d(c, track_running_stats, BN_EPS, BN_MOMENTUM)

        self.kind, self.stride = kind, stride
        if kind == "resnet":
            self.a, self.a_bn = SlimConv2d(max_in, max_out, 3, stride), bn(max_out)
            self.b, self.b_bn = SlimConv2d(max_out, max_out, 3), bn(max_out)
        else:
            self.a, self.a_bn = SlimConv2d(max_in, max_b, 1), bn(max_b)
            self.b, self.b_bn = SlimConv2d(max_b, max_b, 3, stride), bn(max_b)
            self.c, self.c_bn = SlimConv2d(max_b, max_out, 1), bn(max_out)
        self.proj = self.proj_bn = None
        if projects:
            self.proj = SlimConv2d(max_in, max_out, 1, stride)
            self.proj_bn = bn(max_out)

    def needs_projection(self, w_in: int, w_out: int) -> bool:
        return w_in != w_out or self.stride != 1

    def forward(self, x: torch.Tensor, w_out: int, w_b: int | None = None,
                groups: int = 1) -> torch.Tensor:
        w_in = x.shape[1]
        if self.kind == "resnet":
            f = self.b_bn(self.b(F.relu(self.a_bn(self.a(x, w_out))), w_out))
        else:
            f = F.relu(self.a_bn(self.a(x, w_b)))
            f = F.relu(self.b_bn(self.b(f, w_b, groups)))
            f = self.c_bn(self.c(f, w_out))
        shortcut = x
        if self.needs_projection(w_in, w_out):
            shortcut = self.proj_bn(self.proj(x, w_out))
        return F.relu(shortcut + f)


class NDSSupernet(nn.Module):
    """The weight-sharing network of one NDS space (see the module docstring)."""

    def __init__(self, shape: NDSSupernetShape, num_classes: int = 10,
                 track_running_stats: bool = True, channels_last: bool = False):
        super().__init__()
        self.shape = shape
        self.channels_last = channels_last
        self.stem = SlimConv2d(3, shape.stem, 3)
        self.stem_bn = SlimBatchNorm2d(shape.stem, track_running_stats, BN_EPS, BN_MOMENTUM)
        stages = []
        w_in = shape.stem
        for s, (d, w) in enumerate(zip(shape.depths, shape.widths)):
            max_b = shape.bottlenecks[s] if shape.bottlenecks is not None else None
            blocks = [SlimBlock(shape.kind, w_in if b == 0 else w, w, 2 if s > 0 and b == 0
                                else 1, max_b, projects=(b == 0),
                                track_running_stats=track_running_stats) for b in range(d)]
            stages.append(nn.ModuleList(blocks))
            w_in = w
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(shape.widths[-1], num_classes)

    def _check(self, arch: NDSArch) -> None:
        if not self.shape.holds(arch):
            raise ValueError(f"architecture {arch} does not fit the supernet {self.shape}")

    def forward(self, x: torch.Tensor, spec: str,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits of architecture ``spec`` (``generator``: unused; the NDS networks have no
        dropout, and training passes one to every supernet)."""
        arch = parse(spec)
        self._check(arch)
        d = dims(arch, self.shape.scale)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = F.relu(self.stem_bn(self.stem(x, d.stem)))
        for s, stage in enumerate(self.stages):
            w_b = d.bottlenecks[s] if arch.kind == "resnexta" else None
            groups = arch.num_groups[s] if arch.kind == "resnexta" else 1
            for b in range(arch.depths[s]):
                x = stage[b](x, d.widths[s], w_b, groups)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        w_last = d.widths[-1]
        return F.linear(x, self.fc.weight[:, :w_last], self.fc.bias)

    def standalone_state(self, spec: str) -> dict[str, torch.Tensor]:
        """The architecture's slices, named as the ``state_dict`` of its stand-alone
        :class:`~harness.spaces.nds.NDSNetwork` at the shape's scale (copies: editing them
        leaves the supernet)."""
        arch = parse(spec)
        self._check(arch)
        d = dims(arch, self.shape.scale)
        out: dict[str, torch.Tensor] = {}

        def bn(prefix: str, m: SlimBatchNorm2d, c: int) -> None:
            out.update(m.slice_state(prefix, c))

        out["stem.0.weight"] = self.stem.kernel(3, d.stem).detach().clone()
        bn("stem.1", self.stem_bn, d.stem)
        i, w_in = 0, d.stem
        for s, stage in enumerate(self.stages):
            w = d.widths[s]
            for b in range(arch.depths[s]):
                blk, p = stage[b], f"blocks.{i}"
                c_in = w_in if b == 0 else w
                if arch.kind == "resnet":
                    out[f"{p}.f.a.weight"] = blk.a.kernel(c_in, w).detach().clone()
                    bn(f"{p}.f.a_bn", blk.a_bn, w)
                    out[f"{p}.f.b.weight"] = blk.b.kernel(w, w).detach().clone()
                    bn(f"{p}.f.b_bn", blk.b_bn, w)
                else:
                    wb, g = d.bottlenecks[s], arch.num_groups[s]
                    out[f"{p}.f.a.weight"] = blk.a.kernel(c_in, wb).detach().clone()
                    bn(f"{p}.f.a_bn", blk.a_bn, wb)
                    out[f"{p}.f.b.weight"] = blk.b.kernel(wb, wb, g).detach().clone()
                    bn(f"{p}.f.b_bn", blk.b_bn, wb)
                    out[f"{p}.f.c.weight"] = blk.c.kernel(wb, w).detach().clone()
                    bn(f"{p}.f.c_bn", blk.c_bn, w)
                if blk.needs_projection(c_in, w):
                    out[f"{p}.proj.0.weight"] = blk.proj.kernel(c_in, w).detach().clone()
                    bn(f"{p}.proj.1", blk.proj_bn, w)
                i += 1
            w_in = w
        out["fc.weight"] = self.fc.weight[:, :d.widths[-1]].detach().clone()
        out["fc.bias"] = self.fc.bias.detach().clone()
        return out


#: The shape holding every architecture of each NDS table at the benchmark's widths (5,000 rows
#: each; ``tests/test_nds_oneshot.py`` checks that it covers them).
SPACE_SHAPES: dict[str, NDSSupernetShape] = {
    "nds_resnet": NDSSupernetShape("resnet", (24, 24, 24), (256, 256, 256)),
    "nds_resnexta": NDSSupernetShape("resnexta", (16, 16, 16), (256, 256, 256),
                                     (256, 256, 256)),
}
#: The largest group count of each space's tables (bounds the scaled bottlenecks).
MAX_GROUPS: dict[str, int] = {"nds_resnet": 1, "nds_resnexta": 4}


def space_shape(space: str, scale: float = 1.0) -> NDSSupernetShape:
    """A shape holding every architecture of ``space`` at width multiplier ``scale``.

    Widths scale exactly (rounding is monotonic). A scaled bottleneck, a multiple ``g`` of its
    group count near ``b * scale``, is at most ``B * scale + G / 2`` for the space's largest
    bottleneck ``B`` and group count ``G`` (and at least ``g``), so that bound holds them all; a
    little unused capacity costs nothing, since an architecture only uses its slices.
    """
    full = SPACE_SHAPES[space]
    if scale == 1.0:
        return full

    def w(v: int) -> int:
        return max(1, int(round(v * scale)))

    g = MAX_GROUPS[space]
    bottlenecks = None if full.bottlenecks is None else tuple(
        max(g, int(b * scale + g / 2)) for b in full.bottlenecks)
    return NDSSupernetShape(full.kind, full.depths, tuple(w(v) for v in full.widths),
                            bottlenecks, scale, w(STEM_WIDTH))


def build_nds_supernet(space: str, seed: int | None, num_classes: int = 10,
                       channels_last: bool = True, scale: float = 1.0) -> NDSSupernet:
    """The one-shot supernet of NDS space ``space`` at width multiplier ``scale``: batch
    statistics only, initialised from ``seed`` (``None``: unseeded, for loading a checkpoint
    into), optionally NHWC."""
    model = seeded(seed, lambda: NDSSupernet(space_shape(space, scale), num_classes,
                                             track_running_stats=False,
                                             channels_last=channels_last))
    return model.to(memory_format=torch.channels_last) if channels_last else model
