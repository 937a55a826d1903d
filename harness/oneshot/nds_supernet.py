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

from harness.spaces.nds import BN_EPS, BN_MOMENTUM, STEM_WIDTH, NDSArch, parse


@dataclass(frozen=True)
class NDSSupernetShape:
    """The largest architecture a supernet must hold, per stage.

    Attributes:
        kind: ``"resnet"`` or ``"resnexta"``.
        depths: the largest depth of each stage.
        widths: the largest width of each stage.
        bottlenecks: the largest bottleneck width of each stage (ResNeXt-A), else ``None``.
    """

    kind: str
    depths: tuple[int, ...]
    widths: tuple[int, ...]
    bottlenecks: tuple[int, ...] | None = None

    @classmethod
    def covering(cls, specs: Sequence[str]) -> NDSSupernetShape:
        """The smallest shape that holds every architecture of ``specs`` (all one kind).

        Raises:
            ValueError: ``specs`` is empty or mixes ResNet and ResNeXt-A.
        """
        archs = [parse(s) for s in specs]
        kinds = {a.kind for a in archs}
        if len(kinds) != 1:
            raise ValueError(f"specs must be of one NDS kind, not {sorted(kinds) or 'none'}")
        n = len(archs[0].depths)

        def most(values: Sequence[Sequence[int]]) -> tuple[int, ...]:
            return tuple(max(v[s] for v in values) for s in range(n))

        kind = kinds.pop()
        return cls(kind, most([a.depths for a in archs]), most([a.widths for a in archs]),
                   most([a.bottleneck_widths() for a in archs]) if kind == "resnexta" else None)

    def holds(self, arch: NDSArch) -> bool:
        """Whether ``arch`` is a sub-network of this shape."""
        ok = (arch.kind == self.kind and len(arch.depths) == len(self.depths)
              and all(d <= m for d, m in zip(arch.depths, self.depths))
              and all(w <= m for w, m in zip(arch.widths, self.widths)))
        if ok and self.bottlenecks is not None:
            ok = all(b <= m for b, m in zip(arch.bottleneck_widths(), self.bottlenecks))
        return ok


class SlimConv2d(nn.Module):
    """A convolution whose leading slices (and diagonal blocks, for groups) are sub-layers."""

    def __init__(self, max_in: int, max_out: int, kernel: int, stride: int = 1):
        super().__init__()
        self.stride, self.padding = stride, kernel // 2
        ref = nn.Conv2d(max_in, max_out, kernel, bias=False)  # PyTorch's default init
        self.weight = nn.Parameter(ref.weight.detach().clone())

    def kernel(self, c_in: int, c_out: int, groups: int = 1) -> torch.Tensor:
        """The weight of the ``c_in → c_out`` sub-layer with ``groups`` groups."""
        if groups == 1:
            return self.weight[:c_out, :c_in]
        gi, go = c_in // groups, c_out // groups
        return torch.cat([self.weight[i * go:(i + 1) * go, i * gi:(i + 1) * gi]
                          for i in range(groups)])

    def forward(self, x: torch.Tensor, c_out: int, groups: int = 1) -> torch.Tensor:
        return F.conv2d(x, self.kernel(x.shape[1], c_out, groups), stride=self.stride,
                        padding=self.padding, groups=groups)


