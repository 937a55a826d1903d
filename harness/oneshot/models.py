"""The supernet of a training run, whichever space it belongs to.

``TrainConfig.space`` picks the network: the NAS-Bench-201 supernet
(:func:`harness.oneshot.supernet.build_supernet`, shaped by ``cfg.supernet`` and ``sharing``)
or an NDS supernet (:func:`harness.oneshot.nds_supernet.build_nds_supernet`, shaped by the
space's largest architecture at width multiplier ``cfg.supernet.channels / 16``; of
``cfg.supernet`` only ``channels`` and ``memory_format`` apply). Training,
loading a checkpoint and the benchmark all build through :func:`build_model`, so a run's
checkpoints always load into the network that wrote them.
"""

from __future__ import annotations

from torch import nn

from harness.oneshot.config import TrainConfig
from harness.oneshot.nds_supernet import build_nds_supernet
from harness.oneshot.supernet import build_supernet


def build_model(cfg: TrainConfig, seed: int | None) -> nn.Module:
    """The supernet of run ``cfg``, initialised from ``seed`` (``None``: to load weights into)."""
    if cfg.space == "nb201":
        return build_supernet(cfg.supernet, cfg.sharing, seed=seed)
    # The NDS stem is 16 channels wide, as NAS-Bench-201's: ``channels`` scales every width.
    return build_nds_supernet(cfg.space, seed,
                              channels_last=cfg.supernet.memory_format == "channels_last",
                              scale=cfg.supernet.channels / 16)
