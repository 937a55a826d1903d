"""Campaign plans: a TOML file of score and train jobs in priority order, validated up front.

A plan looks like this (``campaigns/board.toml`` is the leaderboard's)::

    [campaign]
    name = "board"
    results_dir = "leaderboard/results"   # relative to the current directory
    train_dir = "runs"                    # one-shot runs go to <train_dir>/oneshot/<hash>/

    [[job]]                               # a score job: estimators x split(s) x seeds
    estimators = ["az_nas", "swap"]
    split = ["nds-resnet-1k", "nds-resnexta-1k"]   # a list expands into one job per split
    seeds = [20]
    # batches = 1, batch_size = 64, options = { key = value }
    # results_dir = "runs/oneshot-study/post-deiso"   # this job's results there instead
    #   (a one-shot score job that loads a run a train job of the plan trains waits for it)

    [[job]]                               # a train job: one one-shot supernet training run
    train = { sampler = "deiso", epochs = 100, seed = 2020, cells_per_stage = 1, channels = 8 }
    save_every = 10
    # score = { estimators = ["oneshot_deiso"], split = "nb201-c10-1k",
    #           options = { eval_batches = 2 } }   # score each checkpoint as it is saved
    #   (add results_dir = "runs/oneshot-study/deiso-seed2020" to write this run's results
    #    there instead of the campaign's results_dir: a study arm beside the board's result)
    # keep = "latest"                      # then delete older checkpoints (needs score)

Everything is checked before any work (:func:`load_plan`): an unknown field, estimator, split,
option or a value of the wrong type is one :class:`PlanError` line naming the file and the job,
with the closest valid names.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness import api, registry
from harness.oneshot.config import SupernetConfig, TrainConfig
from harness.oneshot.scoring import EVAL_OPTIONS, OneShotOptions, run_options
from harness.run.config import UsageError, parse_seeds
from harness.run.frontend import check_estimator_options, skip_reason
from harness.splits import UnknownSplitError, load_split

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, published as tomli before it joined the standard library
    import tomli as tomllib

CAMPAIGN_FIELDS = ("name", "results_dir", "train_dir")
SCORE_FIELDS = ("name", "estimators", "split", "seeds", "batches", "batch_size", "options",
                "results_dir")
TRAIN_FIELDS = ("name", "train", "save_every", "score", "keep")
#: ``score = {...}`` keys of a train job.
TRAIN_SCORE_FIELDS = ("estimators", "split", "options", "results_dir")
#: What a train job keeps of its checkpoints: all, or only the latest (a scored train job
#: only: every other checkpoint is deleted once its scores are in the curve store).
KEEP = ("all", "latest")
#: ``train = {...}`` keys: TrainConfig's fields, with the supernet's shape flattened in.
SUPERNET_KEYS = ("channels", "cells_per_stage", "memory_format", "cell_bn_affine", "dropout")
TRAIN_KEYS = ("sampler", "epochs", "seed", "sharing", "lr", "momentum", "weight_decay",
              "batch_size", "schedule", "max_grad_norm", "subset", "space") + SUPERNET_KEYS


class PlanError(ValueError):
    """A plan that cannot be run; the message is one line naming the file and the job."""


@dataclass(frozen=True)
class ScoreJob:
    """Estimators scored jointly on one split for some seeds.

    Attributes:
        index: 1-based position in the plan (after expanding split lists).
        estimators: scored jointly (they share networks, batches and passes).
        split: the split's name.
        seeds: the seeds to cover.
        n_batches: batches per seed.
        batch_size: images per batch.
        options: ``--estimator-option`` values.
        name: a label for status lines.
        results_dir: where this job's results and journals go; ``None``: the campaign's
            ``results_dir``. (A scoring that is one arm of a study, such as the
            post-de-isomorphism evaluation of a one-shot run, writes a directory of its own.)
        after: indices of the plan's train jobs whose runs this job's one-shot estimators
            load (:func:`train_dependencies`); the runner starts it once they are done.
    """

    index: int
    estimators: tuple[str, ...]
    split: str
    seeds: tuple[int, ...]
    n_batches: int = 1
    batch_size: int = 64
    options: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""
    results_dir: Path | None = None
    after: tuple[int, ...] = ()

    kind = "score"

    @property
    def loads_supernets(self) -> bool:
        """Whether some estimator of the job is one-shot (it loads trained supernets)."""
        return any(registry.get(name).info.kind == "one-shot" for name in self.estimators)

    @property
    def label(self) -> str:
        what = f"{','.join(self.estimators)} on {self.split}"
        return f"{self.name}: {what}" if self.name else what


@dataclass(frozen=True)
class CheckpointScoring:
    """How a train job scores its checkpoints as they are saved.

    Each saved checkpoint but the last is scored into the curve store (its curve point);
    after the last one the job writes the estimators' results with the whole curve.

    Attributes:
        estimators: one-shot estimators that load this run (scored jointly).
        split: the split they rank.
        options: ``--estimator-option`` values: the run's (:func:`run_options`) and the
            evaluation options the plan gives.
        results_dir: where this run's results go; ``None``: the campaign's ``results_dir``.
            A run that is one arm of a study (another seed, less sharing) writes its own
            directory, so it never meets the board's result of another run of the same
            estimator and split.
    """

    estimators: tuple[str, ...]
    split: str
    options: Mapping[str, Any]
    results_dir: Path | None = None


@dataclass(frozen=True)
class TrainJob:
    """One one-shot supernet training run.

    Attributes:
        index: 1-based position in the plan.
        config: the run.
        save_every: epochs between saved checkpoints (the final one is always saved).
        name: a label for status lines.
        score: score each checkpoint as it is saved, and write the results at the end.
        keep: ``"all"`` checkpoints, or only the ``"latest"`` (others are deleted once their
            scores are stored; what resuming needs stays).
    """

    index: int
    config: TrainConfig
    save_every: int | None = None
    name: str = ""
    score: CheckpointScoring | None = None
    keep: str = "all"

    kind = "train"

    @property
    def label(self) -> str:
        c = self.config
        scored = f", scored on {self.score.split}" if self.score else ""
        shape = (f"{c.supernet.cells_per_stage} cell/stage {c.supernet.channels} ch"
                 if c.space == "nb201" else f"{c.space} widths x {c.supernet.channels}/16")
        return self.name or (f"train {c.sampler} {c.sharing} seed {c.seed}, {shape}, "
                             f"{c.epochs} epochs{scored} [{c.config_hash()}]")


Job = ScoreJob | TrainJob


@dataclass(frozen=True)
class Plan:
    """A validated campaign plan.

    Attributes:
        path: the plan file.
        name: the campaign's name.
        results_dir: where score jobs' results and journals go.
        train_dir: the cache-style root of train jobs' checkpoints.
        jobs: in priority order.
    """

    path: Path
    name: str
    results_dir: Path
    train_dir: Path
    jobs: tuple[Job, ...]

    def results_dir_of(self, job: Job) -> Path:
        """Where ``job`` writes its results (and a score job its journals): its own
        ``results_dir`` if it names one, else the campaign's."""
        own = job.results_dir if isinstance(job, ScoreJob) else (
            job.score.results_dir if job.score is not None else None)
        return own if own is not None else self.results_dir


