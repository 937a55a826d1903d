"""The scoring session: everything one (estimators, split, run config) needs, built once.

A :class:`Session` holds the split, its search space and specs, the decoded batches, and the
prepared states per seed (a one-shot supernet is loaded once per seed, not once per phase).
Every phase takes it: scoring, the determinism check, finalize, curves and trained weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from harness import api, data, registry, results
from harness.run.config import RunConfig
from harness.run.limits import ArchTimeout, call_with_timeout
from harness.run.resolve import weights_source
from harness.scoring_key import ScoringKey
from harness.spaces import SearchSpace, get_space
from harness.splits import Split, load_split

#: Key of the states holding the prepared one-shot state whose supernet supplies the weights
#: of ``RunConfig.weights`` runs (not a valid estimator name, so it cannot collide).
WEIGHTS_KEY = "@weights"


class BatchCache:
    """Decodes each (seed, batch index) once and moves it to the device once."""

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self._cache: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def get(self, seed: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        key = (seed, index)
        if key not in self._cache:
            if len(self._cache) > 16:
                self._cache.clear()
            x, y = data.cifar10_batch(self.cfg.batch_size, index, seed, "train",
                                      self.cfg.data_dir)
            dev = torch.device(self.cfg.device)
            self._cache[key] = (x.to(dev), y.to(dev))
        return self._cache[key]


def shard_positions(n: int, shard: tuple[int, int] | None) -> list[int]:
    """Positions of the split a shard scores: ``p % n_shards == i`` (round-robin, so shards
    have equal size and equal mix of cheap and expensive architectures)."""
    if shard is None:
        return list(range(n))
    i, k = shard
    if not (k >= 1 and 0 <= i < k):
        raise ValueError(f"shard must be i/N with 0 <= i < N, got {i}/{k}")
    return [p for p in range(n) if p % k == i]


def own_options(est: api.Estimator, cfg: RunConfig) -> dict[str, Any]:
    """The ``--estimator-option`` values ``est`` declares (and, for trained weights, those of
    the weights source): all that its scores can depend on."""
    keys = set(est.info.options)
    if cfg.weights != "init":
        keys |= set(weights_source(cfg.weights).info.options)
    return {k: v for k, v in sorted(cfg.options.items()) if k in keys}


class PrepareTimeout(RuntimeError):
    """An estimator's ``prepare()`` exceeded ``--prepare-timeout``."""


