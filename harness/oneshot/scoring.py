"""One-shot scores: an architecture's accuracy (or loss) with the trained supernet's weights.

Scoring runs the architecture through the supernet on a fixed set of validation batches
(:func:`harness.oneshot.images.validation_batches`), in evaluation mode (no dropout) with
BatchNorm normalising each batch with its own statistics (the supernet tracks none). The
one-shot accuracy is the fraction of correctly classified validation images over all batches;
the one-shot loss the mean cross-entropy over them.

Isomorphic cells compute the same function with the benchmark's independent weights but not
with a supernet's (they use different edges' weights), so their one-shot scores differ. The
``iso_eval`` option chooses what a cell is scored as:

* ``self``: the cell itself;
* ``representative``: its class representative (a de-isomorphic supernet was trained on those
  cells only; this is the default for it);
* ``mean`` (``post_deiso``): the mean score of all cells of its class (post de-isomorphism,
  Ning et al. 2021), computed once per class and cached.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch
from torch import nn

from harness.api import EstimatorOption, PrepareContext
from harness.oneshot import checkpoints
from harness.oneshot.config import (
    DEISO_SPACES,
    MEMORY_FORMATS,
    ONESHOT_SPACES,
    EvalConfig,
    SupernetConfig,
    TrainConfig,
)
from harness.oneshot.images import SplitImages, load_split_images, validation_batches
from harness.oneshot.sampling import class_members, representative, space_representative
from harness.oneshot.supernet import PartitionedSupernet, plan_cell
from harness.oneshot.training import load_model, train, training_cost
from harness.oneshot.transfer import trained_builder
from harness.papers import NING2021
from harness.spaces import nb201

Cell = tuple[str, ...]
PAPER = NING2021  # defined once, in harness.papers
METRICS = ("acc", "loss")
SKIP_REASON = "supernets exist for the five benchmarks' CIFAR-10 spaces"
ISO_EVALS = ("self", "representative", "mean")
TRAIN_MODES = ("auto", "yes", "no")
AUTO_TRAIN_EPOCHS = 1  # what prepare trains without being asked (minutes on a GPU, ~1 h CPU)


class OneShotEvaluator:
    """Scores cells with fixed supernet weights on fixed validation batches.

    Results are cached per *active plan* (:func:`harness.oneshot.supernet.plan_cell`, and the
    owning part of a partitioned supernet): the supernet's forward pass depends on nothing
    else, so cells that differ only in inactive edges share one computation bit for bit. This
    makes class means cheap (the largest classes, 225-275 cells, have a handful of plans). The
    cache belongs to this object, so a new evaluator (e.g. the harness's determinism re-check,
    which calls ``prepare`` again) recomputes everything.
    """

    def __init__(self, model: nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
                 device: torch.device | str = "cpu", data_dir: str | os.PathLike | None = None):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.batches = [(x.to(self.device), y.to(self.device)) for x, y in batches]
        self.n_images = sum(len(y) for _x, y in batches)
        self.data_dir = data_dir
        self._cache: dict[tuple, tuple[float, float]] = {}

    def _key(self, cell: Cell | str) -> tuple:
        if isinstance(cell, str):  # an NDS spec: one network per spec
            return ("spec", cell)
        part = self.model.rule.part(cell) if isinstance(self.model, PartitionedSupernet) else 0
        return part, plan_cell(cell)

    @torch.no_grad()
    def evaluate(self, cell: Sequence[str] | str) -> tuple[float, float]:
        """(accuracy, mean cross-entropy) of ``cell`` (a NAS-Bench-201 cell, or an NDS spec)
        over the validation batches."""
        cell = cell if isinstance(cell, str) else tuple(cell)
        key = self._key(cell)
        if key not in self._cache:
            correct = 0
            loss_sum = 0.0
            for x, y in self.batches:
                logits = self.model(x, cell)
                correct += int((logits.argmax(1) == y).sum())
                loss_sum += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            self._cache[key] = (correct / self.n_images, loss_sum / self.n_images)
        return self._cache[key]

    def evaluate_as(self, cell: Sequence[str], iso_eval: str = "self") -> tuple[float, float]:
        """(accuracy, loss) of ``cell`` under an ``iso_eval`` mode (module docstring)."""
        if iso_eval == "self":
            return self.evaluate(cell)
        if iso_eval == "representative":
            return self.evaluate(representative(cell, self.data_dir))
        if iso_eval == "mean":
            members = class_members(self.data_dir)[nb201.canonical(cell)]
            vals = [self.evaluate(m) for m in members]  # members sorted: a fixed order
            return (math.fsum(v[0] for v in vals) / len(vals),
                    math.fsum(v[1] for v in vals) / len(vals))
        raise ValueError(f"iso_eval must be one of {ISO_EVALS}, not {iso_eval!r}")

    def score(self, cell: Sequence[str], metric: str = "acc", iso_eval: str = "self") -> float:
        """Higher-is-better score: accuracy, or the negative loss for ``metric="loss"``."""
        acc, loss = self.evaluate_as(cell, iso_eval)
        if metric == "acc":
            return acc
        if metric == "loss":
            return -loss
        raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")


# --------------------------------------------------------------------------------------------
# options (PrepareContext.options; values may arrive as strings from the command line)
# --------------------------------------------------------------------------------------------


def _as_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected a boolean, got {v!r}")


def _as_int(v: Any) -> int | None:
    return None if v is None or str(v).strip().lower() in ("", "none", "latest") else int(v)


def _as_text(v: Any) -> str | None:
    return None if v is None else str(v).strip().lower()


def _as_train(v: Any) -> str:
    """``auto``, ``yes`` or ``no``; booleans are accepted too (true = yes, false = no)."""
    text = _as_text(v)
    if text in TRAIN_MODES:
        return text
    try:
        return "yes" if _as_bool(v) else "no"
    except ValueError:
        raise ValueError(f"option train must be one of {TRAIN_MODES}, not {v!r}") from None


def _opt(default: Any, help: str, type: Any, convert: Any,
         choices: tuple[Any, ...] | None = None) -> Any:
    """A :class:`OneShotOptions` field that is also an ``--estimator-option``: its default,
    the declaration the estimators register (help, accepted types, choices) and the converter
    of a command-line value."""
    return field(default=default, metadata={
        "option": EstimatorOption(help, type, choices), "convert": convert})


@dataclass(frozen=True)
class OneShotOptions:
    """Options of the one-shot estimators (keys of ``PrepareContext.options``), each declared
    once on its field: default, help, accepted types and conversion. :data:`OPTIONS` (what the
    estimators register) and :meth:`parse` are generated from the fields.

    Attributes:
        epochs: epoch budget of the training run to use (its schedule spans it). ``None``: the
            run with the largest available checkpoint among runs that differ only in budget;
            if there is none, train :data:`AUTO_TRAIN_EPOCHS` epoch(s).
        checkpoint_epoch: which checkpoint of that run to score (default: the latest).
        train: ``auto`` trains a missing checkpoint only up to :data:`AUTO_TRAIN_EPOCHS`
            epochs; ``yes`` trains any budget inside ``prepare``; ``no`` never trains.
        iso_eval: ``self``, ``representative`` or ``mean`` (default: ``representative`` for a
            de-isomorphic supernet, ``self`` otherwise).
        post_deiso: shorthand for ``iso_eval=mean``.
        sharing: ``full`` or a partition rule (:mod:`harness.oneshot.sharing`).
        eval_batches, eval_batch_size: validation batches per architecture and their size.
        batch_size, channels, cells_per_stage, subset, memory_format: training-run fields for
            small experiments and tests (defaults: those of :class:`TrainConfig`).
    """

    epochs: int | None = _opt(None, "epoch budget of the training run to load", int, _as_int)
    checkpoint_epoch: int | None = _opt(
        None, "score this checkpoint of the run (default: its last)", int, _as_int)
    train: str = _opt("auto", "auto | yes | no: train a missing checkpoint inside prepare",
                      (str, bool), _as_train)
    iso_eval: str | None = _opt(None, "self | representative | mean", str, _as_text,
                                ISO_EVALS)
    post_deiso: bool = _opt(False, "score = mean over the isomorphism class", bool, _as_bool)
    sharing: str = _opt("full", "full | partition-op[<k>] | partition-convs", str, _as_text)
    eval_batches: int = _opt(EvalConfig.n_batches, "validation batches per architecture", int,
                             int)
    eval_batch_size: int = _opt(EvalConfig.batch_size, "images per validation batch", int, int)
    batch_size: int = _opt(TrainConfig.batch_size, "training batch size of the run", int, int)
    channels: int = _opt(SupernetConfig.channels, "supernet channels of the run", int, int)
    cells_per_stage: int = _opt(SupernetConfig.cells_per_stage,
                                "supernet cells per stage of the run", int, int)
    subset: int | None = _opt(None, "training images of the run (small experiments)", int,
                              _as_int)
    memory_format: str = _opt(SupernetConfig.memory_format,
                              "channels_last | contiguous: the run's memory format", str,
                              _as_text, MEMORY_FORMATS)

    @classmethod
    def parse(cls, options: dict[str, Any] | None) -> OneShotOptions:
        """Read the known keys of ``options`` (others belong to other estimators).

        Raises:
            ValueError: a value that does not convert, or options that contradict each other.
        """
        o = dict(options or {})
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in o and o[f.name] is not None:
                kw[f.name] = f.metadata["convert"](o[f.name])
        opts = cls(**kw)
        if opts.iso_eval is not None and opts.iso_eval not in ISO_EVALS:
            raise ValueError(f"option iso_eval must be one of {ISO_EVALS}")
        if (opts.epochs is not None and opts.checkpoint_epoch is not None
                and not 1 <= opts.checkpoint_epoch <= opts.epochs):
            raise ValueError("option checkpoint_epoch must lie in 1..epochs")
        if opts.post_deiso and opts.iso_eval not in (None, "mean"):
            raise ValueError("post_deiso=true contradicts iso_eval=" + str(opts.iso_eval))
        return opts

    def iso_mode(self, sampler: str) -> str:
        if self.post_deiso:
            return "mean"
        if self.iso_eval is not None:
            return self.iso_eval
        return "representative" if sampler == "deiso" else "self"

    def train_config(self, sampler: str, seed: int, epochs: int,
                     space: str = "nb201") -> TrainConfig:
        net = replace(SupernetConfig(), channels=self.channels,
                      cells_per_stage=self.cells_per_stage, memory_format=self.memory_format)
        return TrainConfig(sampler=sampler, epochs=epochs, seed=seed, sharing=self.sharing,
                           batch_size=self.batch_size, subset=self.subset, supernet=net,
                           space=space)

    def eval_config(self) -> EvalConfig:
        return EvalConfig(n_batches=self.eval_batches, batch_size=self.eval_batch_size)


#: Options that choose how a checkpoint is scored, not which run it belongs to.
EVAL_OPTIONS = ("eval_batches", "eval_batch_size", "iso_eval", "post_deiso")


def run_options(cfg: TrainConfig) -> dict[str, Any]:
    """The ``--estimator-option`` values that select run ``cfg`` and never train: its epoch
    budget, ``train=no`` and each run field that differs from its default.

    Raises:
        ValueError: a field of ``cfg`` that no option can select (learning rate, schedule,
            ...): the one-shot estimators could not load that run.
    """
    base = OneShotOptions()
    net = cfg.supernet
    values = {"sharing": cfg.sharing, "batch_size": cfg.batch_size, "channels": net.channels,
              "cells_per_stage": net.cells_per_stage, "subset": cfg.subset,
              "memory_format": net.memory_format}
    out: dict[str, Any] = {"epochs": cfg.epochs, "train": "no"}
    out.update({k: v for k, v in values.items() if v != getattr(base, k)})
    back = OneShotOptions.parse(out).train_config(cfg.sampler, cfg.seed, cfg.epochs, cfg.space)
    if back != cfg:
        diff = [k for k, v in back.to_dict().items() if cfg.to_dict().get(k) != v]
        raise ValueError("the one-shot estimators select runs by options, and none selects "
                         f"this run's {', '.join(diff) or 'configuration'}")
    return out


#: The ``--estimator-option`` keys of the one-shot estimators (each declares these), generated
#: from :class:`OneShotOptions`'s fields.
OPTIONS: dict[str, EstimatorOption] = {f.name: f.metadata["option"]
                                       for f in fields(OneShotOptions)}


# --------------------------------------------------------------------------------------------
# prepare / score support for the estimator modules
# --------------------------------------------------------------------------------------------


@dataclass
class OneShotState:
    """What ``prepare`` hands to ``score`` (``ctx.state``).

    ``evaluator`` is ``None`` for a checkpoint that was removed after its curve points were
    stored (:func:`harness.oneshot.checkpoints.remove_checkpoint`): such a state still
    describes itself, so its stored scores can be found, but it cannot score.
    """

    evaluator: OneShotEvaluator | None
    config: TrainConfig
    epoch: int
    iso_eval: str
    eval_config: EvalConfig
    trained_here: bool
    cache_dir: str | os.PathLike | None = None
    training: dict | None = None  # training_cost() up to this checkpoint

    @property
    def identity(self) -> str:
        """Names the weights and validation batches (the key of shared computations)."""
        e = self.eval_config
        return (f"oneshot/{self.config.config_hash()}/epoch{self.epoch}/"
                f"{e.n_batches}x{e.batch_size}s{e.eval_seed}/{self.iso_eval}")

    def describe(self) -> dict[str, Any]:
        """Which weights and batches produced the scores (for the results file)."""
        e = self.eval_config
        # NAS-Bench-201 descriptions keep their keys, so stored scores still match them.
        space = {} if self.config.space == "nb201" else {"space": self.config.space}
        return {**space, "config_hash": self.config.config_hash(), "epoch": self.epoch,
                "epoch_budget": self.config.epochs, "sampler": self.config.sampler,
                "sharing": self.config.sharing, "seed": self.config.seed,
                "iso_eval": self.iso_eval, "trained_in_prepare": self.trained_here,
                "memory_format": self.config.supernet.memory_format,
                "shape": {"channels": self.config.supernet.channels,
                          "cells_per_stage": self.config.supernet.cells_per_stage},
                "schedule": self.config.schedule, "batch_size": self.config.batch_size,
                "training": self.training,
                "eval": {"n_batches": e.n_batches, "batch_size": e.batch_size,
                         "eval_seed": e.eval_seed}}

    @property
    def weights_available(self) -> bool:
        """False for a removed checkpoint: its scores can only come from the curve store."""
        return self.evaluator is not None

    def checkpoints(self) -> list[int]:
        """Epochs the same run saved, up to this state's (training curves): checkpoints on
        disk and checkpoints removed after their scores were stored."""
        if self.cache_dir is None:
            return [self.epoch]
        have = checkpoints.reached_epochs(self.cache_dir, self.config)
        return [e for e in have if e <= self.epoch] or [self.epoch]

    def at_checkpoint(self, epoch: int) -> OneShotState:
        """The same scoring with the weights of checkpoint ``epoch`` of the same run (without
        weights if that checkpoint was removed)."""
        if epoch == self.epoch:
            return self
        training = _training_of(self.config, epoch, self.cache_dir)
        path = checkpoints.checkpoint_path(self.cache_dir, self.config, epoch)
        if not path.is_file() and epoch in checkpoints.removed_checkpoints(self.cache_dir,
                                                                           self.config):
            return replace(self, evaluator=None, epoch=epoch, trained_here=False,
                           training=training)
        ev = self.evaluator
        if ev is None:
            raise FileNotFoundError(f"checkpoint {self.epoch} of run "
                                    f"{self.config.config_hash()} was removed")
        model = load_model(self.config, epoch, self.cache_dir, ev.device)
        evaluator = OneShotEvaluator(model, ev.batches, ev.device, ev.data_dir)
        return replace(self, evaluator=evaluator, epoch=epoch, trained_here=False,
                       training=training)

    def fresh(self) -> OneShotState:
        """The same weights and batches with an empty evaluation cache (determinism check)."""
        ev = self._evaluator()
        return replace(self, evaluator=OneShotEvaluator(ev.model, ev.batches, ev.device,
                                                        ev.data_dir))

    def network_builder(self, spec) -> Callable[[int], nn.Module]:
        """``builder(seed)``: the stand-alone network of ``spec`` with this supernet's weights
        (the seed is ignored: the weights are the trained ones)."""
        if self.config.space != "nb201":
            raise ValueError(f"trained weights of a {self.config.space} supernet are not "
                             "transferred to stand-alone networks yet (NAS-Bench-201 only)")
        return trained_builder(self._evaluator().model, spec)

    def _evaluator(self) -> OneShotEvaluator:
        if self.evaluator is None:
            raise FileNotFoundError(
                f"checkpoint {self.epoch} of run {self.config.config_hash()} was removed "
                "after its scores were stored; it cannot score again")
        return self.evaluator

    def score(self, ctx, metric: str) -> float:
        """Score ``ctx.spec``; accuracy and loss are computed together and shared between
        estimators scoring the same context with the same weights (``ctx.shared``)."""
        ev = self._evaluator()
        if self.config.space != "nb201":  # a spec: scored as itself or its representative
            spec = ctx.spec
            if self.iso_eval == "representative":
                spec = space_representative(self.config.space, spec)
            acc, loss = ctx.shared(f"{self.identity}/{spec}", lambda: ev.evaluate(spec))
        else:
            cell = nb201.parse(ctx.spec) if isinstance(ctx.spec, str) else tuple(ctx.spec)
            key = nb201.canonical(cell) if self.iso_eval != "self" else "|".join(cell)
            acc, loss = ctx.shared(f"{self.identity}/{key}",
                                   lambda: ev.evaluate_as(cell, self.iso_eval))
        if metric == "acc":
            return acc
        if metric == "loss":
            return -loss
        raise ValueError(f"metric must be one of {METRICS}")


def train_command(cfg: TrainConfig) -> str:
    """The command line that trains run ``cfg`` (non-default fields spelled out)."""
    parts = [f"python -m harness.oneshot train --sampler {cfg.sampler} --epochs {cfg.epochs} "
             f"--seed {cfg.seed}"]
    if cfg.space != "nb201":
        parts.append(f"--space {cfg.space}")
    if cfg.sharing != "full":
        parts.append(f"--sharing {cfg.sharing}")
    if cfg.batch_size != TrainConfig.batch_size:
        parts.append(f"--batch-size {cfg.batch_size}")
    if cfg.supernet.channels != SupernetConfig.channels:
        parts.append(f"--channels {cfg.supernet.channels}")
    if cfg.supernet.cells_per_stage != SupernetConfig.cells_per_stage:
        parts.append(f"--cells-per-stage {cfg.supernet.cells_per_stage}")
    if cfg.subset is not None:
        parts.append(f"--subset {cfg.subset}")
    if cfg.supernet.memory_format != SupernetConfig.memory_format:
        parts.append(f"--memory-format {cfg.supernet.memory_format}")
    return " ".join(parts + ["--device cuda"])


def _say(msg: str) -> None:
    sys.stderr.write(f"[oneshot] {msg}\n")
    sys.stderr.flush()


def resolve_run(opts: OneShotOptions, sampler: str, seed: int,
                cache_dir: str | os.PathLike, space: str = "nb201"
                ) -> tuple[TrainConfig, int | None]:
    """The run and checkpoint epoch the options ask for (epoch ``None``: not trained yet)."""
    if opts.epochs is not None:
        cfg = opts.train_config(sampler, seed, opts.epochs, space)
        have = checkpoints.available_epochs(cache_dir, cfg)
        want = opts.checkpoint_epoch if opts.checkpoint_epoch is not None else cfg.epochs
        return cfg, (want if want in have else None)
    # No budget given: the largest checkpoint among runs that differ only in their budget.
    probe = opts.train_config(sampler, seed, 1, space)
    best: tuple[int, TrainConfig] | None = None
    for run in checkpoints.list_runs(cache_dir):
        if run.epochs and run.config == probe.with_epochs(run.config.epochs):
            eps = run.epochs if opts.checkpoint_epoch is None else \
                [e for e in run.epochs if e == opts.checkpoint_epoch]
            if eps and (best is None or eps[-1] > best[0]):
                best = (eps[-1], run.config)
    if best is not None:
        return best[1], best[0]
    return opts.train_config(sampler, seed, AUTO_TRAIN_EPOCHS, space), None


def prepare_oneshot(pctx: PrepareContext, sampler: str) -> OneShotState:
    """Load (or, within limits, train) the supernet a one-shot estimator scores with.

    On a space without a de-isomorphic sampler (the NDS spaces, which have no isomorphic
    duplicates, and NAS-Bench-301, whose classes are too many to list), the ``deiso``
    estimators score the uniform run, each architecture as itself. On NAS-Bench-101 a
    de-isomorphic run scores each architecture as its class representative (the cell it was
    trained on); the class mean (``post_deiso``) is NAS-Bench-201's only so far.

    Raises:
        ValueError: outside the spaces with a supernet (CIFAR-10), or on bad options.
        FileNotFoundError: if the checkpoint is missing and training is not allowed; the
            message gives the command that trains it.
    """
    if pctx.space not in ONESHOT_SPACES or pctx.dataset != "cifar10":
        raise ValueError(f"the one-shot estimators train a supernet of {ONESHOT_SPACES} on "
                         "CIFAR-10")
    opts = OneShotOptions.parse(pctx.options)
    if pctx.space not in DEISO_SPACES:
        if opts.iso_mode("uniform") != "self" or opts.sharing != "full":
            raise ValueError(f"{pctx.space} has no isomorphism classes or partitions: the "
                             "options iso_eval, post_deiso and sharing do not apply")
        sampler = "uniform"
    elif pctx.space != "nb201" and (opts.iso_mode(sampler) == "mean" or opts.sharing != "full"):
        raise ValueError(f"{pctx.space}: the options post_deiso (iso_eval=mean) and sharing are "
                         "defined on NAS-Bench-201 only so far")
    cfg, epoch = resolve_run(opts, sampler, pctx.seed, pctx.cache_dir, pctx.space)
    trained_here = False
    if epoch is None:
        target = opts.checkpoint_epoch or cfg.epochs
        allowed = opts.train == "yes" or (opts.train == "auto" and target <= AUTO_TRAIN_EPOCHS)
        cmd = train_command(cfg)
        if not allowed:
            raise FileNotFoundError(
                f"No checkpoint of epoch {target} for the {sampler} supernet "
                f"(config {cfg.config_hash()}, seed {pctx.seed}) under "
                f"{checkpoints.run_dir(pctx.cache_dir, cfg)}. Train it with `{cmd}` (same "
                f"cache directory), or pass the option train=yes to train inside prepare.")
        if opts.epochs is None:
            _say(f"no trained {sampler} supernet found for seed {pctx.seed}; training "
                 f"{cfg.epochs} epoch(s) now on {pctx.device} (30-40 min on one CPU core, "
                 f"minutes on a GPU) -- a toy budget; the paper trains 200-1000 epochs: `{cmd}`")
        train(cfg, cache_dir=pctx.cache_dir, device=pctx.device, data_dir=pctx.data_dir,
              until_epoch=target)
        epoch, trained_here = target, True
    model = load_model(cfg, epoch, pctx.cache_dir, pctx.device)
    training = _training_of(cfg, epoch, pctx.cache_dir)
    ecfg = opts.eval_config()
    images = load_split_images(cfg, pctx.data_dir)
    evaluator = OneShotEvaluator(model, validation_batches(images, ecfg), pctx.device,
                                 pctx.data_dir)
    return OneShotState(evaluator, cfg, epoch, opts.iso_mode(sampler), ecfg, trained_here,
                        pctx.cache_dir, training)


def _training_of(cfg: TrainConfig, epoch: int, cache_dir) -> dict | None:
    """The training cost up to epoch ``epoch`` of run ``cfg``, from the log of checkpoint
    ``epoch`` or, if it was removed, of the next checkpoint on disk (a later checkpoint's
    log holds every earlier epoch's row unchanged, so the cost is the same)."""
    later = [e for e in checkpoints.available_epochs(cache_dir, cfg) if e >= epoch]
    for k in later[:1] if epoch not in later else [epoch]:
        try:
            state = checkpoints.load_checkpoint(checkpoints.checkpoint_path(cache_dir, cfg, k))
        except (OSError, RuntimeError, KeyError):
            return None
        return training_cost(list(state.get("log", [])), epoch)
    return None


def evaluator_for(cfg: TrainConfig, epoch: int, *, cache_dir: str | os.PathLike,
                  ecfg: EvalConfig | None = None, device: torch.device | str = "cpu",
                  data_dir: str | os.PathLike | None = None,
                  images: SplitImages | None = None) -> OneShotEvaluator:
    """An evaluator for checkpoint ``epoch`` of run ``cfg`` (harness-side helpers, CLI)."""
    ecfg = ecfg or EvalConfig()
    model = load_model(cfg, epoch, cache_dir, device)
    images = images if images is not None else load_split_images(cfg, data_dir)
    return OneShotEvaluator(model, validation_batches(images, ecfg), device, data_dir)
