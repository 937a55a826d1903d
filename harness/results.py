"""Results files: one typed JSON per (estimator, split), plus a compressed scores file.

Layout under the results directory::

    <estimator>/<split>.json            a :class:`ResultFile`, written atomically
    <estimator>/<split>.scores.csv.gz   arch_id, seed, score[, components...] per arch × seed
    <estimator>/.<split>.ckpt.jsonl     resume checkpoint (git-ignored; see docs/distributed.md
                                        for committing one of a sweep that outlasts a session)

The schema is these dataclasses, nothing else: the runner writes them, the leaderboard reads
them, ``harness/results.schema.json`` is generated from them (``python -m harness schema``) and
CI checks every committed result against it, and ``docs/results-schema.md`` is tested against
it. Results are written only by the harness and never edited by hand.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness import schema
from harness.data import atomic_write_bytes
from harness.scoring_key import ScoringKey

SCHEMA_VERSION = 6
SCHEMA_FILE = Path(__file__).with_name("results.schema.json")
GENERATED_BY = "estbench harness (pytest harness/ --estimator=...); do not edit"

Metric = dict[str, float | None]


class ResultsSchemaError(ValueError):
    """A results file that does not follow the current schema."""


@dataclass
class PaperMeta:
    """The paper that defines the estimator."""

    title: str
    url: str
    bibtex: str


@dataclass
class Reproduced:
    """Evidence that a later version of the estimator's code gives the stored scores bit for
    bit (written by ``python -m harness reproduce --record``, never by hand).

    Attributes:
        code_sha256: the fingerprint of the code that was shown to reproduce them.
        cells: how many cells were re-scored.
        evidence: how: the stored scores themselves (same environment), or equal digests of
            the code that scored the result and of this code, run on one machine.
        device_name: the machine that re-scored them.
        date: when (ISO 8601, UTC).
    """

    code_sha256: str
    cells: int
    evidence: str
    device_name: str
    date: str


@dataclass
class EstimatorMeta:
    """Which estimator, at which version.

    ``source_sha256`` is the SHA-256 of the estimator's file when it was scored;
    ``code_sha256`` the fingerprint of its code then (:func:`harness.trust.code_sha256`: the
    syntax tree without docstrings and published figures), so the site can tell a later edit of
    the documentation from a change of code. Either is ``None`` where it was not recorded.
    ``reproduced`` lists later versions of the code shown to give the same scores
    (:class:`Reproduced`): a refactor that kept the bits, proved and recorded.
    """

    name: str
    version: str
    kind: Literal["zero-shot", "one-shot", "baseline"]
    idea: str
    paper: PaperMeta | None
    components: list[str] = field(default_factory=list)
    source_sha256: str | None = None
    code_sha256: str | None = None
    reproduced: list[Reproduced] = field(default_factory=list)


@dataclass
class SplitMeta:
    """Which split, identified by content hash."""

    name: str
    version: int
    sha256: str
    benchmark: str
    dataset: str
    n_archs: int
    truth_column: str
    truth_aggregate: str


@dataclass
class Weights:
    """Where the networks' weights came from: random initialisation or a supernet per seed."""

    source: str
    per_seed: dict[str, Any] | None = None


@dataclass
class Protocol:
    """How the split was scored."""

    seeds: list[int]
    n_batches: int
    batch_size: int
    image_split: str
    loss: str
    nonfinite_rule: str
    options: dict[str, Any]
    weights: Weights
    #: What determines the scores (the seeds aside), compared by equality wherever stored
    #: scores may stand in for new ones; the fields above say the same for readers.
    scoring_key: ScoringKey


@dataclass
class Failure:
    """One failed scoring call: a bad return value, an exception, the time limit, or a change
    of process-wide torch state that the call left behind."""

    arch_id: int
    seed: int
    kind: Literal["value", "raised", "timeout", "state"]
    message: str


@dataclass
class EnvironmentCount:
    """How many scores one numeric environment produced (``None``: not recorded)."""

    environment: dict[str, str] | None
    n_scores: int


@dataclass
class CrossEnvironment:
    """A re-scored cell that differs from a score recorded in another environment."""

    arch_id: int
    seed: int
    recorded: Any
    rescored: Any
    recorded_env: dict[str, str] | None
    rescored_env: dict[str, str]
    rel_diff: float


@dataclass
class Determinism:
    """What re-scoring a few architectures alone found."""

    checked: int
    equal: int
    problems: list[str]
    cross_environment: list[CrossEnvironment]
    environments: list[EnvironmentCount]


@dataclass
class Metrics:
    """Criteria per seed, their mean and standard deviation over seeds, and (when computed)
    the bootstrap over architectures."""

    per_seed: dict[str, Metric]
    mean: Metric
    std: Metric
    bootstrap: dict[str, Any] | None = None


@dataclass
class Cost:
    """What scoring cost, per (architecture, seed)."""

    wall_s_per_arch_median: float
    wall_s_per_arch_p90: float
    wall_s_per_arch_mean: float
    gpu_s_per_arch_median: float | None
    peak_rss_mb: float
    peak_cuda_mb: float | None
    device: str
    mode: Literal["alone", "joint"]
    joint_with: list[str]
    note: str
    training: dict[str, Any] | None = None


