"""The run configuration: :class:`RunConfig`, built once from the command line.

Every option that changes how a split is scored is declared once, on its :class:`RunConfig`
field (name, type, default, help, validation and which front ends offer it), and
:data:`OPTIONS` is generated from those fields. The pytest plugin,
``python -m harness merge`` and ``python -m harness.distributed`` all register their options
from it and build the config with :func:`build_config`, so defaults cannot drift apart between
front ends (as pytest-benchmark registers one option set for several entry points).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import data

PAPER_SEEDS: tuple[int, ...] = (20, 2020, 202020)
#: Results of maintainers' and CI's runs; local runs write elsewhere unless asked (see
#: :func:`default_results_dir`).
COMMITTED_RESULTS_DIR = Path("leaderboard/results")
TRAINED_RESULTS_ROOT = Path("leaderboard/results-trained")
FRONT_ENDS: tuple[str, ...] = ("pytest", "merge", "distributed")


class UsageError(ValueError):
    """A bad command-line value; the front end prints it as one line (exit status 2)."""


# --------------------------------------------------------------------------------------------
# parsers (each raises UsageError with the option's name)
# --------------------------------------------------------------------------------------------


#: Seeds seed torch's and numpy's generators: non-negative and below 2**63.
MAX_SEED = 2**63 - 1


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"20,2020"`` → ``(20, 2020)``: distinct integers in ``0..MAX_SEED`` (a repeated seed
    would count one draw as several in the seed spread)."""
    try:
        seeds = tuple(int(s) for s in str(text).split(",") if s.strip())
    except ValueError:
        raise UsageError(f"--seeds must be a comma list of integers, not {text!r}") from None
    if not seeds:
        raise UsageError("--seeds is empty")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise UsageError(f"--seeds repeats {', '.join(map(str, repeated))}: each seed is one "
                         "independent draw, so list it once")
    bad = [s for s in seeds if not 0 <= s <= MAX_SEED]
    if bad:
        raise UsageError(f"--seeds must lie in 0..2**63-1, not {bad[0]}")
    return seeds


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"1/4"`` → ``(1, 4)``; ``None`` stays ``None``."""
    if not text:
        return None
    try:
        i, n = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise UsageError(f"--shard must look like i/N (e.g. 0/4), not {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise UsageError(f"--shard i/N needs 0 <= i < N, got {text!r}")
    return i, n


def parse_options(items: Sequence[str]) -> dict:
    """``["k=v", ...]`` → ``{"k": v}`` with ints, floats and true/false converted."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"estimator option must look like key=value, not {item!r}")
        value: Any = raw
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        else:
            for conv in (int, float):
                try:
                    value = conv(raw)
                    break
                except ValueError:
                    pass
        out[key.strip()] = value
    return out


def _positive(name: str) -> Callable[[Any], None]:
    def check(v: Any) -> None:
        if v is not None and v < 1:
            raise UsageError(f"--{name} must be >= 1, not {v}")
    return check


def _non_negative(name: str) -> Callable[[Any], None]:
    def check(v: Any) -> None:
        if v is not None and v < 0:
            raise UsageError(f"--{name} must be >= 0, not {v}")
    return check


