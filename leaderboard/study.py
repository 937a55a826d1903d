"""The one-shot study's tables: each arm (sampler, sharing, shape, budget) with its seed spread.

The board holds one result per (estimator, split). A study compares *runs*: the same one-shot
estimator with supernets trained by another sampler, with less sharing, at another shape, or
from another seed. Each such run writes its own results directory (a campaign train job with
``score = { results_dir = ... }``), so the study is read from several directories at once.

An **arm** is everything that tells runs apart except the seed: the estimator, the run's
sampler, sharing, supernet shape and epoch budget, and how it was evaluated (the results file's
options other than the checkpoint choice). Runs of one arm that differ only in their seed are
its seeds; this module reports, per arm, Kendall τ at the last checkpoint of every seed, their
mean and sample standard deviation, the paper's three comparisons (:data:`COMPARISONS`) as
differences paired by seed, and the curve's mean and spread at each checkpoint.
Nothing is recomputed: every number is read from results files the harness wrote::

    python -m leaderboard study                       # leaderboard/results + runs/oneshot-study/*
    python -m leaderboard study --write docs/oneshot.md   # replace the marked block there

The block written into a page sits between ``<!-- oneshot-study:start -->`` and
``<!-- oneshot-study:end -->`` and says that it is generated.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness import results
from harness.data import atomic_write_bytes
from harness.scoring_key import CHECKPOINT_CHOICE_OPTIONS

START, END = "<!-- oneshot-study:start -->", "<!-- oneshot-study:end -->"


@dataclass(frozen=True)
class Arm:
    """What a run of the study is, bar its seed.

    Attributes:
        estimator: the one-shot estimator (what it reads off the supernet).
        sampler: the run's training sampler.
        sharing: ``full`` or a partition rule.
        shape: ``"<cells> cell(s)/stage, <channels> ch"`` (NAS-Bench-201) or the run's shape.
        epochs: the run's epoch budget.
        evaluation: the results file's other options (neither the checkpoint choice nor the
            fields above), as sorted ``key=value`` pairs: validation batches,
            post-de-isomorphism, and any other run field that differs from its default.
    """

    estimator: str
    sampler: str
    sharing: str
    shape: str
    epochs: int
    evaluation: tuple[str, ...]

    def label(self) -> str:
        return f"{self.sampler}, {self.sharing} sharing, {self.shape}, {self.epochs} epochs"


@dataclass
class SeedRun:
    """One seed of an arm: its last checkpoint's τ and its curve, from one results file."""

    seed: int
    kendall: float | None
    curve: dict[int, float | None]
    source: Path


@dataclass
class ArmResult:
    """An arm's seeds (in seed order)."""

    arm: Arm
    runs: list[SeedRun] = field(default_factory=list)

    def finals(self) -> list[float]:
        return [r.kendall for r in self.runs if r.kendall is not None]

    def curve(self) -> dict[int, list[float]]:
        """Checkpoint -> τ of every seed that has that checkpoint."""
        out: dict[int, list[float]] = {}
        for r in self.runs:
            for k, tau in r.curve.items():
                if tau is not None:
                    out.setdefault(k, []).append(tau)
        return dict(sorted(out.items()))


def _shape(prep: dict) -> str:
    shape = prep.get("shape") or {}
    if set(shape) == {"cells_per_stage", "channels"}:
        n = shape["cells_per_stage"]
        return f"{n} cell{'s' if n != 1 else ''}/stage, {shape['channels']} ch"
    return ", ".join(f"{k} {v}" for k, v in sorted(shape.items())) or "?"


def _value(v: object) -> str:
    """An option value as it is given on the command line (``post_deiso=true``)."""
    return str(v).lower() if isinstance(v, bool) else str(v)


def arm_of(res: results.ResultFile, seed: str) -> Arm:
    """The arm of seed ``seed`` of a one-shot results file."""
    prep = (res.prepared or {})[seed]
    skip = set(CHECKPOINT_CHOICE_OPTIONS) | {"epochs", "sharing", "channels",
                                                 "cells_per_stage"}
    evaluation = tuple(f"{k}={_value(v)}" for k, v in sorted(res.protocol.options.items())
                       if k not in skip)
    return Arm(res.estimator.name, str(prep.get("sampler", "?")), str(prep.get("sharing", "?")),
               _shape(prep), int(prep.get("epoch_budget", prep.get("epoch", 0))), evaluation)


def _result_files(dirs: Iterable[Path], split: str) -> list[Path]:
    found = []
    for d in dirs:
        found.extend(sorted(d.glob(f"*/{split}.json")))
    return found


def expand_dirs(patterns: Sequence[str], root: Path) -> list[Path]:
    """Directories named by ``patterns`` (globs allowed), relative to ``root``, sorted."""
    out: list[Path] = []
    for p in patterns:
        matches = sorted(q for q in root.glob(p) if q.is_dir()) if any(
            c in p for c in "*?[") else [root / p]
        out.extend(m for m in matches if m.is_dir())
    return out