@dataclass
class RunEnvironment:
    """The process that wrote the file."""

    torch: str
    python: str
    harness_commit: str
    date: str
    device_name: str
    threads: int
    platform: str
    cudnn: dict[str, bool] | None


@dataclass
class CurvePoint:
    """Metrics at one checkpoint of a training run."""

    checkpoint: int
    seed: int
    kendall: float | None
    spearman: float | None
    p_top_5: float | None
    scores_from: str


@dataclass
class Curve:
    """The same scoring at each saved checkpoint of a one-shot training run."""

    x: str
    points: list[CurvePoint]
    note: str


@dataclass
class ResultFile:
    """One estimator on one split: metrics, bias, cost, provenance."""

    schema_version: int
    generated_by: str
    estimator: EstimatorMeta
    split: SplitMeta
    protocol: Protocol
    status: Literal["complete"]
    n_archs: int
    n_nonfinite: int
    nonfinite_arch_ids: list[int]
    n_errors: int
    errors: list[Failure]
    contract_ok: bool
    contract_problems: list[str]
    determinism: Determinism | None
    metrics: Metrics | None
    bias: dict[str, Any] | None
    cost: Cost
    environment: RunEnvironment
    scores_file: str
    scores_sha256: str
    prepared: dict[str, Any] | None = None
    curve: Curve | None = None

    def to_dict(self) -> dict[str, Any]:
        return schema.dump(self)

    def to_json(self) -> str:
        """Sorted keys, stable formatting: equal results give equal bytes."""
        return json.dumps(self.to_dict(), indent=1, sort_keys=True, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, obj: Any, where: str = "results") -> ResultFile:
        """Parse and validate.

        Raises:
            ResultsSchemaError: naming the first missing, unknown or mistyped field.
        """
        if not isinstance(obj, dict):
            raise ResultsSchemaError(f"{where}: top level must be an object")
        version = obj.get("schema_version")
        if version == 3:
            try:
                obj, version = upgrade_v3(obj), 4
            except (KeyError, TypeError, ValueError) as exc:
                raise ResultsSchemaError(f"{where}: a schema-3 file without {exc}") from None
        if version == 4:
            try:
                obj, version = upgrade_v4(obj), 5
            except (KeyError, TypeError) as exc:
                raise ResultsSchemaError(f"{where}: a schema-4 file without {exc}") from None
        if version == 5:
            try:
                obj, version = upgrade_v5(obj), SCHEMA_VERSION
            except (KeyError, TypeError) as exc:
                raise ResultsSchemaError(f"{where}: a schema-5 file without {exc}") from None
        if version != SCHEMA_VERSION:
            raise ResultsSchemaError(
                f"{where}: schema_version {version!r} is not the current {SCHEMA_VERSION}; "
                "upgrade it with python -m harness results upgrade, or re-run the harness")
        try:
            out = schema.parse(cls, obj)
        except schema.SchemaError as exc:
            raise ResultsSchemaError(f"{where}: {exc}") from None
        if out.metrics is None and out.contract_ok:
            raise ResultsSchemaError(f"{where}: metrics are missing although the contract holds")
        return out


def upgrade_v3(obj: dict[str, Any]) -> dict[str, Any]:
    """The schema-4 form of a schema-3 results object: its protocol gains the
    :class:`ScoringKey`, built from the fields that held the same facts (estimator, split,
    protocol, the cost's device type). Pure and lossless, so reading a schema-3 file applies it
    in memory and results written before the key existed still take part in take-over and
    replacement checks; ``python -m harness results upgrade`` writes it to disk."""
    out = json.loads(json.dumps(obj))
    out["schema_version"] = 4
    proto = out["protocol"]
    proto["scoring_key"] = ScoringKey(
        estimator=out["estimator"]["name"], estimator_version=out["estimator"]["version"],
        split=out["split"]["name"], split_sha256=out["split"]["sha256"],
        n_batches=proto["n_batches"], batch_size=proto["batch_size"],
        device_type=out["cost"]["device"], options=proto["options"],
        weights=proto["weights"]["source"]).to_dict()
    return out


def upgrade_v4(obj: dict[str, Any]) -> dict[str, Any]:
    """The schema-5 form of a schema-4 results object: its estimator gains ``code_sha256``,
    unknown (null) in the file itself; ``python -m harness results upgrade`` fills it in from
    the git history where that holds the recorded source. Pure, so reading a schema-4 file
    applies it in memory."""
    out = json.loads(json.dumps(obj))
    out["schema_version"] = 5
    out["estimator"].setdefault("code_sha256", None)
    return out


def upgrade_v5(obj: dict[str, Any]) -> dict[str, Any]:
    """The schema-6 form of a schema-5 results object: its estimator gains ``reproduced``,
    empty (no later code has been shown to reproduce it yet). Pure, so reading a schema-5 file
    applies it in memory."""
    out = json.loads(json.dumps(obj))
    out["schema_version"] = 6
    out["estimator"].setdefault("reproduced", [])
    return out


