"""The estbench pytest plugin: ``pytest harness/ --estimator=NAME`` scores estimators on splits.

Loaded with ``-p harness.plugin`` (``addopts`` in ``pyproject.toml``). Each (estimator, split)
is one test of ``harness/test_estimators.py``; it scores every architecture of the split for
each seed, checks the estimator's contract, computes the metrics and writes one results file.
Several estimators given together on one split are scored jointly (shared network builds,
batches and passes); under pytest-xdist each worker scores its own tests.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

DEFAULT_SPLIT = "nb201-c10-1k"
DEFAULT_SEEDS = "20,2020,202020"
RESULTS_DIR = "leaderboard/results"

_CASES = pytest.StashKey[list]()
_ENGINE = pytest.StashKey[object]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("estbench", "estbench: score performance estimators on NAS benchmarks")
    g.addoption("--estimator", default=None,
                help="estimator name, comma list, or 'all' (required for pytest harness/)")
    g.addoption("--split", default=DEFAULT_SPLIT,
                help="split name or comma list (default: %(default)s)")
    g.addoption("--seeds", default=DEFAULT_SEEDS,
                help="comma list of seeds (default: %(default)s, the paper's)")
    g.addoption("--batches", type=int, default=1,
                help="batches per seed; scores are averaged (default: %(default)s)")
    g.addoption("--batch-size", type=int, default=64,
                help="images per batch (default: %(default)s; the paper used 128)")
    g.addoption("--device", default=None,
                help="cpu or cuda (default: cuda when available, else cpu)")
    g.addoption("--data-dir", default=None,
                help="benchmark data directory (default: $ESTBENCH_DATA)")
    g.addoption("--results-dir", default=RESULTS_DIR,
                help="where results files go (default: %(default)s)")
    g.addoption("--resume", dest="resume", action="store_true", default=True,
                help="reuse checkpointed scores of an interrupted run (default)")
    g.addoption("--no-resume", dest="resume", action="store_false",
                help="ignore checkpoints and score everything again")
    g.addoption("--arch-timeout", type=float, default=600.0,
                help="seconds per architecture before it is recorded as a failure "
                     "(default: %(default)s)")
    g.addoption("--threads", type=int, default=1,
                help="torch CPU threads per process (default: %(default)s; run -n 2 to use "
                     "two cores)")
    g.addoption("--shard", default=None,
                help="i/N: score only this shard; merge with python -m harness merge")
    g.addoption("--estimator-option", action="append", default=[], metavar="KEY=VALUE",
                help="option passed to estimators (e.g. one-shot epochs=200); repeatable")
    g.addoption("--curve", action="store_true", default=False,
                help="one-shot: also score every earlier checkpoint of the training run and "
                     "record the metrics per checkpoint (results field 'curve')")
    g.addoption("--weights", default="init",
                help="init (random initialisation, default) or a one-shot estimator "
                     "(oneshot_deiso, ...) whose trained supernet supplies the weights (RQ4); "
                     "results then go to leaderboard/results-trained/<name> unless "
                     "--results-dir is given")
    g.addoption("--determinism-checks", type=int, default=3,
                help="architectures re-scored alone to verify reproducibility "
                     "(default: %(default)s)")


def _weights(config: pytest.Config) -> str:
    from harness import runner

    name = config.getoption("weights")
    if name != "init":
        try:
            runner.weights_source(name)
        except ValueError as exc:
            raise pytest.UsageError(f"--weights: {exc}") from exc
    return name


def _results_dir(config: pytest.Config) -> Path:
    """Trained-weights results never land next to (or overwrite) random-init ones."""
    given = config.getoption("results_dir")
    weights = config.getoption("weights")
    if weights != "init" and given == RESULTS_DIR:
        return (Path(RESULTS_DIR).parent / "results-trained" / weights).resolve()
    return Path(given).resolve()


def _parse_seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError as exc:
        raise pytest.UsageError(f"--seeds must be a comma list of integers, not {text!r}") from exc
    if not seeds:
        raise pytest.UsageError("--seeds is empty")
    return seeds


def _parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError as exc:
        raise pytest.UsageError(f"--shard must look like i/N (e.g. 0/4), not {text!r}") from exc
    if not (n >= 1 and 0 <= i < n):
        raise pytest.UsageError(f"--shard i/N needs 0 <= i < N, got {text!r}")
    return i, n


def _parse_options(items: list[str]) -> dict:
    from harness.runner import parse_options

    try:
        return parse_options(items)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_configure(config: pytest.Config) -> None:
    spec = config.getoption("estimator")
    if spec is None:
        return
    from harness import data, registry, runner
    from harness.splits import UnknownSplitError, load_split

    try:
        ests = registry.resolve(spec)
    except registry.UnknownEstimatorError as exc:
        raise pytest.UsageError(str(exc)) from None
    splits = [s.strip() for s in config.getoption("split").split(",") if s.strip()]
    for name in splits:
        try:
            load_split(name)
        except UnknownSplitError as exc:
            raise pytest.UsageError(str(exc)) from None
    try:
        data_dir = str(data.resolve_data_dir(config.getoption("data_dir")))
    except data.DataError as exc:
        raise pytest.UsageError(str(exc)) from None
    device = config.getoption("device")
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise pytest.UsageError(f"--device must be cpu or cuda, not {device!r}")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise pytest.UsageError("--device=cuda but torch sees no CUDA device")
    for opt in ("batches", "batch_size"):
        if config.getoption(opt) < 1:
            raise pytest.UsageError(f"--{opt.replace('_', '-')} must be >= 1")
    cfg = runner.RunConfig(
        seeds=_parse_seeds(config.getoption("seeds")),
        n_batches=config.getoption("batches"),
        batch_size=config.getoption("batch_size"),
        device=device,
        data_dir=data_dir,
        results_dir=_results_dir(config),
        resume=config.getoption("resume"),
        arch_timeout_s=config.getoption("arch_timeout"),
        determinism_checks=config.getoption("determinism_checks"),
        threads=config.getoption("threads"),
        shard=_parse_shard(config.getoption("shard")),
        options=_parse_options(config.getoption("estimator_option")),
        curve=config.getoption("curve"),
        weights=_weights(config),
    )
    config.stash[_CASES] = [(e, s) for s in splits for e in ests]
    config.stash[_ENGINE] = Engine(config, cfg, ests)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "estbench_case" not in metafunc.fixturenames:
        return
    cases = metafunc.config.stash.get(_CASES, None)
    if cases is None:
        raise pytest.UsageError(
            "pytest harness/ scores estimators and needs --estimator=NAME[,NAME...] or "
            "--estimator=all (see pytest --help, section estbench). The project's own tests "
            "run with: pytest tests/"
        )
    metafunc.parametrize("estbench_case", cases, ids=[f"{e.name}-{s}" for e, s in cases])


@pytest.fixture
def estbench_engine(request: pytest.FixtureRequest) -> Engine:
    return request.config.stash[_ENGINE]


class Engine:
    """Runs the scoring for the session's tests, jointly per split where possible."""

    def __init__(self, config: pytest.Config, cfg, ests):
        self.config = config
        self.cfg = cfg
        self.ests = ests
        self.results: dict[tuple[str, str], dict] = {}
        self.shard_done: set[tuple[str, str]] = set()
        # Under xdist each worker gets an arbitrary subset of tests: score only its own.
        self.joint = not hasattr(config, "workerinput")
        self._last_progress = 0.0

    def _progress(self, label: str, done: int, total: int, rate: float) -> None:
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        now = time.monotonic()
        if tr is None or (now - self._last_progress < 15 and done != total):
            return
        self._last_progress = now
        eta = (total - done) / rate if rate > 0 else float("inf")
        tr.write_line(f"  [{label}] {done}/{total} (arch, seed) done, {rate:.2f}/s, "
                      f"ETA {eta / 60:.1f} min")

    def result_for(self, est, split_name: str) -> dict | None:
        from harness import runner

        key = (est.name, split_name)
        if key in self.results or key in self.shard_done:
            return self.results.get(key)
        from harness.splits import load_split

        split = load_split(split_name)
        if self.joint:
            group = [e for e in self.ests if runner.skip_reason(e, split) is None
                     and (e.name, split_name) not in self.results]
        else:
            group = [est]
        if self.cfg.shard is not None:
            runner.score_split(group, split_name, self.cfg, self._progress)
            self.shard_done.update((e.name, split_name) for e in group)
            return None
        out = runner.run(group, split_name, self.cfg, self._progress)
        for name, obj in out.items():
            self.results[(name, split_name)] = obj
        return self.results[key]


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    cases = config.stash.get(_CASES, None)
    if not cases or hasattr(config, "workerinput"):
        return
    engine = config.stash[_ENGINE]
    from harness import results

    if engine.cfg.shard is not None:
        # A shard writes only its checkpoint; a results file already in place is an older
        # run's, so it is not shown as if this run had produced it.
        i, n = engine.cfg.shard
        terminalreporter.section("estbench shard")
        terminalreporter.write_line(
            f"shard {i}/{n} scored and checkpointed in {engine.cfg.results_dir}; when every "
            f"shard is done: python -m harness merge --estimator=... --split=... --shards {n}")
        return
    rows = []
    for est, split in cases:
        path = results.results_path(engine.cfg.results_dir, est.name, split)
        if not path.is_file():
            continue
        try:
            obj = results.load_json(path)
        except results.ResultsSchemaError:
            continue
        m, sd = obj["metrics"]["mean"], obj["metrics"]["std"]

        def fmt(key, m=m, sd=sd):
            if m.get(key) is None:
                return "—"
            return f"{m[key]:+.3f}" + (f" ± {sd[key]:.3f}" if sd.get(key) is not None else "")

        rows.append([est.name, split, fmt("kendall"), fmt("spearman"), fmt("p_top_5"),
                     fmt("br_5"), f"{obj['cost']['wall_s_per_arch_median']:.3f}",
                     obj["n_nonfinite"] + obj["n_errors"],
                     "ok" if obj["contract_ok"] else "FAILED"])
    if not rows:
        return
    from tabulate import tabulate

    terminalreporter.section("estbench results")
    terminalreporter.write_line(tabulate(
        rows, headers=["estimator", "split", "Kendall τ", "Spearman ρ", "P@top5%", "BR@5%",
                       "s/arch", "failed", "contract"], tablefmt="simple"))
    terminalreporter.write_line(f"results in {engine.cfg.results_dir}")