def collect(dirs: Iterable[Path], split: str,
            estimators: Sequence[str] | None = None) -> list[ArmResult]:
    """Every one-shot result on ``split`` in ``dirs``, grouped into arms.

    Raises:
        ValueError: two files give the same (arm, seed), so the study could not tell which
            one it reports.
    """
    arms: dict[Arm, ArmResult] = {}
    seen: dict[tuple[Arm, int], Path] = {}
    for path in _result_files(dirs, split):
        res = results.load_result(path)
        if res.estimator.kind != "one-shot" or not res.prepared:
            continue
        if estimators and res.estimator.name not in estimators:
            continue
        for seed in sorted(res.prepared, key=int):
            arm = arm_of(res, seed)
            if (arm, int(seed)) in seen:
                raise ValueError(f"{path} and {seen[(arm, int(seed))]} both hold seed {seed} "
                                 f"of {arm.estimator} ({arm.label()}); keep one")
            seen[(arm, int(seed))] = path
            per_seed = res.metrics.per_seed.get(seed) if res.metrics else None
            curve = {p.checkpoint: p.kendall for p in (res.curve.points if res.curve else [])
                     if p.seed == int(seed)}
            arms.setdefault(arm, ArmResult(arm)).runs.append(
                SeedRun(int(seed), per_seed.get("kendall") if per_seed else None, curve, path))
    for a in arms.values():
        a.runs.sort(key=lambda r: r.seed)
    return sorted(arms.values(), key=lambda a: (a.arm.estimator, a.arm.shape, a.arm.epochs,
                                                a.arm.sampler, a.arm.sharing, a.arm.evaluation))


def mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (``None`` for one value)."""
    m = statistics.fmean(values)
    return m, (statistics.stdev(values) if len(values) > 1 else None)


def _fmt(m: float, sd: float | None) -> str:
    return f"{m:.3f}" if sd is None else f"{m:.3f} ± {sd:.3f}"


def finals_table(arms: Sequence[ArmResult]) -> str:
    """Markdown: per arm, τ at the last checkpoint of each seed, mean ± sd."""
    lines = ["| estimator | arm | other options | seeds | τ per seed | mean ± sd |",
             "|---|---|---|---|---|---:|"]
    for a in arms:
        finals = a.finals()
        per = ", ".join(f"{r.seed}: {r.kendall:.3f}" if r.kendall is not None
                        else f"{r.seed}: n/a" for r in a.runs)
        stat = _fmt(*mean_sd(finals)) if finals else "n/a"
        lines.append(f"| `{a.arm.estimator}` | {a.arm.label()} | "
                     f"{', '.join(a.arm.evaluation) or '—'} | {len(a.runs)} | {per} | {stat} |")
    return "\n".join(lines)


def curves_table(arms: Sequence[ArmResult]) -> str:
    """Markdown: per arm with a curve, τ's mean ± sd over seeds at each checkpoint (``(n)``
    where fewer seeds than the arm has reach that checkpoint); ``""`` if no arm has one (a
    scoring of final checkpoints only, such as post-de-isomorphism, has none).

    Arms of different epoch budgets get a table each, the largest budget first: their
    checkpoints differ (every 10 of 100 epochs, every 6 of 60), and one table over the union
    of both grids would be mostly empty cells and wider than the page.
    """
    arms = [a for a in arms if a.curve()]
    budgets = sorted({a.arm.epochs for a in arms}, reverse=True)
    return "\n\n".join(_curves_grid([a for a in arms if a.arm.epochs == e]) for e in budgets)


def _curves_grid(arms: Sequence[ArmResult]) -> str:
    """One curve table (arms of one epoch budget)."""
    ks = sorted({k for a in arms for k in a.curve()})
    lines = ["| estimator | arm | " + " | ".join(str(k) for k in ks) + " |",
             "|---|---|" + "---:|" * len(ks)]
    for a in arms:
        c = a.curve()
        cells = []
        for k in ks:
            vals = c.get(k, [])
            if not vals:
                cells.append("")
                continue
            m, sd = mean_sd(vals)
            # The sd goes on a line of its own: ten checkpoint columns of "0.175 ± 0.231"
            # would make the table wider than the page.
            cell = f"{m:.3f}" if sd is None else f"{m:.3f}<br>± {sd:.3f}"
            cells.append(cell + (f" ({len(vals)})" if len(vals) < len(a.runs) else ""))
        lines.append(f"| `{a.arm.estimator}` | {a.arm.label()} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Comparison:
    """One of the paper's comparisons at equal budget: arms that differ in one factor only.

    Attributes:
        title: what is compared, "other vs base".
        factor: the :class:`Arm` field that differs (``evaluation``: an added option).
        base, other: its value in each arm (``evaluation``: ``base`` is ``""``, ``other`` the
            ``key=value`` option the other arm adds).
        estimators: base arm's estimator -> other arm's (the same statistic of the supernet:
            the sampler is part of a one-shot estimator's definition).
        not_with: evaluation options a base arm must not have (a comparison made under
            another mitigation is not the paper's).
    """

    title: str
    factor: str
    base: str
    other: str
    estimators: tuple[tuple[str, str], ...]
    not_with: tuple[str, ...] = ()

    def counterpart(self, arm: Arm) -> Arm | None:
        """The arm ``arm`` is compared with, if ``arm`` is a base arm of this comparison."""
        mapped = dict(self.estimators).get(arm.estimator)
        if mapped is None or set(self.not_with) & set(arm.evaluation):
            return None
        if self.factor == "evaluation":
            if self.other in arm.evaluation:
                return None
            return replace(arm, estimator=mapped,
                           evaluation=tuple(sorted((*arm.evaluation, self.other))))
        if getattr(arm, self.factor) != self.base:
            return None
        return replace(arm, estimator=mapped, **{self.factor: self.other})


#: Ning et al.'s three mitigations of weight sharing, each against its baseline. The paper
#: applies post-de-isomorphism to a supernet trained by uniform sampling (aw_nas's
#: ``evaluation.py -t iso2deiso``: the class mean of the one-shot scores of all 15,625 cells).
COMPARISONS = (
    Comparison("de-isomorphic vs uniform sampling", "sampler", "uniform", "deiso",
               (("oneshot_uniform", "oneshot_deiso"),), ("post_deiso=true",)),
    Comparison("less sharing (partition-convs) vs full sharing", "sharing", "full",
               "partition-convs", (("oneshot_deiso", "oneshot_deiso"),
                                   ("oneshot_deiso_loss", "oneshot_deiso_loss")),
               ("post_deiso=true",)),
    Comparison("post-de-isomorphism vs each cell as itself", "evaluation", "",
               "post_deiso=true", (("oneshot_uniform", "oneshot_uniform"),)),
)


def comparisons_table(arms: Sequence[ArmResult]) -> str:
    """Markdown: for each comparison of :data:`COMPARISONS` whose two arms are both present,
    τ at the last checkpoint of each seed both arms have (base → other), and the mean and
    sample sd of the differences; ``""`` if no comparison has both arms.

    Runs are paired by seed: two runs of one seed draw the same training batches (and the
    post-de-isomorphism arm scores the very run of its base arm), so a pair's difference is
    the factor's effect with the rest of the draw held fixed.
    """
    by_arm = {a.arm: a for a in arms}
    lines = ["| comparison | estimator (base → other) | protocol of the base arm | seeds | "
             "τ base → other per seed | Δτ mean ± sd |", "|---|---|---|---|---|---:|"]
    for comp in COMPARISONS:
        for a in arms:
            target = comp.counterpart(a.arm)
            b = by_arm.get(target) if target is not None else None
            if b is None:
                continue
            base = {r.seed: r.kendall for r in a.runs if r.kendall is not None}
            other = {r.seed: r.kendall for r in b.runs if r.kendall is not None}
            seeds = sorted(set(base) & set(other))
            if not seeds:
                continue
            per = ", ".join(f"{s}: {base[s]:.3f} → {other[s]:.3f}" for s in seeds)
            names = (f"`{a.arm.estimator}`" if a.arm.estimator == b.arm.estimator
                     else f"`{a.arm.estimator}` → `{b.arm.estimator}`")
            evaluation = ", ".join(a.arm.evaluation)
            lines.append(f"| {comp.title} | {names} | {a.arm.label()}"
                         f"{f' ({evaluation})' if evaluation else ''} | {len(seeds)} | {per} | "
                         f"{_fmt(*mean_sd([other[s] - base[s] for s in seeds]))} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def report(arms: Sequence[ArmResult], split: str, sources: Sequence[Path]) -> str:
    """The generated block: both tables and where they come from."""
    if not arms:
        return f"No one-shot results on `{split}` in {', '.join(map(str, sources)) or '—'}."
    n_files = len({r.source for a in arms for r in a.runs})
    head = (f"*Generated by `python -m leaderboard study --split {split}` from {n_files} "
            f"results files ({', '.join(f'`{s}`' for s in sources)}); do not edit by hand.* "
            "Kendall τ on "
            f"`{split}`; the standard deviation is over seeds (sample, n − 1); an arm is a run "
            "protocol bar its seed.")
    parts = [head, "At the last checkpoint:", finals_table(arms)]
    compared = comparisons_table(arms)
    if compared:
        parts += ["The paper's comparisons at equal budget (paired by seed; Δτ = other − base):",
                  compared]
    curves = curves_table(arms)
    if curves:
        parts += ["Along training (mean ± sd over seeds at each checkpoint, epoch in the "
                  "header; arms with a curve):", curves]
    return "\n\n".join(parts)


def write_block(page: Path, block: str) -> None:
    """Replace the text between the study markers in ``page`` (which must have them)."""
    text = page.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise ValueError(f"{page} has no {START} ... {END} block to replace")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    data = f"{before}{START}\n{block}\n{END}{after}".encode()
    atomic_write_bytes(page, lambda fh: fh.write(data))