@dataclass(frozen=True)
class Option:
    """One run option, declared once for every front end.

    An option that sets a :class:`RunConfig` field is declared on that field (:func:`option`),
    so its default is the field's default; the pytest plugin, ``python -m harness merge``,
    ``python -m harness.distributed`` and the notebook API all read it from there.

    Attributes:
        name: the command-line spelling without dashes (``"batch-size"``).
        help: one line; the default is appended by the front end.
        default: the command-line default (before ``parse``; ``None``: resolved by
            :func:`harness.run.frontend.build_run`, as the device is).
        type: argparse/pytest ``type`` (``None`` for flags and lists).
        action: ``"store"``, ``"store_true"``, ``"append"`` or ``"toggle"`` (``--x`` and
            ``--no-x``).
        validate: raises :class:`UsageError` on a bad parsed value.
        front_ends: which of :data:`FRONT_ENDS` offer it.
        metavar: shown in help.
        parse: command-line value → config value (``"20,2020"`` → ``(20, 2020)``), raising
            :class:`UsageError`; ``None``: the value as argparse gives it.
        field: the :class:`RunConfig` field it sets (``None`` for the selection options
            ``estimator`` and ``split``).
    """

    name: str
    help: str
    default: Any = None
    type: Callable[[str], Any] | None = str
    action: str = "store"
    validate: Callable[[Any], None] | None = None
    front_ends: tuple[str, ...] = FRONT_ENDS
    metavar: str | None = None
    parse: Callable[[Any], Any] | None = None
    field: str | None = None

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    def flags(self) -> tuple[str, ...]:
        return (f"--{self.name}",)

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``argparse`` / ``pytest.Parser.addoption``."""
        shown = "" if self.default in (None, [], False) else " (default: %(default)s)"
        kw: dict[str, Any] = {"dest": self.dest, "default": self.default,
                              "help": self.help + shown}
        if self.action in ("store", "append"):
            kw["action"] = self.action
            if self.type is not None:
                kw["type"] = self.type
            if self.metavar:
                kw["metavar"] = self.metavar
        elif self.action == "store_true":
            kw["action"] = "store_true"
        if self.action == "append":
            kw["default"] = []
        return kw

    def to_config(self, value: Any) -> Any:
        """The config value of command-line value ``value``."""
        return self.parse(value) if self.parse is not None else value


_UNSET: Any = object()


def option(name: str, help: str, default: Any = dataclasses.MISSING, *,
           default_factory: Any = dataclasses.MISSING, cli_default: Any = _UNSET,
           show: Callable[[Any], Any] | None = None, **kw: Any) -> Any:
    """A :class:`RunConfig` field that is also a command-line option.

    Args:
        name: the option's command-line spelling.
        help: its help line.
        default, default_factory: the field's default (as for ``dataclasses.field``).
        cli_default: the command-line default when it is not the field's (``None``: resolved
            at run time, as the device and the results directory are).
        show: the field's default in command-line form (seeds ``(20, 2020)`` → ``"20,2020"``).
        **kw: the other :class:`Option` attributes.
    """
    if cli_default is _UNSET:
        value = default_factory() if default is dataclasses.MISSING else default
        cli_default = show(value) if show is not None else value
    opt = Option(name, help, cli_default, **kw)
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"option": opt})


@dataclass(frozen=True)
class RunConfig:
    """How a split is scored. Each field that a user sets is declared here once, with its
    command-line option (:func:`option`); the front ends register them from these fields.

    Attributes:
        seeds: initialisation / batch-order seeds (the paper's 20, 2020, 202020).
        n_batches: batches per seed; the score is the mean over batches.
        batch_size: images per batch.
        device: ``"cpu"`` or ``"cuda"``.
        data_dir: benchmark data directory (default ``$ESTBENCH_DATA``).
        results_dir: where results and checkpoints go.
        resume: reuse a compatible checkpoint instead of re-scoring.
        arch_timeout_s: per-architecture time limit; exceeding it is a recorded failure.
        prepare_timeout_s: time limit of each ``prepare()`` call (0: none); exceeding it stops
            the run with the estimator named.
        fail_fast: stop the run when an estimator fails on each of its first this many
            architectures (0 disables it).
        threads: torch CPU threads (1 = reproducible and best for parallel workers).
        shard: ``(i, n)`` to score only positions ``p`` of the split with ``p % n == i``.
        options: ``--estimator-option`` values; each estimator sees (and is keyed by) only
            the keys it declares.
        curve: also score every earlier checkpoint a prepared state offers
            (``checkpoints()``/``at_checkpoint``) and record the metrics per checkpoint.
        weights: ``"init"`` (random initialisation from the seed, the default) or the name of
            a one-shot estimator whose prepared supernet supplies every network's weights
            (the paper's RQ4: zero-shot estimators on trained weights).
        determinism_checks: architectures re-scored alone to verify bitwise reproducibility.
        isolate: score every estimator in a worker process of its own
            (:mod:`harness.run.isolation`); the scores are the same bits.
        cache_dir: for complexity tables and one-shot checkpoints (``$ESTBENCH_CACHE``).
    """

    seeds: tuple[int, ...] = option(
        "seeds", "comma list of seeds (the paper's are the default)", PAPER_SEEDS,
        parse=lambda v: parse_seeds(v), show=lambda v: ",".join(map(str, v)))
    n_batches: int = option("batches", "batches per seed; scores are averaged", 1, type=int,
                            validate=_positive("batches"))
    batch_size: int = option("batch-size", "images per batch (the paper used 128)", 64,
                             type=int, validate=_positive("batch-size"))
    device: str = option("device", "cpu or cuda (default: cuda when available, else cpu)",
                         "cpu", cli_default=None)
    data_dir: str | None = option("data-dir",
                                  "benchmark data directory (default: $ESTBENCH_DATA)", None)
    results_dir: Path = option(
        "results-dir", "where results files and checkpoints go (default: $ESTBENCH_RESULTS or "
        "~/.local/share/estbench/results; leaderboard/results is for maintainers and CI)",
        COMMITTED_RESULTS_DIR, cli_default=None)
    resume: bool = option(
        "resume", "reuse checkpointed scores of an interrupted run, and the seeds the results "
        "file already holds once three of their cells re-score to the same bits (default; "
        "--no-resume moves an old checkpoint aside and scores everything)", True,
        action="toggle")
    arch_timeout_s: float = option(
        "arch-timeout", "seconds per (architecture, seed) before it is recorded as a failure",
        600.0, type=float, validate=_non_negative("arch-timeout"))
    prepare_timeout_s: float = option(
        "prepare-timeout", "seconds each prepare() (a one-shot estimator's supernet training "
        "or loading) may take before the run stops naming it (0: no limit)", 0.0, type=float,
        validate=_non_negative("prepare-timeout"))
    fail_fast: int = option(
        "fail-fast", "stop when an estimator fails on each of its first N architectures "
        "(0: never stop)", 3, type=int, validate=_non_negative("fail-fast"))
    threads: int | None = option(
        "threads", "torch CPU threads per process (run -n 2 or two shards to use two cores)",
        1, type=int, validate=_positive("threads"))
    shard: tuple[int, int] | None = option(
        "shard", "i/N: score only this shard; merge with python -m harness merge", None,
        parse=lambda v: parse_shard(v), front_ends=("pytest",))
    options: dict = option(
        "estimator-option", "KEY=VALUE passed to the estimators that declare KEY (e.g. "
        "one-shot epochs=200); repeatable", default_factory=dict, cli_default=None,
        action="append", metavar="KEY=VALUE", parse=lambda v: parse_options(v or []))
    curve: bool = option(
        "curve", "one-shot: also score every earlier checkpoint of the training run (results "
        "field 'curve')", False, type=None, action="store_true", front_ends=("pytest", "merge"),
        parse=bool)
    weights: str = option(
        "weights", "init (random initialisation) or a one-shot estimator whose trained "
        "supernet supplies the weights (RQ4); results then go to "
        "<results-dir>/../results-trained/<name> unless --results-dir is given", "init",
        front_ends=("pytest", "merge"))
    determinism_checks: int = option(
        "determinism-checks", "architectures re-scored alone to verify reproducibility", 3,
        type=int, validate=_non_negative("determinism-checks"))
    isolate: bool = option(
        "isolate", "score each estimator in its own worker process, which cannot open ground "
        "truth and is killed when it overruns --arch-timeout (for new or untrusted "
        "submissions; no shared passes)", False, type=None, action="store_true", parse=bool)
    cache_dir: Path = field(default_factory=data.default_cache_dir)


#: What is scored: not part of :class:`RunConfig` (a run scores each pair under one config).
SELECTION: tuple[Option, ...] = (
    Option("estimator", "estimator name, comma list, or 'all'", metavar="NAME[,NAME...]"),
    Option("split", "split name or comma list", default="nb201-c10-1k"),
)
#: Every run option: the selection, then those declared on :class:`RunConfig`'s fields.
OPTIONS: tuple[Option, ...] = SELECTION + tuple(
    dataclasses.replace(f.metadata["option"], field=f.name)
    for f in dataclasses.fields(RunConfig) if "option" in f.metadata)
OPTION_BY_DEST: dict[str, Option] = {o.dest: o for o in OPTIONS}


def options_for(front_end: str) -> list[Option]:
    """The options ``front_end`` offers, in declaration order."""
    if front_end not in FRONT_ENDS:
        raise ValueError(f"front end must be one of {FRONT_ENDS}, not {front_end!r}")
    return [o for o in OPTIONS if front_end in o.front_ends]


def register(add: Callable[..., Any], front_end: str, *, required: Sequence[str] = ()) -> None:
    """Register the options of ``front_end`` through ``add`` (``ArgumentParser.add_argument``
    or pytest's ``OptionGroup.addoption``: both take argparse's keywords).

    Args:
        add: the registering function.
        front_end: one of :data:`FRONT_ENDS`.
        required: option names that this front end requires.
    """
    for opt in options_for(front_end):
        if opt.action == "toggle":
            add(f"--{opt.name}", dest=opt.dest, action="store_true", default=opt.default,
                help=opt.help)
            add(f"--no-{opt.name}", dest=opt.dest, action="store_false",
                help=f"the opposite of --{opt.name}")
            continue
        kw = opt.kwargs()
        if opt.name in required:
            kw["required"] = True
        add(*opt.flags(), **kw)


def add_to_argparse(parser: argparse.ArgumentParser | Any, front_end: str,
                    *, required: Sequence[str] = ()) -> None:
    """Register the options of ``front_end`` on an ``argparse`` parser (or group)."""
    register(parser.add_argument, front_end, required=required)


def add_to_pytest(group: Any) -> None:
    """Register the pytest front end's options on a ``pytest`` option group."""
    register(group.addoption, "pytest")
