"""The supernet of a training run, whichever space it belongs to.

``TrainConfig.space`` picks the network, shaped by ``cfg.supernet``
(:class:`~harness.oneshot.config.SupernetConfig` says what its fields mean per space):

* ``nb201``: :func:`harness.oneshot.supernet.build_supernet` (and ``cfg.sharing``);
* ``nb101``: :func:`harness.oneshot.nb101_supernet.build_nb101_supernet`, ``channels`` stem
  channels and ``cells_per_stage`` cells in each of the benchmark's 3 stacks;
* ``nb301``: :func:`harness.oneshot.nb301_supernet.build_nb301_supernet`, ``channels``
  initial channels and ``3 * cells_per_stage + 2`` cells;
* the NDS spaces: :func:`harness.oneshot.nds_supernet.build_nds_supernet`, at width
  multiplier ``cfg.supernet.channels / 16`` of the space's largest architecture.

Training, loading a checkpoint and the benchmark all build through :func:`build_model`, so a
run's checkpoints always load into the network that wrote them.
"""

from __future__ import annotations

from torch import nn

from harness.oneshot.config import TrainConfig
from harness.oneshot.nb101_supernet import NB101Shape, build_nb101_supernet
from harness.oneshot.nb301_supernet import build_nb301_supernet
from harness.oneshot.nds_supernet import build_nds_supernet
from harness.oneshot.supernet import build_supernet
from harness.spaces import nb101


def nb301_layers(cells_per_stage: int) -> int:
    """Cells of a DARTS network with ``cells_per_stage`` normal cells per stage (2 → 8)."""
    return 3 * cells_per_stage + 2


def build_model(cfg: TrainConfig, seed: int | None) -> nn.Module:
    """The supernet of run ``cfg``, initialised from ``seed`` (``None``: to load weights into)."""
    net = cfg.supernet
    nhwc = net.memory_format == "channels_last"
    if cfg.space == "nb201":
        return build_supernet(net, cfg.sharing, seed=seed)
    if cfg.space == "nb101":
        shape = NB101Shape(net.channels, nb101.NUM_STACKS, net.cells_per_stage)
        return build_nb101_supernet(seed, shape, net.num_classes, channels_last=nhwc)
    if cfg.space == "nb301":
        return build_nb301_supernet(seed, net.channels, nb301_layers(net.cells_per_stage),
                                    net.num_classes, channels_last=nhwc)
    # The NDS stem is 16 channels wide, as NAS-Bench-201's: ``channels`` scales every width.
    return build_nds_supernet(cfg.space, seed, channels_last=nhwc, scale=net.channels / 16)
