"""The Dask executor: sharded scoring on a local cluster equals an unsharded run."""

from __future__ import annotations

import dataclasses

import pytest

from harness import registry, results
from harness import run as runner
from harness.splits import load_split

SPLIT = "nb201-c10-smoke"
ESTIMATORS = ["params", "random"]
VOLATILE = ("cost", "environment")  # timings, date, commit: differ between any two runs


@pytest.fixture
def cfg(tmp_path, data_dir, tmp_path_factory):
    cache = tmp_path_factory.getbasetemp() / "estbench-cache"
    return runner.RunConfig(seeds=(20,), data_dir=data_dir, results_dir=tmp_path / "res",
                            cache_dir=cache, determinism_checks=2)


def test_dask_shards_merge_to_the_unsharded_results(cfg):
    pytest.importorskip(
        "distributed",
        reason="Dask is not installed (pip install 'estbench[distributed]'); the Dask executor "
               "is optional",
    )
    from distributed import Client, LocalCluster

    from harness.distributed import run_distributed

    sharded = dataclasses.replace(cfg, results_dir=cfg.results_dir / "dask")
    # In-process workers (threads): starts in about a second and needs no pickling of torch.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        out = run_distributed(ESTIMATORS, SPLIT, sharded, 3, client)
    whole_dir = cfg.results_dir / "whole"
    whole = runner.run(registry.resolve(",".join(ESTIMATORS)), SPLIT,
                       dataclasses.replace(cfg, results_dir=whole_dir))

    for name in ESTIMATORS:
        for i in range(3):  # every shard really ran as its own task
            assert results.checkpoint_path(sharded.results_dir, name, SPLIT, f"{i}/3").is_file()
        a = results.load_json(results.results_path(sharded.results_dir, name, SPLIT))
        b = results.load_json(results.results_path(whole_dir, name, SPLIT))
        assert a["contract_ok"] and a["n_archs"] == len(load_split(SPLIT))
        assert {k: v for k, v in a.items() if k not in VOLATILE} == \
               {k: v for k, v in b.items() if k not in VOLATILE}
        assert a["cost"]["joint_with"] == b["cost"]["joint_with"]
        assert out[name].to_dict()["metrics"] == a["metrics"] == whole[name].to_dict()["metrics"]
        sa = results.scores_path(sharded.results_dir, name, SPLIT).read_bytes()
        sb = results.scores_path(whole_dir, name, SPLIT).read_bytes()
        assert sa == sb


def test_gpu_fraction_without_gpu_workers_fails_fast(cfg):
    pytest.importorskip("distributed", reason="Dask is not installed; the executor is optional")
    from distributed import Client, LocalCluster

    from harness.distributed import run_distributed

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client, \
            pytest.raises(ValueError, match="GPU resource"):
        run_distributed(["params"], SPLIT, cfg, 2, client, gpu_fraction=0.5)
