"""One-shot estimators: weight-sharing supernets of the five benchmarks, their training and scoring.

Modules:

* :mod:`~harness.oneshot.config` -- :class:`TrainConfig` / :class:`SupernetConfig` /
  :class:`EvalConfig` and the hash that names a training run;
* :mod:`~harness.oneshot.supernet` -- the NAS-Bench-201 supernet (and partitioned supernets);
* :mod:`~harness.oneshot.nds_supernet`, :mod:`~harness.oneshot.nb101_supernet`,
  :mod:`~harness.oneshot.nb301_supernet` -- the NDS ResNet / ResNeXt-A, NAS-Bench-101 and
  NAS-Bench-301 (DARTS) supernets;
* :mod:`~harness.oneshot.slim` -- slimmable layers (leading channel slices) the NDS and
  NAS-Bench-101 supernets share;
* :mod:`~harness.oneshot.models` -- the supernet of a training run, by its space;
* :mod:`~harness.oneshot.sharing` -- partition rules for less weight sharing;
* :mod:`~harness.oneshot.sampling` -- uniform and de-isomorphic samplers, isomorphism classes;
* :mod:`~harness.oneshot.images` -- the 80/20 split of CIFAR-10 train, augmentation, batches;
* :mod:`~harness.oneshot.training` -- the training loop, checkpoints, resume;
* :mod:`~harness.oneshot.checkpoints` -- checkpoint layout ``<cache>/oneshot/<hash>/``;
* :mod:`~harness.oneshot.scoring` -- one-shot scores, estimator options, ``prepare`` support;
* :mod:`~harness.oneshot.transfer` -- stand-alone networks with trained supernet weights.

Command line: ``python -m harness.oneshot {train,list,curve,bench} --help``. See
``docs/oneshot.md``.
"""

from harness.oneshot.config import EvalConfig, SupernetConfig, TrainConfig

__all__ = ["EvalConfig", "SupernetConfig", "TrainConfig"]
