"""Untrusted files never run in the process that reads ground truth (#40).

A file is trusted only when the committed catalog records its SHA-256. Any other is imported
in a guarded worker to learn what it registers, scored in workers of its own, and its
population aggregation runs in a worker too. Scores are the same bits as in process.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
from pathlib import Path

import pytest
from conftest import estimator_package

from harness import api, registry, trust
from harness import run as runner
from harness.run.config import UsageError
from harness.sandbox import UntrustedCode

SPLIT = "nb201-c10-smoke"

SCALAR = '''
import os
from pathlib import Path
from harness.api import estimator

Path({marker!r}).write_text(str(os.getpid()))  # where was I imported?

@estimator(name="probe", kind="zero-shot", idea="x", version="1", needs_images=False)
def score(ctx):
    net = ctx.build()
    return float(sum(p.detach().float().abs().sum() for p in net.parameters()))
'''

POPULATION = '''
import os
from pathlib import Path
import numpy as np
from harness.api import estimator


def aggregate(pop):
    Path({marker!r}).write_text(str(os.getpid()))  # where did the aggregation run?
    a = pop.components["size"]
    return np.argsort(np.argsort(a)).astype(np.float64) + pop.components["one"]


@estimator(name="popagg", kind="zero-shot", idea="x", version="1", needs_images=False,
           components=("size", "one"), aggregate=aggregate)
def score(ctx):
    return {{"size": float(sum(p.numel() for p in ctx.build().parameters())), "one": 1.0}}
'''

PEEK_AT_IMPORT = '''
import os
from harness.api import estimator

TABLE = open(os.path.join(os.environ["ESTBENCH_DATA"], {table!r})).read()

@estimator(name="peek", kind="zero-shot", idea="x", version="1")
def score(ctx):
    return 0.0
'''

ONESHOT = '''
from harness.api import estimator

def prepare(pctx):
    return None

@estimator(name="shot", kind="one-shot", idea="x", version="1", prepare=prepare)
def score(ctx):
    return 0.0
'''


@pytest.fixture
def package(tmp_path, monkeypatch):
    yield from estimator_package(tmp_path, monkeypatch, "untrusted_pkg")


def discover() -> dict[str, api.Estimator]:
    registry.rescan()
    importlib.invalidate_caches()
    return registry.discover("untrusted_pkg")


def config(tmp_path: Path, data_dir: str, **kw) -> runner.RunConfig:
    return runner.RunConfig(seeds=(20,), data_dir=data_dir, results_dir=tmp_path / "res",
                            determinism_checks=1, **kw)


def test_committed_files_are_trusted_and_others_not(tmp_path):
    params = Path(registry.get("params").source_file)
    assert trust.is_trusted("estimators", "params", params)
    assert "estimators.params" in sys.modules and not registry.get("params").untrusted
    changed = tmp_path / "params.py"
    changed.write_bytes(params.read_bytes() + b"\n")
    assert not trust.is_trusted("estimators", "params", changed)
    assert not trust.is_trusted("other_pkg", "params", params)


def test_an_untrusted_file_is_imported_only_in_a_worker(package, tmp_path, data_dir):
    marker = tmp_path / "imported_in"
    (package / "probe.py").write_text(SCALAR.format(marker=str(marker)))
    est = discover()["probe"]
    assert est.untrusted and est.info.kind == "zero-shot"
    assert est.source_file == package / "probe.py"
    assert "untrusted_pkg.probe" not in sys.modules
    assert int(marker.read_text()) != os.getpid()
    with pytest.raises(UntrustedCode, match="not trusted in this process"):
        est.score(None)


def test_an_untrusted_estimator_is_scored_in_a_worker_with_the_same_bits(package, tmp_path,
                                                                        data_dir):
    marker = tmp_path / "imported_in"
    (package / "probe.py").write_text(SCALAR.format(marker=str(marker)))
    stand_in = discover()["probe"]
    cfg = config(tmp_path, data_dir, shard=(0, 40))  # 3 cells
    session = runner.Session.create([stand_in], SPLIT, cfg)
    with runner.isolated(session):  # no --isolate needed: it is untrusted
        isolated = runner.score_split(session)["probe"].records
    assert "untrusted_pkg.probe" not in sys.modules
    # The same file imported here (the same definition: it replaces its stand-in).
    importlib.import_module("untrusted_pkg.probe")
    real = api.ESTIMATORS.get("probe")
    assert not real.untrusted
    local_cfg = dataclasses.replace(cfg, results_dir=tmp_path / "res2")
    local = runner.score_split(runner.Session.create([real], SPLIT, local_cfg))["probe"].records
    assert {k: r.score for k, r in isolated.items()} == {k: r.score for k, r in local.items()}
    assert all(r.failure is None for r in isolated.values())


def test_an_untrusted_aggregation_runs_in_a_worker(package, tmp_path, data_dir):
    marker = tmp_path / "aggregated_in"
    (package / "popagg.py").write_text(POPULATION.format(marker=str(marker)))
    est = discover()["popagg"]
    out = runner.run([est], SPLIT, config(tmp_path, data_dir))["popagg"]
    assert out.contract_ok and out.metrics is not None
    assert int(marker.read_text()) != os.getpid()
    assert "untrusted_pkg.popagg" not in sys.modules


def test_reading_ground_truth_at_import_breaks_the_file_in_its_worker(package, data_dir):
    (package / "peek.py").write_text(PEEK_AT_IMPORT.format(table="nasbench201/nb201_accuracies.csv"))
    discovered = discover()
    assert "peek" not in discovered
    (problem,) = [b for b in registry.broken("untrusted_pkg") if b.name == "peek"]
    assert "tried to read" in problem.message and "forbids ground truth" in problem.message


def test_an_untrusted_one_shot_estimator_is_refused(package, tmp_path, data_dir):
    (package / "shot.py").write_text(ONESHOT)
    est = discover()["shot"]
    with pytest.raises(UsageError, match="shot cannot be scored.*only trusted code"):
        runner.run([est], SPLIT, config(tmp_path, data_dir, shard=(0, 40)))
