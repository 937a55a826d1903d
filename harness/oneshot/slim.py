"""Layers whose leading slices are the layers of smaller networks (slimmable weight sharing).

A supernet that holds, per layer, the widest layer any architecture uses lets an architecture
use the **first** channels of every layer, as slimmable networks (Yu et al., ICLR 2019) and
once-for-all networks (Cai et al., ICLR 2020) share weights. The NDS supernets
(:mod:`harness.oneshot.nds_supernet`) slice depths and widths with these layers, the
NAS-Bench-101 supernet (:mod:`harness.oneshot.nb101_supernet`) the per-vertex channel counts
that the benchmark's channel rule gives each architecture.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SlimConv2d(nn.Module):
    """A convolution whose leading slices (and diagonal blocks, for groups) are sub-layers.

    Args:
        max_in, max_out: the widest input and output.
        kernel: square kernel size; the padding is ``kernel // 2`` ('same' at stride 1).
        stride: the stride of every sub-layer.
    """

    def __init__(self, max_in: int, max_out: int, kernel: int, stride: int = 1):
        super().__init__()
        self.stride, self.padding = stride, kernel // 2
        ref = nn.Conv2d(max_in, max_out, kernel, bias=False)  # PyTorch's default init
        self.weight = nn.Parameter(ref.weight.detach().clone())

    def kernel(self, c_in: int, c_out: int, groups: int = 1) -> torch.Tensor:
        """The weight of the ``c_in → c_out`` sub-layer with ``groups`` groups.

        With groups, group ``i`` uses the diagonal block
        ``weight[i·c_out/g : (i+1)·c_out/g, i·c_in/g : (i+1)·c_in/g]`` of the dense kernel.
        """
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
    ``c``-channel input.

    Without ``track_running_stats`` it always normalises with the batch's own statistics
    (one-shot training and scoring: running statistics would mix architectures).
    """

    def __init__(self, max_c: int, track_running_stats: bool = True, eps: float = 1e-5,
                 momentum: float = 0.1):
        super().__init__(max_c, eps=eps, momentum=momentum,
                         track_running_stats=track_running_stats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        use_batch = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
        # Slices of the buffers are views: a training step updates this architecture's part.
        mean = self.running_mean[:c] if self.running_mean is not None else None
        var = self.running_var[:c] if self.running_var is not None else None
        return F.batch_norm(x, mean, var, self.weight[:c], self.bias[:c], use_batch,
                            self.momentum, self.eps)

    def slice_state(self, prefix: str, c: int) -> dict[str, torch.Tensor]:
        """The first ``c`` channels as a stand-alone ``BatchNorm2d``'s ``state_dict`` entries
        under ``prefix`` (copies).

        Raises:
            ValueError: without running statistics (a stand-alone BN needs them).
        """
        if self.running_mean is None:
            raise ValueError("a stand-alone state needs running statistics: build the "
                             "supernet with track_running_stats=True")
        out = {f"{prefix}.{name}": getattr(self, name)[:c].detach().clone()
               for name in ("weight", "bias", "running_mean", "running_var")}
        out[f"{prefix}.num_batches_tracked"] = self.num_batches_tracked.detach().clone()
        return out