def json_schema() -> dict:
    """The JSON Schema of :class:`ResultFile` (committed as ``harness/results.schema.json``)."""
    out = schema.json_schema(ResultFile, title="estbench results file")
    out["$defs"]["ResultFile"]["properties"]["schema_version"] = {"const": SCHEMA_VERSION}
    return out


def validate(obj: Any, where: str = "results") -> dict:
    """Check a results object against the schema; return it unchanged."""
    ResultFile.from_dict(obj, where)
    return obj


def results_path(results_dir: Path, estimator: str, split: str) -> Path:
    return Path(results_dir) / estimator / f"{split}.json"


def scores_path(results_dir: Path, estimator: str, split: str) -> Path:
    return Path(results_dir) / estimator / f"{split}.scores.csv.gz"


def checkpoint_path(results_dir: Path, estimator: str, split: str, shard: str = "") -> Path:
    suffix = f".shard{shard.replace('/', 'of')}" if shard else ""
    return Path(results_dir) / estimator / f".{split}{suffix}.ckpt.jsonl"


def checkpoint_paths(results_dir: Path, estimator: str, split: str) -> list[Path]:
    """Every checkpoint of ``estimator`` on ``split`` in ``results_dir``: the unsharded one and
    those of any sharding (``.<split>.shard<i>of<N>.ckpt.jsonl``), sorted by name.

    A split whose name extends another's (``nb101`` / ``nb101-1k``) never matches: the name is
    followed by ``.shard`` or ``.ckpt`` exactly.
    """
    folder = Path(results_dir) / estimator
    pattern = re.compile(rf"^\.{re.escape(split)}(\.shard\d+of\d+)?\.ckpt\.jsonl$")
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if pattern.match(p.name) and p.is_file())


def write_result(path: Path, result: ResultFile) -> None:
    """Validate (a round trip through the parser) and write atomically."""
    ResultFile.from_dict(result.to_dict(), str(path))
    text = result.to_json()
    atomic_write_bytes(path, lambda fh: fh.write(text.encode()))


def write_json(path: Path, obj: dict) -> None:
    """Validate a results object given as a dict and write it atomically."""
    write_result(path, ResultFile.from_dict(obj, str(path)))


def load_result(path: Path) -> ResultFile:
    """Read and validate a results file."""
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ResultsSchemaError(f"{path}: unreadable ({exc})") from exc
    return ResultFile.from_dict(obj, str(path))


def load_json(path: Path) -> dict:
    """Read and validate a results file; its JSON object."""
    return load_result(path).to_dict()


ScoreRow = tuple[int, int, float | None]


def write_scores(path: Path, rows: list[ScoreRow],
                 components: dict[tuple[int, int], dict[str, float | None]] | None = None,
                 component_names: tuple[str, ...] = ()) -> str:
    """Write ``(arch_id, seed, score)`` rows as a deterministic gzip CSV (``repr`` floats, so
    the exact doubles round-trip; failed scores as empty cells). A population-level
    estimator's component scores follow as one column each, so that its aggregate can be
    recomputed from this file alone.

    Returns:
        The SHA-256 (hex) of the bytes written, for the results file's ``scores_sha256``.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["arch_id", "seed", "score", *component_names])

    def cell(v: float | None) -> str:
        return "" if v is None else repr(float(v))

    for arch_id, seed, score in sorted(rows, key=lambda r: (r[1], r[0])):
        comp = (components or {}).get((arch_id, seed)) or {}
        w.writerow([arch_id, seed, cell(score), *(cell(comp.get(c)) for c in component_names)])
    raw = buf.getvalue().encode()

    packed = io.BytesIO()
    # mtime=0 and no file name: identical scores give identical bytes.
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as gz:
        gz.write(raw)
    data = packed.getvalue()
    atomic_write_bytes(path, lambda fh: fh.write(data))
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """The SHA-256 (hex) of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def scores_match(result: ResultFile, path: Path) -> bool:
    """Whether ``path`` is the scores file ``result`` was written with (its SHA-256)."""
    try:
        return file_sha256(path) == result.scores_sha256
    except OSError:
        return False


def read_scores(path: Path) -> list[ScoreRow]:
    """The ``(arch_id, seed, score)`` rows written by :func:`write_scores`."""
    return [(a, s, v) for a, s, v, _c in read_scores_with_components(path)]


def read_scores_with_components(path: Path) -> list[tuple[int, int, float | None, dict]]:
    """Rows with the component columns (an empty dict for ordinary estimators)."""
    with gzip.open(path, "rt", newline="") as fh:
        r = csv.reader(fh)
        header = next(r)
        names = header[3:]

        def num(v: str) -> float | None:
            return float(v) if v != "" else None

        return [(int(row[0]), int(row[1]), num(row[2]),
                 {n: num(v) for n, v in zip(names, row[3:])}) for row in r]
