"""Stand-alone networks carrying a trained supernet's weights (zero-shot on trained weights).

RQ4 of the paper asks how zero-shot estimators behave on trained rather than random weights.
:func:`extract_network` builds the benchmark's own :class:`NB201Network` for a cell and copies
the supernet's weights of the chosen operations into it, so every zero-shot estimator (which
calls ``ctx.build()`` and walks ``net.modules()``) runs unchanged: the network has exactly the
modules of a randomly initialised one, only the values differ.

The copy is exact: in training mode (BatchNorm with batch statistics, which is how the harness
hands networks to estimators) the stand-alone network computes the same logits as the
supernet running the cell. BatchNorms that the supernet keeps without affine parameters get
weight 1 and bias 0, which is the same function. Running statistics do not exist in the
supernet; :func:`recalibrate_bn` estimates them from a few batches for estimators that switch
to evaluation mode.

How the harness uses it (a ``--weights`` run of zero-shot estimators): the one-shot state,
prepared once per seed, offers ``network_builder(spec)`` (the :class:`harness.api.PreparedState`
protocol), which returns ``trained_builder(model, spec)``; the session hands that builder to
every :class:`harness.api.ArchContext` instead of the random-initialisation one. The seed
argument of the builder is ignored (the weights are the trained ones); the run's fingerprint
records the weights source so that its results are not mixed with random-init ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from harness.oneshot.supernet import NB201Supernet, SharedCell, supernet_for
from harness.spaces import nb201


def _source_name(supernet: NB201Supernet, name: str, cell: Sequence[str]) -> str:
    """The supernet parameter/buffer name that stand-alone ``name`` takes its value from."""
    parts = name.split(".")
    if parts[0] == "cells" and isinstance(supernet.cells[int(parts[1])], SharedCell):
        # stand-alone cells.<l>.edges.<k>.<rest> <- supernet cells.<l>.edges.<k>.ops.<op>.<rest>
        k = int(parts[3])
        return ".".join(parts[:4] + ["ops", cell[k]] + parts[4:])
    return name


def extract_network(model: nn.Module, cell: Sequence[str] | str,
                    device: torch.device | str | None = None) -> nb201.NB201Network:
    """A stand-alone NB201 network for ``cell`` with the supernet's trained weights.

    Args:
        model: a :class:`NB201Supernet` or a partitioned one (the owning part is used).
        cell: a 6-tuple of op names or an official arch string.
        device: where to put the network (default: where the supernet is).

    Raises:
        RuntimeError: if a weight of the stand-alone network has no source in the supernet
            (other than affine BN parameters the supernet does not have).
    """
    cell = nb201.parse(cell) if isinstance(cell, str) else tuple(cell)
    supernet = supernet_for(model, cell)
    cfg = supernet.cfg
    with torch.random.fork_rng(devices=[]):  # its random init is overwritten; keep RNG intact
        torch.manual_seed(0)
        net = nb201.NB201Network(cell, cfg.num_classes, cfg.channels, cfg.cells_per_stage)
    src = supernet.state_dict()
    new_state = {}
    for name, value in net.state_dict().items():
        sname = _source_name(supernet, name, cell)
        if sname in src:
            if src[sname].shape != value.shape:
                raise RuntimeError(f"shape mismatch {name} {tuple(value.shape)} vs {sname} "
                                   f"{tuple(src[sname].shape)}")
            new_state[name] = src[sname].detach().clone()
        elif name.endswith(("running_mean", "running_var", "num_batches_tracked")):
            new_state[name] = value  # the supernet has no running statistics
        elif name.endswith((".weight", ".bias")) and _is_bn_param(net, name):
            new_state[name] = value  # non-affine BN in the supernet = weight 1, bias 0
        else:
            raise RuntimeError(f"no supernet weight for {name} (looked for {sname})")
    net.load_state_dict(new_state)
    if cfg.memory_format == "channels_last":
        # The supernet's layout, so that the copy computes the supernet's logits bit for bit.
        net = net.to(memory_format=torch.channels_last)
    dev = next(supernet.parameters()).device if device is None else torch.device(device)
    return net.to(dev).train()


def _is_bn_param(net: nn.Module, name: str) -> bool:
    module = net.get_submodule(name.rsplit(".", 1)[0])
    return isinstance(module, nn.BatchNorm2d)


def trained_builder(model: nn.Module, spec: Sequence[str] | str) -> Callable[[int], nn.Module]:
    """A drop-in for the harness's ``builder(seed)``: a fresh trained copy on every call."""
    return lambda _seed: extract_network(model, spec)


@torch.no_grad()
def recalibrate_bn(net: nn.Module, batches: Iterable[torch.Tensor]) -> nn.Module:
    """Set BatchNorm running statistics to their exact averages over ``batches``."""
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d) and m.track_running_stats]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    was_training = net.training
    net.train()
    for x in batches:
        net(x)
    for m, mom in zip(bns, saved):
        m.momentum = mom
    return net.train(was_training)
