"""#params and MACs per architecture of a split, for the complexity-bias analysis.

Cached on disk by split hash under ``<cache_dir>/complexity/``: counting 1,000 networks takes
a while, and the numbers never change for a given split file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness import data
from harness.flops import count_macs
from harness.run.config import RunConfig
from harness.spaces import get_space
from harness.splits import Split


def complexity_table(split: Split, cfg: RunConfig) -> tuple[np.ndarray, np.ndarray]:
    """(#params, MACs) per architecture of ``split``, in split order."""
    path = Path(cfg.cache_dir) / "complexity" / f"{split.name}-{split.sha256[:16]}.json"
    if path.is_file():
        try:
            obj = json.loads(path.read_text())
            return np.array(obj["params"], dtype=np.float64), np.array(obj["flops"], np.float64)
        except (ValueError, KeyError, OSError):
            pass
    space = get_space(split.benchmark)
    side = space.input_size.get(split.dataset, 32)
    n_classes = space.datasets[split.dataset]
    params, flops = [], []
    for spec in split.specs(cfg.data_dir):
        if space.complexity is not None:  # the benchmark's own figures
            n_params, n_flops = space.complexity(spec, n_classes)
        else:
            # Shapes are all that counting needs: the meta device skips allocation and compute.
            net = (space.meta_builder(spec, n_classes) if space.meta_builder is not None
                   else space.build(spec, split.dataset, 0))
            n_params = sum(p.numel() for p in net.parameters() if p.requires_grad)
            n_flops = count_macs(net, (1, 3, side, side))
        params.append(int(n_params))
        flops.append(int(n_flops))
    text = json.dumps({"params": params, "flops": flops})
    try:
        data.atomic_write_bytes(path, lambda fh: fh.write(text.encode()))
    except OSError:
        pass
    return np.array(params, dtype=np.float64), np.array(flops, dtype=np.float64)