def find_job(plan: Plan, index: int) -> ScoreJob | TrainJob:
    """The job of ``plan`` at 1-based position ``index``.

    Raises:
        KeyError: the plan has no such job.
    """
    for job in plan.jobs:
        if job.index == index:
            return job
    raise KeyError(f"{plan.path} has no job {index}")


def _close(word: str, choices: list[str] | tuple[str, ...]) -> str:
    near = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else (
        f"; valid: {', '.join(choices)}")


def _check_fields(where: str, table: Mapping[str, Any], valid: tuple[str, ...]) -> None:
    for key in table:
        if key not in valid:
            raise PlanError(f"{where}: unknown field {key!r}{_close(key, valid)}")


def _typed(where: str, key: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise PlanError(f"{where}: {key} must be {what}, not {value!r}")
    return value


def _str_list(where: str, key: str, value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise PlanError(f"{where}: {key} must be a name or a non-empty list of names, "
                        f"not {value!r}")
    return items


def _estimators(where: str, names: list[str]) -> tuple[api.Estimator, ...]:
    try:
        return tuple(registry.resolve(",".join(names)))
    except registry.UnknownEstimatorError as exc:
        raise PlanError(f"{where}: {exc}") from None


def _score_jobs(where: str, raw: Mapping[str, Any], first_index: int) -> list[ScoreJob]:
    _check_fields(where, raw, SCORE_FIELDS)
    for key in ("estimators", "split", "seeds"):
        if key not in raw:
            raise PlanError(f"{where}: a score job needs {key!r}")
    ests = _estimators(where, _str_list(where, "estimators", raw["estimators"]))
    seeds = raw["seeds"]
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise PlanError(f"{where}: seeds must be a non-empty list of integers, not {seeds!r}")
    try:
        parse_seeds(",".join(map(str, seeds)))  # the one seed rule (distinct, in range)
    except UsageError as exc:
        raise PlanError(f"{where}: {str(exc).replace('--seeds', 'seeds')}") from None
    n_batches = _typed(where, "batches", raw.get("batches", 1), int, "an integer >= 1")
    batch_size = _typed(where, "batch_size", raw.get("batch_size", 64), int, "an integer >= 1")
    if n_batches < 1 or batch_size < 1:
        raise PlanError(f"{where}: batches and batch_size must be >= 1")
    options = _typed(where, "options", raw.get("options", {}), dict, "a table")
    try:
        check_estimator_options(ests, options)
    except UsageError as exc:
        raise PlanError(f"{where}: {exc}".replace("--estimator-option", "options")) from None
    results_dir = raw.get("results_dir")
    if results_dir is not None:
        _typed(where, "results_dir", results_dir, str, "a path")
    jobs = []
    for k, split in enumerate(_str_list(where, "split", raw["split"])):
        try:
            split_obj = load_split(split)
        except UnknownSplitError as exc:
            raise PlanError(f"{where}: {exc}") from None
        for est in ests:
            reason = skip_reason(est, split_obj)
            if reason:
                raise PlanError(f"{where}: {reason}")
        jobs.append(ScoreJob(first_index + k, tuple(e.name for e in ests), split,
                             tuple(seeds), n_batches, batch_size, dict(options),
                             str(raw.get("name", "")),
                             None if results_dir is None else Path(results_dir)))
    return jobs


def _train_job(where: str, raw: Mapping[str, Any], index: int) -> TrainJob:
    _check_fields(where, raw, TRAIN_FIELDS)
    spec = _typed(where, "train", raw["train"], dict, "a table of TrainConfig fields")
    _check_fields(f"{where} train", spec, TRAIN_KEYS)
    net = {k: spec[k] for k in SUPERNET_KEYS if k in spec}
    run = {k: v for k, v in spec.items() if k not in SUPERNET_KEYS}
    try:
        cfg = TrainConfig(supernet=SupernetConfig(**net), **run)
    except (TypeError, ValueError) as exc:
        raise PlanError(f"{where}: train: {exc}") from None
    save_every = raw.get("save_every")
    if save_every is not None:
        _typed(where, "save_every", save_every, int, "an integer >= 1")
        if save_every < 1:
            raise PlanError(f"{where}: save_every must be >= 1")
    scoring = _checkpoint_scoring(where, raw.get("score"), cfg)
    keep = _typed(where, "keep", raw.get("keep", "all"), str, f"one of {KEEP}")
    if keep not in KEEP:
        raise PlanError(f"{where}: keep must be one of {KEEP}, not {keep!r}")
    if keep == "latest" and scoring is None:
        raise PlanError(f"{where}: keep = \"latest\" deletes checkpoints, so it needs "
                        "score = {...}: their curve points would be lost")
    return TrainJob(index, cfg, save_every, str(raw.get("name", "")), scoring, keep)


def _checkpoint_scoring(where: str, raw: Any, cfg: TrainConfig) -> CheckpointScoring | None:
    """A train job's ``score`` table, checked against the run it scores."""
    if raw is None:
        return None
    where = f"{where} score"
    table = _typed(where, "score", raw, dict, "a table")
    _check_fields(where, table, TRAIN_SCORE_FIELDS)
    for key in ("estimators", "split"):
        if key not in table:
            raise PlanError(f"{where}: needs {key!r}")
    ests = _estimators(where, _str_list(where, "estimators", table["estimators"]))
    split = _typed(where, "split", table["split"], str, "a split name")
    try:
        split_obj = load_split(split)
    except UnknownSplitError as exc:
        raise PlanError(f"{where}: {exc}") from None
    if split_obj.benchmark != cfg.space:
        raise PlanError(f"{where}: split {split} is a {split_obj.benchmark} split, the run "
                        f"trains a {cfg.space} supernet")
    for est in ests:
        if est.info.kind != "one-shot":
            raise PlanError(f"{where}: {est.name} is not a one-shot estimator")
        reason = skip_reason(est, split_obj)
        if reason:
            raise PlanError(f"{where}: {reason}")
    given = _typed(where, "options", table.get("options", {}), dict, "a table")
    for key in given:
        if key not in EVAL_OPTIONS:
            raise PlanError(f"{where}: option {key!r} is not an evaluation option (the run's "
                            f"own options follow from train = {{...}}){_close(key, EVAL_OPTIONS)}")
    try:
        options = {**run_options(cfg), **given}
        check_estimator_options(ests, options)
    except (ValueError, UsageError) as exc:
        raise PlanError(f"{where}: {exc}".replace("--estimator-option", "options")) from None
    results_dir = table.get("results_dir")
    if results_dir is not None:
        _typed(where, "results_dir", results_dir, str, "a path")
    return CheckpointScoring(tuple(e.name for e in ests), split, options,
                             None if results_dir is None else Path(results_dir))


def _rooted(job: Job, root: Path) -> Job:
    """``job`` with its own results directory (if any) taken relative to ``root``."""
    if isinstance(job, TrainJob) and job.score and job.score.results_dir is not None:
        return replace(job, score=replace(job.score, results_dir=root / job.score.results_dir))
    if isinstance(job, ScoreJob) and job.results_dir is not None:
        return replace(job, results_dir=root / job.results_dir)
    return job


def train_dependencies(job: ScoreJob, jobs: list[Job]) -> tuple[int, ...]:
    """The train jobs of ``jobs`` whose runs ``job``'s one-shot estimators may load.

    A one-shot estimator selects its run by options (shape, sharing, budget) and the seed,
    and by a sampler of its own (which the plan cannot see), so a train job counts when, for
    one of ``job``'s seeds, the options select exactly its run with its sampler. That may name
    a run of the other sampler too; it then only waits longer, never scores a missing run.
    """
    if not job.loads_supernets:
        return ()
    try:
        opts = OneShotOptions.parse(dict(job.options))
        benchmark = load_split(job.split).benchmark
    except (ValueError, UnknownSplitError):
        return ()
    out = []
    for other in jobs:
        if not isinstance(other, TrainJob):
            continue
        cfg = other.config
        if cfg.seed not in job.seeds or cfg.space != benchmark:
            continue
        wanted = opts.train_config(cfg.sampler, cfg.seed, opts.epochs or cfg.epochs, cfg.space)
        if wanted == cfg:
            out.append(other.index)
    return tuple(out)


def _check_result_targets(name: str, jobs: list[Job], results_dir: Path) -> None:
    """Two scored train jobs writing the same estimator's results on the same split in one
    directory would replace each other's result: refused, naming both."""
    seen: dict[tuple, int] = {}
    for job in jobs:
        if not isinstance(job, TrainJob) or job.score is None:
            continue
        where = (job.score.results_dir or results_dir).resolve()
        for est in job.score.estimators:
            key = (where, est, job.score.split)
            if key in seen:
                raise PlanError(
                    f"{name}: jobs {seen[key]} and {job.index} both write {est} on "
                    f"{job.score.split} into {where}; give one of them "
                    "score = {{ results_dir = ... }}")
            seen[key] = job.index


def parse_plan(doc: Mapping[str, Any], path: Path, base: Path | None = None) -> Plan:
    """Validate a plan's parsed TOML.

    Args:
        doc: the TOML document.
        path: the plan file (for messages).
        base: directory that relative ``results_dir`` / ``train_dir`` are taken from
            (default: the current directory).

    Raises:
        PlanError: one line naming the problem.
    """
    name = f"{path}"
    _check_fields(name, doc, ("campaign", "job"))
    head = _typed(name, "[campaign]", doc.get("campaign", {}), dict, "a table")
    _check_fields(f"{name} [campaign]", head, CAMPAIGN_FIELDS)
    raw_jobs = doc.get("job", [])
    if not isinstance(raw_jobs, list) or not raw_jobs:
        raise PlanError(f"{name}: no [[job]] entries")
    jobs: list[Job] = []
    for k, raw in enumerate(raw_jobs, 1):
        where = f"{name} job {k}" + (f" ({raw['name']})" if isinstance(raw, dict)
                                     and "name" in raw else "")
        if not isinstance(raw, dict):
            raise PlanError(f"{where}: a job must be a table")
        if "train" in raw:
            jobs.append(_train_job(where, raw, len(jobs) + 1))
        else:
            jobs.extend(_score_jobs(where, raw, len(jobs) + 1))
    seen: dict[tuple, int] = {}
    for job in jobs:
        key = ((job.split, job.estimators, job.seeds, job.n_batches, job.batch_size,
                tuple(sorted(job.options.items()))) if isinstance(job, ScoreJob)
               else ("train", job.config.config_hash()))
        if key in seen:
            raise PlanError(f"{name}: job {job.index} ({job.label}) repeats job {seen[key]}; "
                            "list each (estimators, split, seeds) once")
        seen[key] = job.index
    root = base if base is not None else Path.cwd()
    results_dir = root / _typed(name, "results_dir",
                                head.get("results_dir", "leaderboard/results"), str, "a path")
    train_dir = root / _typed(name, "train_dir", head.get("train_dir", "runs"), str, "a path")
    jobs = [_rooted(job, root) for job in jobs]
    jobs = [replace(job, after=train_dependencies(job, jobs)) if isinstance(job, ScoreJob)
            else job for job in jobs]
    _check_result_targets(name, jobs, results_dir)
    return Plan(path, str(head.get("name", path.stem)), results_dir, train_dir, tuple(jobs))


def load_plan(path: str | Path, base: Path | None = None) -> Plan:
    """Read and validate the plan file at ``path``.

    Raises:
        PlanError: a missing or unreadable file, bad TOML, or an invalid job.
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as exc:
        raise PlanError(f"{path}: cannot read the plan ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path}: not valid TOML ({exc})") from None
    return parse_plan(doc, path, base)
