"""Multiply-accumulate counting for one forward pass, as NAS benchmarks define "FLOPs".

The convention is the one NAS-Bench-201's own counter uses (and the NDS papers report):

* ``Conv2d``: ``k_h·k_w·C_in/groups · C_out · H_out·W_out`` (+ ``C_out·H_out·W_out`` with a bias);
* ``Linear``: ``in·out`` (+ ``out`` with a bias);
* ``AvgPool2d`` / ``MaxPool2d``: ``k² · C · H_out·W_out``;
* everything else (BN, ReLU, additions, adaptive pooling) counts zero.

With this rule the NB201 CIFAR-10 networks span exactly 7.943872 M to 222.860992 M, and the
official figures of all 9,445 published cells are reproduced (see ``tests/test_nb201.py``).
"""

from __future__ import annotations

import torch
from torch import nn


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def count_macs(model: nn.Module, input_shape: tuple[int, ...] = (1, 3, 32, 32)) -> int:
    """Count multiply-accumulates of one forward pass of a single input of ``input_shape``.

    The model is run once (in eval mode, without gradients) on zeros; its training mode is
    restored afterwards. Counts are per image (batch dimension divided out).
    """
    total = 0

    def conv_hook(m: nn.Conv2d, inp, out):
        nonlocal total
        kh, kw = _pair(m.kernel_size)
        positions = out.shape[0] * out.shape[2] * out.shape[3]
        total += kh * kw * (m.in_channels // m.groups) * m.out_channels * positions
        if m.bias is not None:
            total += m.out_channels * positions

    def linear_hook(m: nn.Linear, inp, out):
        nonlocal total
        rows = out.numel() // m.out_features
        total += rows * m.in_features * m.out_features
        if m.bias is not None:
            total += rows * m.out_features

    def pool_hook(m, inp, out):
        nonlocal total
        kh, kw = _pair(m.kernel_size)
        total += kh * kw * out.numel()

    handles = []
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            handles.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            handles.append(mod.register_forward_hook(linear_hook))
        elif isinstance(mod, (nn.AvgPool2d, nn.MaxPool2d)):
            handles.append(mod.register_forward_hook(pool_hook))
    was_training = model.training
    try:
        model.eval()
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
        with torch.no_grad():
            model(torch.zeros(input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total // input_shape[0]
