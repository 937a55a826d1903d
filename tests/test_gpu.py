"""Checks that need a CUDA device (marker ``gpu``; skipped without one). Run them with
``bash .ci/gpu-checks`` on a machine with a GPU.

What a GPU changes is the numeric environment, so these check what must survive it: the
contract (every score finite, determinism within the device), agreement with the CPU scores
as rankings (not bits: kernels differ), and that one-shot training steps run on the device.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

SPLIT = "nb201-c10-smoke"


@pytest.mark.parametrize("name", ["params", "synflow", "grad_norm", "relu_logdet"])
def test_cuda_scores_keep_the_contract_and_the_cpu_ranking(name, data_dir, tmp_path):
    import harness

    evs = {dev: harness.evaluate(name, SPLIT, seeds=(20,), device=dev, data_dir=data_dir,
                                 results_dir=tmp_path / dev) for dev in ("cpu", "cuda")}
    assert evs["cuda"].contract_ok, evs["cuda"].result.contract_problems
    assert evs["cuda"].result.determinism.equal == evs["cuda"].result.determinism.checked
    cpu = evs["cpu"].scores.sort_values("arch_id")["score"].to_numpy()
    gpu = evs["cuda"].scores.sort_values("arch_id")["score"].to_numpy()
    assert np.isfinite(gpu).all()
    # The same ranking up to float32 kernel differences (ties of params stay ties).
    assert stats.kendalltau(cpu, gpu).statistic > 0.98


def test_supernet_training_steps_run_on_cuda(data_dir, tmp_path):
    from harness.oneshot.__main__ import main

    code = main(["bench", "--device", "cuda", "--steps", "3", "--archs", "3", "--subset", "1024",
                 "--data-dir", str(data_dir), "--cache-dir", str(tmp_path)])
    assert code == 0
