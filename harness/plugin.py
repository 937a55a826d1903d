"""The estbench pytest plugin: ``pytest harness/ --estimator=NAME`` scores estimators on splits.

Loaded with ``-p harness.plugin`` (``addopts`` in ``pyproject.toml``). Each (estimator, split)
is one test of ``harness/test_estimators.py``; it scores every architecture of the split for
each seed, checks the estimator's contract, computes the metrics and writes one results file.
Several estimators given together on one split are scored jointly (shared network builds,
batches and passes); under pytest-xdist each worker scores its own tests.

The hooks are thin: options come from :data:`harness.run.config.OPTIONS`, the run from
:func:`harness.run.frontend.build_run`, the work from :class:`harness.run.Session`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.run import config as run_config

_CASES = pytest.StashKey[list]()
_ENGINE = pytest.StashKey[object]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("estbench", "estbench: score performance estimators on NAS benchmarks")
    run_config.add_to_pytest(g)


def _names_harness(config: pytest.Config) -> bool:
    """Whether the command line selects the scoring tests (``harness/`` or a file in it)."""
    here = Path(__file__).resolve().parent
    for arg in config.args:
        path = Path(str(arg).split("::", 1)[0])
        try:
            resolved = (Path(config.invocation_params.dir) / path).resolve()
        except OSError:
            continue
        if resolved == here or here in resolved.parents:
            return True
    return False


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("estimator") is None:
        return
    if not _names_harness(config):
        raise pytest.UsageError(
            "--estimator scores estimators only with the harness's tests: run "
            "pytest harness/ --estimator=... (the project's own tests are pytest tests/)")
    # lazy: loaded in every pytest session; torch only when --estimator runs
    from harness import registry
    from harness.run.frontend import build_run

    values = {o.dest: config.getoption(o.dest) for o in run_config.options_for("pytest")}
    try:
        run = build_run(values)
    except run_config.UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_CASES] = [(e, s.name) for s in run.splits for e in run.estimators]
    config.stash[_ENGINE] = Engine(config, run.config, list(run.estimators))
    lines = [f"estbench: skipped a broken estimator file: {b.message}"
             for b in registry.broken()] + [f"estbench: {note}" for note in run.notes]
    if lines and not hasattr(config, "workerinput"):
        tr = config.pluginmanager.get_plugin("terminalreporter")
        for line in lines:
            if tr is not None:
                tr.write_line(line, yellow=True)
            else:
                print(line, file=sys.stderr)


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
        self.results: dict[tuple[str, str], object] = {}
        self.shard_done: set[tuple[str, str]] = set()
        # (estimator, split) -> why it was stopped (failed on each of its first cells)
        self.broken: dict[tuple[str, str], str] = {}
        # Under xdist each worker gets an arbitrary subset of tests: score only its own.
        self.joint = not hasattr(config, "workerinput")

    def _write(self, text: str) -> None:
        """Write to the real terminal, past pytest's output capture."""
        capman = self.config.pluginmanager.get_plugin("capturemanager")
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if capman is None or tr is None:
            sys.stderr.write(text)
            sys.stderr.flush()
            return
        with capman.global_and_fixture_disabled():
            tr.write(text)
            tr.flush()

    def _progress(self):
        # lazy: loaded in every pytest session; torch only when --estimator runs
        from harness.run.progress import Progress

        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        tty = bool(tr is not None and getattr(tr, "isatty", False))
        return Progress(self._write, tty)

    def result_for(self, est, split_name: str):
        # lazy: loaded in every pytest session; torch only when --estimator runs
        from harness.run import (
            EstimatorBroken,
            Session,
            isolated,
            run_session,
            score_split,
            skip_reason,
        )

        key = (est.name, split_name)
        if key in self.broken:
            pytest.fail(self.broken[key], pytrace=False)
        if key in self.results or key in self.shard_done:
            return self.results.get(key)
        # lazy: loaded in every pytest session; torch only when --estimator runs
        from harness.splits import load_split

        split = load_split(split_name)
        if self.joint:
            group = [e for e in self.ests if skip_reason(e, split) is None
                     and (e.name, split_name) not in self.results]
        else:
            group = [est]
        session = Session.create(group, split, self.cfg)
        progress = self._progress()
        try:
            if self.cfg.shard is not None:
                with isolated(session):
                    score_split(session, progress)
                self.shard_done.update((e.name, split_name) for e in group)
                return None
            out = run_session(session, progress)
        except run_config.UsageError as exc:
            pytest.fail(str(exc), pytrace=False)
        except EstimatorBroken as exc:
            # Only the broken estimators fail; the others scored beside them keep their results.
            out = exc.results
            self.broken.update({(n, split_name): m for n, m in exc.broken.items()})
        finally:
            progress.close()
        for name, res in out.items():
            self.results[(name, split_name)] = res
        if key in self.broken:
            pytest.fail(self.broken[key], pytrace=False)
        return self.results[key]


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    cases = config.stash.get(_CASES, None)
    if not cases or hasattr(config, "workerinput"):
        return
    # lazy: loaded in every pytest session; torch only when --estimator runs
    from harness.run.summary import shard_hint, summary_lines

    engine = config.stash[_ENGINE]
    if engine.cfg.shard is not None:
        # A shard writes only its checkpoint; a results file already in place is an older
        # run's, so it is not shown as if this run had produced it.
        terminalreporter.section("estbench shard")
        ests = sorted({e.name for e, _ in cases})
        splits = sorted({s for _, s in cases})
        terminalreporter.write_line(shard_hint(engine.cfg, ests, splits))
        return
    lines = summary_lines(engine.cfg, cases)
    if lines:
        terminalreporter.section("estbench results")
        for line in lines:
            terminalreporter.write_line(line)
