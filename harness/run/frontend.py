"""From parsed command-line values to a validated run: the one place front ends share.

:func:`build_run` turns the values of :data:`harness.run.config.OPTIONS` (from pytest,
``python -m harness merge`` or ``python -m harness.distributed``) into the estimators, splits and
:class:`~harness.run.config.RunConfig` of a run. Every check happens here, once, and raises
:class:`~harness.run.config.UsageError` with one line: unknown names (with close matches),
unknown estimator options (with the valid keys), missing data, a bad device.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from harness import api, data, registry
from harness.run.config import (
    COMMITTED_RESULTS_DIR,
    OPTION_BY_DEST,
    OPTIONS,
    TRAINED_RESULTS_ROOT,
    RunConfig,
    UsageError,
)
from harness.run.resolve import skip_reason, weights_source
from harness.splits import Split, UnknownSplitError, load_split

RESULTS_ENV_VAR = "ESTBENCH_RESULTS"


@dataclass(frozen=True)
class RunSpec:
    """What a command line asks for: estimators × splits under one config, as resolved
    objects (registered estimators, loaded and checksum-checked splits, a validated
    :class:`RunConfig`). The pytest plugin, ``python -m harness merge``, Dask and the notebook
    API each build one with :func:`build_run`; the scoring key of every estimator follows from
    it (:meth:`harness.run.Session.scoring_key`).

    Attributes:
        estimators: what is scored.
        splits: on what.
        config: how.
        notes: one line each for the user about what the run leaves out and why (one-shot
            estimators that ``all`` does not include, pairs that cannot be scored).
    """

    estimators: tuple[api.Estimator, ...]
    splits: tuple[Split, ...]
    config: RunConfig
    notes: tuple[str, ...] = ()


def default_results_dir() -> Path:
    """Where a local run writes: ``$ESTBENCH_RESULTS``, else the user's data directory
    (``$XDG_DATA_HOME/estbench/results`` or ``~/.local/share/estbench/results``) -- never the
    tracked tree, so a local run leaves the repository clean. Maintainers and CI pass
    ``--results-dir=leaderboard/results`` explicitly."""
    raw = os.environ.get(RESULTS_ENV_VAR)
    if raw:
        return Path(raw).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "estbench" / "results"


def results_dir_for(given: str | os.PathLike | None, weights: str) -> Path:
    """The results directory of a run: ``given`` or the default, and for trained weights the
    ``results-trained/<source>`` sibling, so trained-weights results never land next to (or
    overwrite) random-initialisation ones. Applied here only."""
    if given is None:
        base = default_results_dir()
        return (base.parent / "results-trained" / weights if weights != "init" else base
                ).resolve()
    path = Path(given)
    if weights != "init" and path.resolve() == COMMITTED_RESULTS_DIR.resolve():
        return (TRAINED_RESULTS_ROOT / weights).resolve()
    return path.resolve()


def default_device() -> str:
    """``cuda`` when torch sees a GPU, else ``cpu`` (the same default in every front end)."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device: str) -> str:
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise UsageError(f"--device must be cpu or cuda, not {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device=cuda but torch sees no CUDA device")
    return device


def check_estimator_options(ests: Sequence[api.Estimator], options: Mapping[str, Any],
                            weights: str = "init") -> None:
    """Every ``--estimator-option`` key must be declared by some estimator of the run (or by
    the weights source); otherwise a typo such as ``epoch=200`` would be silently ignored."""
    owners = list(ests) + ([weights_source(weights)] if weights != "init" else [])
    valid = sorted({k for e in owners for k in e.info.options})
    unknown = sorted(set(options) - set(valid))
    if unknown:
        names = ", ".join(e.name for e in owners)
        raise UsageError(
            f"unknown --estimator-option key(s) {', '.join(unknown)} for {names}; valid keys: "
            f"{', '.join(valid) if valid else 'none (these estimators take no options)'}")
    for e in owners:
        for key, opt in e.info.options.items():
            if key in options:
                try:
                    opt.check(options[key])
                except ValueError as exc:
                    raise UsageError(f"--estimator-option {key}: {exc}") from None


def resolve_splits(text: str) -> tuple[Split, ...]:
    names = [s.strip() for s in str(text).split(",") if s.strip()]
    if not names:
        raise UsageError("--split is empty")
    try:
        return tuple(load_split(n) for n in names)
    except UnknownSplitError as exc:
        raise UsageError(str(exc)) from None


def resolve_estimators(text: str | None) -> tuple[api.Estimator, ...]:
    """The named estimators; ``all`` is every zero-shot estimator and baseline (one-shot
    estimators train a supernet first, hours on a CPU, so they are scored only by name)."""
    if not text:
        raise UsageError("no estimator given; use --estimator=NAME[,NAME...] or all")
    try:
        found = tuple(registry.resolve(text))
    except registry.UnknownEstimatorError as exc:
        raise UsageError(str(exc)) from None
    if text.strip() == "all":
        found = tuple(e for e in found if e.info.kind != "one-shot")
    return found


def _notes(text: str | None, ests: Sequence[api.Estimator], splits: Sequence[Split]
           ) -> tuple[str, ...]:
    """What the run leaves out, and why (shown without pytest's ``-rs``)."""
    notes = []
    if text and text.strip() == "all":
        oneshot = [e.name for e in registry.discover().values() if e.info.kind == "one-shot"]
        if oneshot:
            notes.append(f"--estimator=all leaves out the one-shot estimators "
                         f"({', '.join(oneshot)}): each trains a supernet first; name them "
                         "to score them")
    for split in splits:
        for est in ests:
            reason = skip_reason(est, split)
            if reason:
                notes.append(f"skipped {est.name} on {split.name}: {reason}")
    return tuple(notes)


def build_run(values: Mapping[str, Any]) -> RunSpec:
    """Validate command-line values (keyed by option ``dest``) and build the run.

    Values that a front end does not offer take their declared defaults.

    Raises:
        UsageError: one line naming the bad value.
    """
    def get(dest: str) -> Any:
        return values[dest] if dest in values else OPTION_BY_DEST[dest].default

    for dest, opt in OPTION_BY_DEST.items():
        if opt.validate is not None and dest in values:
            opt.validate(values[dest])
    ests = resolve_estimators(get("estimator"))
    splits = resolve_splits(get("split"))
    try:
        data_dir = str(data.resolve_data_dir(get("data_dir")))
        for split in splits:
            # Checks the split's table against SHA256SUMS now: a corrupt or missing file is one
            # line here, not a traceback minutes into the run.
            split.specs(data_dir)
    except data.DataError as exc:
        raise UsageError(str(exc)) from None
    weights = get("weights")
    if weights != "init":
        weights_source(weights)
    # Every config field from its declared option; then the values that need the machine, the
    # data or the chosen estimators to be resolved.
    fields = {o.field: o.to_config(get(o.dest)) for o in OPTIONS if o.field is not None}
    check_estimator_options(ests, fields["options"], weights)
    cfg = RunConfig(**{
        **fields,
        "device": check_device(get("device") or default_device()),
        "data_dir": data_dir,
        "results_dir": results_dir_for(get("results_dir"), weights),
    })
    return RunSpec(ests, splits, cfg, _notes(get("estimator"), ests, splits))