@dataclass
class Session:
    """One (estimators, split, run config), with everything built once.

    Attributes:
        estimators: scored jointly.
        split: the split.
        cfg: the run configuration.
    """

    estimators: tuple[api.Estimator, ...]
    split: Split
    cfg: RunConfig

    @classmethod
    def create(cls, estimators: Sequence[api.Estimator], split: Split | str,
               cfg: RunConfig) -> Session:
        sp = load_split(split) if isinstance(split, str) else split
        return cls(tuple(estimators), sp, cfg)

    def __post_init__(self) -> None:
        self.batches = BatchCache(self.cfg)
        self._states: dict[int, dict[str, Any]] = {}
        self.prepare_count = 0  # prepare() calls made (each state is built once per seed)
        # Curve-store files this session's curve pass scored (their points say "rescored").
        self.curve_scored: set[Path] = set()
        # Estimators scored in a worker process (``--isolate``): name -> ``(position, seed) ->
        # Record``, set up by :func:`harness.run.isolation.isolated`.
        self.remote: dict[str, Callable[[int, int], Any]] = {}

    @cached_property
    def space(self) -> SearchSpace:
        return get_space(self.split.benchmark)

    @cached_property
    def specs(self) -> list[Any]:
        return self.split.specs(self.cfg.data_dir)

    @cached_property
    def positions(self) -> list[int]:
        """The split positions this session scores (its shard, or all)."""
        return shard_positions(len(self.split), self.cfg.shard)

    def estimator(self, name: str) -> api.Estimator:
        return next(e for e in self.estimators if e.name == name)

    def scoring_key(self, est: api.Estimator) -> ScoringKey:
        """What determines ``est``'s scores on this split under this config (the seed aside):
        the one key that the checkpoint, the results file, the curve store and the take-over
        of stored scores all store and compare."""
        cfg = self.cfg
        return ScoringKey(
            estimator=est.name, estimator_version=est.info.version, split=self.split.name,
            split_sha256=self.split.sha256, n_batches=cfg.n_batches, batch_size=cfg.batch_size,
            device_type=torch.device(cfg.device).type, options=own_options(est, cfg),
            weights=cfg.weights)

    def checkpoint_path(self, est: api.Estimator, shard: tuple[int, int] | None = None):
        tag = f"{shard[0]}/{shard[1]}" if shard else ""
        return results.checkpoint_path(self.cfg.results_dir, est.name, self.split.name, tag)

    def prepare_context(self, seed: int) -> api.PrepareContext:
        return api.PrepareContext(
            space=self.split.benchmark, dataset=self.split.dataset, seed=seed,
            device=torch.device(self.cfg.device), data_dir=self.cfg.data_dir,
            cache_dir=str(self.cfg.cache_dir), options=dict(self.cfg.options))

    def _prepare(self, est: api.Estimator, pctx: api.PrepareContext) -> Any:
        """``est.prepare(pctx)`` under ``--prepare-timeout``.

        Raises:
            PrepareTimeout: naming the estimator and the limit (the run stops: without the
                prepared state nothing of that estimator can be scored).
        """
        try:
            return call_with_timeout(lambda: est.prepare(pctx), self.cfg.prepare_timeout_s,
                                     "the prepare() limit (--prepare-timeout)")
        except ArchTimeout as exc:
            raise PrepareTimeout(f"estimator {est.name!r}, seed {pctx.seed}: prepare() {exc}; "
                                 "raise --prepare-timeout (0: no limit) or prepare its state "
                                 "beforehand") from None

    def states(self, seed: int) -> dict[str, Any]:
        """Prepared states of seed ``seed``, by estimator name (and :data:`WEIGHTS_KEY`);
        each ``prepare`` runs once per seed and session."""
        if seed not in self._states:
            pctx = self.prepare_context(seed)
            states: dict[str, Any] = {}
            for est in self.estimators:
                if est.prepare is not None:
                    states[est.name] = self._prepare(est, pctx)
                    self.prepare_count += 1
            if self.cfg.weights != "init":
                states[WEIGHTS_KEY] = weights_source(self.cfg.weights).prepare(pctx)
                self.prepare_count += 1
            self._states[seed] = states
        return self._states[seed]

    def builder(self, spec: Any, states: dict[str, Any]):
        """``builder(seed) -> nn.Module`` for ``spec``: seeded random initialisation, or the
        trained weights of the weights source (whose builder ignores the seed)."""
        trained = states.get(WEIGHTS_KEY)
        if trained is not None:
            return trained.network_builder(spec)
        space, dataset = self.space, self.split.dataset
        return lambda s: space.build(spec, dataset, s)

    def contexts(self, ests: Sequence[api.Estimator], position: int, seed: int,
                 states: dict[str, Any], share: bool = True
                 ) -> Iterator[tuple[api.Estimator, int, api.ArchContext]]:
        """Yield (estimator, batch index, context) for every call one (arch, seed) needs.

        With ``share`` the contexts of one batch share their passes, and each knows every pass
        the estimators declared (``EstimatorInfo.uses``); without it, only its own estimator's.
        """
        split, space = self.split, self.space
        spec = self.specs[position]
        side = space.input_size.get(split.dataset, 32)
        dev = torch.device(self.cfg.device)
        builder = self.builder(spec, states)
        joint_uses = frozenset(k for e in ests for k in e.info.uses)
        shared_by_batch: dict[int, dict] = {}
        for est in ests:
            n = 1 if est.info.data_independent else self.cfg.n_batches
            for b in range(n):
                # A copy per estimator: one that edits its batch in place cannot change
                # what the estimators scored beside it see.
                loader = ((lambda b=b: tuple(t.clone() for t in self.batches.get(seed, b)))
                          if est.info.needs_images else None)
                yield est, b, api.ArchContext(
                    spec=spec, space=space.name, dataset=split.dataset,
                    num_classes=space.datasets[split.dataset], input_shape=(3, side, side),
                    seed=seed, device=dev, builder=builder, batch_loader=loader, batch_index=b,
                    state=states.get(est.name),
                    shared=shared_by_batch.setdefault(b, {}) if share else {},
                    planned=joint_uses if share else est.info.uses,
                    sharing=share and len(ests) > 1, resolve=registry.get,
                )


def weights_record(session: Session) -> results.Weights:
    """Where the networks' weights came from, per seed (random init or a supernet run)."""
    cfg = session.cfg
    if cfg.weights == "init":
        return results.Weights("init")
    return results.Weights(cfg.weights, {str(s): session.states(s)[WEIGHTS_KEY].describe()
                                         for s in cfg.seeds})
