"""Every zero-shot estimator scores a real network of every benchmark.

Issue #7, must-have 5: each zero-shot estimator runs on every space, or says through its
metadata why it cannot. The hand-checked definition tests use tiny networks; this test runs
the harness's own scoring path (:func:`harness.run.score_cell`, joint mode, real CIFAR-10 images) on each
benchmark's smallest smoke-split network, so a builder/estimator mismatch (e.g. an estimator
looking for a module a builder does not use) fails here, not hours into a results run. The
batch is 16 images instead of the runs' 64 to keep the default test run short; the code path is
the same.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness import registry
from harness.run import RunConfig, Session, score_cell, skip_reason
from harness.run.complexity import complexity_table
from harness.splits import load_split

SMOKE_SPLITS = ("nb201-c10-smoke", "nb101-smoke", "nb301-smoke", "nds-resnet-smoke",
                "nds-resnexta-smoke")


@pytest.fixture(scope="module")
def zero_shot() -> list:
    found = [e for e in registry.discover().values() if e.info.kind == "zero-shot"]
    assert len(found) >= 14  # the paper's ZSEs plus the newer ones; none may vanish silently
    return found


@pytest.mark.parametrize("split_name", SMOKE_SPLITS)
def test_every_zero_shot_estimator_scores_the_smallest_network(split_name, zero_shot, data_dir,
                                                                tmp_path, tmp_path_factory):
    split = load_split(split_name)
    cfg = RunConfig(seeds=(20,), batch_size=16, data_dir=data_dir, results_dir=tmp_path,
                    cache_dir=tmp_path_factory.getbasetemp() / "estbench-cache")
    params, _ = complexity_table(split, cfg)
    position = int(np.argmin(params))
    runnable = [e for e in zero_shot if skip_reason(e, split) is None]
    # Every skip must come from the estimator's metadata, with its reason; today none skips.
    assert [e.name for e in zero_shot if e not in runnable] == []

    recs = score_cell(Session.create(runnable, split, cfg), runnable, position, 20)

    def finite(rec) -> bool:
        values = list(rec.components.values()) if rec.components is not None else [rec.score]
        return all(v is not None and math.isfinite(v) for v in values)

    problems = {name: rec.error for name, rec in recs.items()
                if rec.error is not None or not finite(rec)}
    assert problems == {}, f"{split_name}, arch {split.arch_ids[position]}"
