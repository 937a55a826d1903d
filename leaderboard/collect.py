"""Loading results files and deciding which leaderboard rows are complete.

A results file that cannot be used (unreadable, wrong schema version, missing fields, filed under
the wrong name, for an unknown split) becomes a *warning* naming the file; the build never stops
on one. A usable file can still make its row *incomplete* (never ranked): a failed contract,
non-finite or failed scores, or stale results (estimator version or split file changed since it
was scored). Fewer than :data:`MIN_SEEDS` seeds, or no result on a split other than the ranking
split, only make a rank *provisional*.
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import results as hres
from harness import trust
from harness.published import Published
from harness.registration import NAME_RE
from harness.splits import load_split

#: Splits shown first (and ranked on, the first one present) in this order; others follow by name.
PREFERRED_SPLITS: tuple[str, ...] = (
    "nb201-c10-1k", "nb101-1k", "nb301-1k", "nds-resnet-1k", "nds-resnexta-1k",
)
#: Fewer seeds than this make a result incomplete (the paper's protocol uses 3).
MIN_SEEDS = 3
#: Splits with fewer architectures are indicative: not a board column (see
#: :meth:`Collection.splits`), only a place for ``leaderboard preview`` to rank a result.
BOARD_MIN_ARCHS = 1000


@dataclass(frozen=True)
class Result:
    """One validated results file.

    Attributes:
        obj: the parsed, schema-checked JSON object.
        path: the file, relative to the results directory (for messages).
        scores: the scores file beside it (``None`` if absent or not the one recorded).
        scores_mismatch: a scores file is there, but not the one the harness recorded
            (``scores_sha256``).
        standalone: the estimator's standalone cost on this split (``python -m harness
            cost``, ``leaderboard/costs/``), when measured for this version and split file.
    """

    obj: dict
    path: Path
    scores: Path | None
    scores_mismatch: bool = False
    standalone: dict | None = None

    @property
    def estimator(self) -> str:
        return self.obj["estimator"]["name"]

    @property
    def split(self) -> str:
        return self.obj["split"]["name"]

    @property
    def kind(self) -> str:
        return self.obj["estimator"]["kind"]

    @property
    def seeds(self) -> list[int]:
        return list(self.obj["protocol"]["seeds"])

    @property
    def skipped(self) -> bool:
        return self.obj["status"] == "skipped"

    @property
    def metrics(self) -> dict:
        """``metrics`` of the file; an empty one for a result whose contract failed (its
        ``metrics`` is null: a valid result, shown with its contract section)."""
        m = self.obj.get("metrics")
        return m if isinstance(m, dict) else {"mean": {}, "std": {}, "per_seed": {}}

    def mean(self, key: str) -> float | None:
        return self.metrics["mean"].get(key)

    def std(self, key: str) -> float | None:
        return self.metrics["std"].get(key)

    @property
    def n_failed(self) -> int:
        return int(self.obj["n_nonfinite"]) + int(self.obj["n_errors"])

    def scored_in(self) -> str:
        """Where the scores were computed, for people: from ``determinism.environments`` (one
        entry per numeric environment that produced scores) when recorded, else the device
        that wrote the results file.

        A merged result's ``environment.device_name`` names the machine that merged it, while
        its cells may have been scored elsewhere (other shards, a checkpoint resumed in another
        session): the per-cell record is the accurate one.
        """
        name = self.obj["environment"].get("device_name", "?")
        device = f"{name} ({self.obj['cost']['device']})"
        envs = (self.obj.get("determinism") or {}).get("environments") or []
        if not envs:
            return device
        ordered = sorted(envs, key=lambda e: (-e["n_scores"], describe_environment(
            e["environment"])))
        text = "; ".join(f"{describe_environment(e['environment'])}: {e['n_scores']} score(s)"
                         for e in ordered)
        first = ordered[0]["environment"]
        only_here = len(envs) == 1 and first is not None and first["device_name"] == name
        return text if only_here else f"{text}; results file written on {device}"


def describe_environment(env: dict | None) -> str:
    """A readable form of a numeric environment (:class:`harness.run.NumericEnvironment` as
    stored in results): ``<model> (cpu, <capability>, flags <digest>)`` or ``<model> (cuda)``;
    ``None`` (scores older than the record) says so."""
    if env is None:
        return "environment not recorded"
    if env["device_type"] == "cpu":
        return f"{env['device_name']} (cpu, {env['capability']}, flags {env['flags_digest']})"
    return f"{env['device_name']} ({env['device_type']})"


@dataclass(frozen=True)
class Current:
    """What the code says about an estimator now (from the estimator catalog, which
    ``python -m harness catalog --write`` generates from :func:`harness.registry.discover`).

    Attributes:
        version: the registered version (results of another version are stale).
        kind: zero-shot / one-shot / baseline.
        not_applicable: split name → reason, for splits the estimator is not scored on.
        published: the figures published for it (:class:`harness.published.Published`),
            shown beside ours.
    """

    version: str
    kind: str
    not_applicable: dict[str, str] = field(default_factory=dict)
    published: tuple = ()


@dataclass
class Collection:
    """Every usable results file of a results directory, plus the warnings about the others.

    Attributes:
        results_dir: where the results were read from.
        results: ``(estimator, split)`` → result.
        warnings: one line per unusable file or other problem, naming the file.
        registry: estimator name → :class:`Current` (``None`` if the registry was not loaded).
    """

    results_dir: Path
    results: dict[tuple[str, str], Result] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    registry: dict[str, Current] | None = None

    def estimators(self) -> list[str]:
        return sorted({e for e, _ in self.results})

    def splits(self) -> list[str]:
        """The board's splits: every split with a result, except the indicative ones (fewer
        than :data:`BOARD_MIN_ARCHS` architectures, e.g. the 100-cell smoke split, committed
        for ``leaderboard preview``) while any larger split has a result."""
        names = {s for _, s in self.results}
        board = names - set(self.indicative_splits())
        return order_splits(board or names)

    def indicative_splits(self) -> list[str]:
        """Splits too small to rank on (their results place a preview, indicatively); empty
        when no larger split has a result (a demo or test board of smoke results only)."""
        size = {s: int(r.obj["split"].get("n_archs") or 0) for (_e, s), r in self.results.items()}
        small = {s for s, n in size.items() if n < BOARD_MIN_ARCHS}
        return order_splits(small) if len(small) < len(size.keys()) else []

    def primary_split(self) -> str | None:
        """The split the home table is ranked on: the first of :func:`splits`."""
        splits = self.splits()
        return splits[0] if splits else None

    def of_estimator(self, name: str) -> dict[str, Result]:
        return {s: r for (e, s), r in sorted(self.results.items()) if e == name}

    def of_split(self, split: str) -> dict[str, Result]:
        return {e: r for (e, s), r in sorted(self.results.items()) if s == split}

    def estimator_meta(self, name: str) -> dict:
        """The ``estimator`` block of the estimator's results (primary split's, if present)."""
        mine = self.of_estimator(name)
        for split in [*self.splits(), *self.indicative_splits()]:
            if split in mine:
                return mine[split].obj["estimator"]
        raise KeyError(name)

    def unscored(self) -> list[str]:
        """Registered estimators without any results file."""
        if self.registry is None:
            return []
        have = set(self.estimators())
        return sorted(n for n in self.registry if n not in have)


def order_splits(names: Iterable[str]) -> list[str]:
    """Preferred splits first (in :data:`PREFERRED_SPLITS` order), the rest by name."""
    pref = {n: i for i, n in enumerate(PREFERRED_SPLITS)}
    return sorted(set(names), key=lambda n: (pref.get(n, len(pref)), n))


def display_path(path: Path, results_dir: Path) -> Path:
    """``path`` relative to the results directory (so messages do not depend on the cwd)."""
    try:
        return Path(path).relative_to(results_dir)
    except ValueError:
        return Path(path)


#: The estimator catalog (``python -m harness catalog --write``): what the registered
#: estimators say about themselves, so that the site never imports them (nor torch).
CATALOG_PATH = Path(__file__).resolve().parent / "catalog.json"
#: The catalog layout this module reads (``harness.catalog.CATALOG_VERSION``).
CATALOG_VERSION = 1
#: The standalone-cost layout this module reads (``harness.run.standalone``).
STANDALONE_COST_VERSION = 1


def load_registry(path: Path = CATALOG_PATH
                  ) -> tuple[dict[str, Current] | None, str | None]:
    """The registered estimators, from the catalog at ``path``, or ``(None, reason)`` when it
    cannot be read (the build then says so and checks nothing against the code)."""
    try:
        cat = json.loads(Path(path).read_text())
        if cat.get("catalog_version") != CATALOG_VERSION:
            raise ValueError(f"catalog_version {cat.get('catalog_version')!r}, this site reads "
                             f"{CATALOG_VERSION}")
        out = {name: Current(version=str(e["version"]), kind=e["kind"],
                             not_applicable=dict(e["not_applicable"]),
                             published=tuple(Published(**f) for f in e["published"]))
               for name, e in cat["estimators"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, (f"estimator catalog {path} could not be read ({type(exc).__name__}: "
                      f"{exc}); regenerate it with python -m harness catalog --write")
    return out, None


def collect(results_dir: Path, use_registry: bool = True) -> Collection:
    """Load every ``<estimator>/<split>.json`` under ``results_dir``.

    Args:
        results_dir: the results directory (a missing one is an empty leaderboard).
        use_registry: also load :mod:`harness.registry` to detect stale results and list
            estimators without results.
    """
    results_dir = Path(results_dir)
    coll = Collection(results_dir=results_dir)
    if use_registry:
        coll.registry, problem = load_registry()
        if problem:
            coll.warnings.append(problem)
    if not results_dir.is_dir():
        return coll
    for path in sorted(results_dir.glob("*.json")):
        coll.warnings.append(f"{path.name}: not inside an <estimator>/ folder; ignored")
    for path in sorted(results_dir.glob("*/*.json")):
        if path.name.startswith(".") or path.parent.name.startswith("."):
            continue
        res, problem = _load_one(path, results_dir)
        if problem:
            coll.warnings.append(problem)
            continue
        assert res is not None
        key = (res.estimator, res.split)
        coll.results[key] = res
        if res.scores_mismatch:
            coll.warnings.append(f"{res.path}: its scores file {res.obj['scores_file']} does "
                                 "not match the SHA-256 the harness recorded (edited or "
                                 "replaced); plots for it are skipped")
        elif res.scores is None and not res.skipped:
            coll.warnings.append(f"{res.path}: its scores file {res.obj['scores_file']} is "
                                 "missing; plots for it are skipped")
    _attach_standalone_costs(coll, results_dir.parent / "costs")
    return coll


def _attach_standalone_costs(coll: Collection, costs_dir: Path) -> None:
    """Give each result its standalone cost (``<costs_dir>/<estimator>/<split>.json``, written
    by ``python -m harness cost``) when it was measured for the same estimator version and
    split file; a stale or unreadable measurement is a warning, never used."""
    for (est, split), res in list(coll.results.items()):
        path = costs_dir / est / f"{split}.json"
        if not path.is_file():
            continue
        try:
            cost = json.loads(path.read_text())
            if cost.get("schema_version") != STANDALONE_COST_VERSION:
                raise ValueError(f"schema_version {cost.get('schema_version')!r}")
            same = (str(cost["estimator_version"]) == str(res.obj["estimator"]["version"])
                    and cost["split_sha256"] == res.obj["split"]["sha256"])
            float(cost["s_per_arch_median"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            coll.warnings.append(f"costs/{est}/{split}.json: unusable ({exc}); not shown")
            continue
        if not same:
            coll.warnings.append(f"costs/{est}/{split}.json: measured for another estimator "
                                 "version or split file; not shown (python -m harness cost)")
            continue
        coll.results[(est, split)] = dataclasses.replace(res, standalone=cost)


def _load_one(path: Path, results_dir: Path) -> tuple[Result | None, str | None]:
    shown = display_path(path, results_dir)
    try:
        obj = hres.load_json(path)
    except hres.ResultsSchemaError as exc:
        msg = str(exc)
        prefix = f"{path}: "
        msg = msg[len(prefix):] if msg.startswith(prefix) else msg
        return None, f"{shown}: {msg}"
    except Exception as exc:  # validate() assumes some nesting; never crash on odd content
        return None, f"{shown}: malformed ({type(exc).__name__}: {exc})"
    try:
        name, split = obj["estimator"]["name"], obj["split"]["name"]
        if not isinstance(name, str) or not isinstance(split, str):
            raise TypeError("estimator.name and split.name must be strings")
        _check_shapes(obj)
    except (KeyError, TypeError, AttributeError) as exc:
        return None, f"{shown}: malformed ({type(exc).__name__}: {exc})"
    if not NAME_RE.match(name):
        # The name becomes page paths, navigation entries and table cells: only the names the
        # registry accepts may reach a page (never markup from a crafted folder or file).
        return None, (f"{fmt_name(name)} in {shown} is not a valid estimator name "
                      "(lower_snake_case); ignored")
    if path.parent.name != name or path.name != f"{split}.json":
        return None, (f"{shown}: holds results of {name!r} on {split!r}, expected at "
                      f"{name}/{split}.json; ignored")
    try:
        load_split(split)
    except Exception as exc:
        return None, f"{shown}: unknown or broken split {split!r} ({exc}); ignored"
    scores = path.parent / str(obj["scores_file"])
    if scores.is_file() and hres.file_sha256(scores) != obj["scores_sha256"]:
        # Not the file the harness wrote with this result: its plots would show other scores.
        return Result(obj=obj, path=shown, scores=None, scores_mismatch=True), None
    return Result(obj=obj, path=shown, scores=scores if scores.is_file() else None), None


def fmt_name(name: str) -> str:
    """A name for a warning line: escaped, and cut short."""
    text = html.escape(name[:40] + ("..." if len(name) > 40 else ""))
    return f"estimator name {text!r}"


def _check_shapes(obj: dict) -> None:
    """Types the pages rely on beyond what :func:`harness.results.validate` checks."""
    if not isinstance(obj["protocol"]["seeds"], list):
        raise TypeError("protocol.seeds must be a list")
    if obj["metrics"] is None and not obj["contract_ok"]:
        return  # a failed contract has no metrics: valid, and reported as such
    for key in ("mean", "std", "per_seed"):
        if not isinstance(obj["metrics"][key], dict):
            raise TypeError(f"metrics.{key} must be an object")
    kendall = obj["metrics"]["mean"].get("kendall")
    if kendall is not None and not isinstance(kendall, (int, float)):
        raise TypeError("metrics.mean.kendall must be a number or null")


# --------------------------------------------------------------------------------------------
# completeness and ranking
# --------------------------------------------------------------------------------------------


def result_issues(res: Result, registry: dict[str, Current] | None) -> list[str]:
    """Why a (non-skipped) result cannot be ranked; empty if it can."""
    obj = res.obj
    issues = []
    if not obj["contract_ok"]:
        issues.append("contract failed")
    if obj["n_nonfinite"]:
        issues.append(f"{obj['n_nonfinite']} non-finite score(s)")
    if obj["n_errors"]:
        issues.append(f"{obj['n_errors']} failed scoring call(s)")
    if res.mean("kendall") is None:
        issues.append("Kendall τ undefined")
    if registry is not None:
        cur = registry.get(res.estimator)
        if cur is None:
            issues.append("estimator no longer registered")
        elif str(obj["estimator"]["version"]) != cur.version:
            issues.append(f"stale: scored version {obj['estimator']['version']}, estimator is "
                          f"now version {cur.version}")
    try:
        if obj["split"]["sha256"] != load_split(res.split).sha256:
            issues.append("stale: scored on an older version of the split")
    except Exception:  # unknown splits were filtered out at load time
        issues.append("split no longer loadable")
    return issues


#: The submissions' folder, read for their files' hashes only (never imported here).
ESTIMATOR_DIR = Path(__file__).resolve().parents[1] / "estimators"


def source_changed(res: Result, estimator_dir: Path = ESTIMATOR_DIR) -> bool:
    """Whether the code of ``estimators/<name>.py`` differs from that of the file that scored
    ``res`` (False when the result predates the record or the file is gone; the registry
    check reports that).

    Where the result records the code's fingerprint (:func:`harness.trust.code_sha256`), an
    edit of docstrings, comments or published figures is not a change, nor is a change of
    code that was shown to give the same scores (:func:`reproduced_by`); otherwise any change
    of the file's bytes is.
    """
    est = res.obj["estimator"]
    path = estimator_dir / f"{res.estimator}.py"
    if not path.is_file():
        return False
    if est.get("code_sha256"):
        try:
            now = trust.code_sha256(path)
        except (SyntaxError, ValueError):
            return True
        return now != est["code_sha256"] and reproduced_by(res, now) is None
    recorded = est.get("source_sha256")
    return recorded is not None and hres.file_sha256(path) != recorded


def cost_code_changed(res: Result, estimator_dir: Path = ESTIMATOR_DIR) -> bool:
    """Whether the result's standalone cost was measured on code that differs from
    ``estimators/<name>.py`` now, or from the estimators it runs (same version: a speed-up or
    memory fix that kept the scores leaves the measurement out of date). False without a
    measurement, without a recorded fingerprint (older measurements: unknown), or without the
    file."""
    recorded = (res.standalone or {}).get("code_sha256")
    uses = (res.standalone or {}).get("uses_code_sha256")
    path = estimator_dir / f"{res.estimator}.py"
    if not recorded or not path.is_file():
        return False
    try:
        if trust.code_sha256(path) != recorded:
            return True
        # The estimators it runs through the harness (vkdnw_agg runs vkdnw) cost time too.
        return uses is not None and uses != trust.estimated_code(
            res.estimator, trust.files_text_of(estimator_dir))
    except (SyntaxError, ValueError):
        return True


def reproduced_by(res: Result, code_sha256: str) -> dict | None:
    """The result's record (``estimator.reproduced``) that the code with fingerprint
    ``code_sha256`` gives its stored scores bit for bit; ``None`` where there is none."""
    return next((r for r in res.obj["estimator"].get("reproduced") or []
                 if r.get("code_sha256") == code_sha256), None)


def reproduced_now(res: Result, estimator_dir: Path = ESTIMATOR_DIR) -> dict | None:
    """The record that the estimator's code *as it is now*, changed since the result was
    scored, was shown to give its stored scores (``None`` where the code is unchanged or no
    such record exists)."""
    path = estimator_dir / f"{res.estimator}.py"
    recorded = res.obj["estimator"].get("code_sha256")
    if not recorded or not path.is_file():
        return None
    try:
        now = trust.code_sha256(path)
    except (SyntaxError, ValueError):
        return None
    return None if now == recorded else reproduced_by(res, now)


def result_notes(res: Result) -> list[str]:
    """Shortfalls that keep a result ranked but *provisional* (fewer seeds than the protocol).

    A row is also provisional when it lacks a result on a split other than the ranking split
    (see :func:`rank_rows`).

    When the CPU budget allows only one seed for every estimator, a table with no ranks would
    help nobody; the rank is shown, marked provisional, with the number of seeds.
    """
    n = len(res.seeds)
    if n < MIN_SEEDS:
        return [f"{n} of {MIN_SEEDS} seeds"]
    return []


@dataclass
class Row:
    """One estimator in a table over some splits.

    Attributes:
        name: estimator name.
        kind: zero-shot / one-shot / baseline.
        cells: split → result (absent when there is none).
        not_applicable: split → why the estimator is not scored there (not an issue).
        issues: why the row is incomplete (each prefixed by the split when relevant).
        rank: 1-based rank among complete rows (``None``: not ranked).
    """

    name: str
    kind: str
    cells: dict[str, Result]
    not_applicable: dict[str, str]
    issues: list[str]
    rank: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.issues


def benchmark_splits(splits: Sequence[str]) -> list[str]:
    """One split per benchmark (benchmark, dataset): the first in table order.

    These are the splits the home table's mean τ averages, so that a benchmark with two splits
    (a 1k sample and the full space, or the de-isomorphic split) does not count twice and every
    estimator is averaged over the same kind of split; a row's status rests on them too.
    """
    seen: set[tuple[str, str]] = set()
    out = []
    for split in splits:
        sp = load_split(split)
        key = (sp.benchmark, sp.dataset)
        if key not in seen:
            seen.add(key)
            out.append(split)
    return out


def board_rows(coll: Collection) -> list[Row]:
    """The home table's rows: every board split a column, ranked on the first, and a row
    provisional only for what its rank and mean τ rest on (:func:`benchmark_splits`)."""
    splits = coll.splits()
    if not splits:
        return []
    return rank_rows(coll, splits, splits[0], status_splits=benchmark_splits(splits))


def rank_rows(coll: Collection, splits: Sequence[str], rank_split: str,
              names: Sequence[str] | None = None,
              status_splits: Sequence[str] | None = None) -> list[Row]:
    """Rows for ``names`` (default: every estimator with a result on any of ``splits``).

    Complete rows are ranked by mean Kendall τ on ``rank_split`` (higher first, equal τ share a
    rank, ties listed by name) and come first; incomplete rows follow by name, unranked.

    Args:
        coll: the collected results.
        splits: the table's columns.
        rank_split: the split the rank is taken on.
        names: the estimators (default: every one with a result on any of ``splits``).
        status_splits: the splits whose seed shortfalls and gaps make a ranked row
            provisional (default: all of ``splits``). A column outside them (a second split of
            a benchmark already counted, such as the full space) is shown, but a gap there
            does not touch the status; a problem that makes a result unusable still does.
    """
    if names is None:
        names = sorted({e for (e, s) in coll.results if s in splits})
    status = set(splits if status_splits is None else status_splits) | {rank_split}
    rows = []
    for name in names:
        mine = coll.of_estimator(name)
        cur = (coll.registry or {}).get(name)
        cells, na, issues, notes = {}, {}, [], []
        for split in splits:
            res = mine.get(split)
            tag = f"{split}: " if len(splits) > 1 else ""
            if res is not None and res.skipped:
                na[split] = "skipped by the harness"
            elif res is not None:
                cells[split] = res
                found = result_issues(res, coll.registry)
                if found:
                    issues.append(tag + ", ".join(found))
                if split in status:
                    notes.extend(tag + n for n in result_notes(res))
            elif cur is not None and split in cur.not_applicable:
                na[split] = cur.not_applicable[split]
            elif split == rank_split:
                issues.append(f"no result on {split}")
            elif split in status:
                # The rank uses the ranking split only, so a gap elsewhere does not make it
                # wrong; it is shown (provisional, naming the split), never hidden.
                notes.append(f"no result on {split}")
        if rank_split in na:
            issues.append(f"not scored on the ranking split {rank_split}")
        kind = cur.kind if cur is not None else coll.estimator_meta(name)["kind"]
        rows.append(Row(name=name, kind=kind, cells=cells, not_applicable=na, issues=issues,
                        notes=notes))
    ranked = sorted((r for r in rows if r.complete),
                    key=lambda r: (-_tau(r, rank_split), r.name))
    prev, rank = None, 0
    for i, row in enumerate(ranked, start=1):
        tau = _tau(row, rank_split)
        if tau != prev:
            rank, prev = i, tau
        row.rank = rank
    rest = sorted((r for r in rows if not r.complete), key=lambda r: r.name)
    return ranked + rest


def _tau(row: Row, split: str) -> float:
    value: Any = row.cells[split].mean("kendall")
    return float(value)
