"""Every zero-shot estimator scores a real network of every benchmark.

Issue #7, must-have 5: each zero-shot estimator runs on every space, or says through its
metadata why it cannot. The hand-checked definition tests use tiny networks; this test runs
the harness's own scoring path (``runner._score_one``, joint mode, real CIFAR-10 images) on each
benchmark's smallest smoke-split network, so a builder/estimator mismatch (e.g. an estimator
looking for a module a builder does not use) fails here, not hours into a results run. The
batch is 16 images instead of the runs' 64 to keep the default test run short; the code path is
the same.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness import registry, runner
from harness.spaces import get_space
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
    cfg = runner.RunConfig(seeds=(20,), batch_size=16, data_dir=data_dir, results_dir=tmp_path,
                           cache_dir=tmp_path_factory.getbasetemp() / "estbench-cache")
    params, _ = runner.complexity_table(split, cfg)
    position = int(np.argmin(params))
    runnable = [e for e in zero_shot if runner.skip_reason(e, split) is None]
    # Every skip must come from the estimator's metadata, with its reason; today none skips.
    assert [e.name for e in zero_shot if e not in runnable] == []

    recs = runner._score_one(
        runnable, split.specs(data_dir)[position], split.arch_ids[position], split,
        get_space(split.benchmark), cfg, 20, runner.BatchCache(cfg, split.dataset),
        runner._prepare_states(runnable, split, cfg, 20),
    )
    problems = {name: rec.error for name, rec in recs.items()
                if rec.error is not None or rec.score is None or not math.isfinite(rec.score)}
    assert problems == {}, f"{split_name}, arch {split.arch_ids[position]}"