class SlimBatchNorm2d(nn.BatchNorm2d):
    """A BatchNorm whose first ``c`` channels (parameters and running statistics) serve a
    ``c``-channel input."""

    def __init__(self, max_c: int):
        super().__init__(max_c, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        use_batch = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
        # Slices of the buffers are views: a training step updates this architecture's part.
        return F.batch_norm(x, self.running_mean[:c], self.running_var[:c], self.weight[:c],
                            self.bias[:c], use_batch, self.momentum, self.eps)


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
                 projects: bool):
        super().__init__()
        self.kind, self.stride = kind, stride
        if kind == "resnet":
            self.a, self.a_bn = SlimConv2d(max_in, max_out, 3, stride), SlimBatchNorm2d(max_out)
            self.b, self.b_bn = SlimConv2d(max_out, max_out, 3), SlimBatchNorm2d(max_out)
        else:
            self.a, self.a_bn = SlimConv2d(max_in, max_b, 1), SlimBatchNorm2d(max_b)
            self.b, self.b_bn = SlimConv2d(max_b, max_b, 3, stride), SlimBatchNorm2d(max_b)
            self.c, self.c_bn = SlimConv2d(max_b, max_out, 1), SlimBatchNorm2d(max_out)
        self.proj = self.proj_bn = None
        if projects:
            self.proj = SlimConv2d(max_in, max_out, 1, stride)
            self.proj_bn = SlimBatchNorm2d(max_out)

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

    def __init__(self, shape: NDSSupernetShape, num_classes: int = 10):
        super().__init__()
        self.shape = shape
        self.stem = SlimConv2d(3, STEM_WIDTH, 3)
        self.stem_bn = SlimBatchNorm2d(STEM_WIDTH)
        stages = []
        w_in = STEM_WIDTH
        for s, (d, w) in enumerate(zip(shape.depths, shape.widths)):
            max_b = shape.bottlenecks[s] if shape.bottlenecks is not None else None
            blocks = [SlimBlock(shape.kind, w_in if b == 0 else w, w, 2 if s > 0 and b == 0
                                else 1, max_b, projects=(b == 0)) for b in range(d)]
            stages.append(nn.ModuleList(blocks))
            w_in = w
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(shape.widths[-1], num_classes)

    def _check(self, arch: NDSArch) -> None:
        if not self.shape.holds(arch):
            raise ValueError(f"architecture {arch} does not fit the supernet {self.shape}")

    def forward(self, x: torch.Tensor, spec: str) -> torch.Tensor:
        arch = parse(spec)
        self._check(arch)
        x = F.relu(self.stem_bn(self.stem(x, STEM_WIDTH)))
        for s, stage in enumerate(self.stages):
            w_b = arch.bottleneck_widths()[s] if arch.kind == "resnexta" else None
            groups = arch.num_groups[s] if arch.kind == "resnexta" else 1
            for b in range(arch.depths[s]):
                x = stage[b](x, arch.widths[s], w_b, groups)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        w_last = arch.widths[-1]
        return F.linear(x, self.fc.weight[:, :w_last], self.fc.bias)

    def standalone_state(self, spec: str) -> dict[str, torch.Tensor]:
        """The architecture's slices, named as the ``state_dict`` of its stand-alone
        :class:`~harness.spaces.nds.NDSNetwork` (copies: editing them leaves the supernet)."""
        arch = parse(spec)
        self._check(arch)
        out: dict[str, torch.Tensor] = {}

        def bn(prefix: str, m: SlimBatchNorm2d, c: int) -> None:
            for name in ("weight", "bias", "running_mean", "running_var"):
                out[f"{prefix}.{name}"] = getattr(m, name)[:c].detach().clone()
            out[f"{prefix}.num_batches_tracked"] = m.num_batches_tracked.detach().clone()

        out["stem.0.weight"] = self.stem.kernel(3, STEM_WIDTH).detach().clone()
        bn("stem.1", self.stem_bn, STEM_WIDTH)
        i, w_in = 0, STEM_WIDTH
        for s, stage in enumerate(self.stages):
            w = arch.widths[s]
            for b in range(arch.depths[s]):
                blk, p = stage[b], f"blocks.{i}"
                c_in = w_in if b == 0 else w
                if arch.kind == "resnet":
                    out[f"{p}.f.a.weight"] = blk.a.kernel(c_in, w).detach().clone()
                    bn(f"{p}.f.a_bn", blk.a_bn, w)
                    out[f"{p}.f.b.weight"] = blk.b.kernel(w, w).detach().clone()
                    bn(f"{p}.f.b_bn", blk.b_bn, w)
                else:
                    wb, g = arch.bottleneck_widths()[s], arch.num_groups[s]
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
        out["fc.weight"] = self.fc.weight[:, :arch.widths[-1]].detach().clone()
        out["fc.bias"] = self.fc.bias.detach().clone()
        return out
