"""The Python API for notebooks: ``harness.evaluate(...)`` scores and returns a result object.

    >>> import harness
    >>> ev = harness.evaluate("relu_logdet", split="nb201-c10-smoke", seeds=(20,))
    >>> ev.metrics["kendall"]            # mean over seeds
    >>> ev.scores.head()                 # arch_id, seed, score, true accuracy (pandas)
    >>> ev.to_json()                     # the results file's text

It runs exactly what ``pytest harness/`` runs (same session, checkpoints, contract checks and
results files) and writes into the user results directory unless told otherwise, so a run
resumes and leaves the repository clean.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness import results
from harness.run import RunConfig, run
from harness.run.frontend import build_run


@dataclass(frozen=True)
class Evaluation:
    """One estimator on one split.

    Attributes:
        result: the typed results file (:class:`harness.results.ResultFile`).
        scores: a pandas DataFrame with columns ``arch_id``, ``seed``, ``score``, ``accuracy``
            (the split's ground truth; never shown to the estimator, joined here afterwards).
        path: where the results file was written.
    """

    result: results.ResultFile
    scores: Any
    path: Path

    @property
    def metrics(self) -> dict[str, float | None]:
        """Mean over seeds of every criterion; empty when the contract failed."""
        return dict(self.result.metrics.mean) if self.result.metrics is not None else {}

    @property
    def contract_ok(self) -> bool:
        return self.result.contract_ok

    def to_json(self) -> str:
        return self.result.to_json()


def evaluate(estimator: str, split: str = "nb201-c10-smoke", *,
             seeds: Sequence[int] = RunConfig.seeds, batch_size: int = RunConfig.batch_size,
             batches: int = RunConfig.n_batches, device: str | None = None,
             data_dir: str | os.PathLike | None = None,
             results_dir: str | os.PathLike | None = None,
             options: dict[str, Any] | None = None,
             resume: bool = RunConfig.resume) -> Evaluation:
    """Score ``split`` with ``estimator`` and return the result.

    Args:
        estimator: a registered estimator name.
        split: a split name (the smoke splits take seconds to minutes on a CPU).
        seeds: the seeds.
        batch_size, batches: images per batch and batches per seed.

    The defaults are those declared on :class:`harness.run.RunConfig`, as for every front end.
        device: ``cpu`` or ``cuda`` (default: cuda when available).
        data_dir: the benchmark data directory (default ``$ESTBENCH_DATA``).
        results_dir: where results go (default: the user results directory).
        options: estimator options (``{"epochs": 200}``); unknown keys are an error.
        resume: reuse a checkpoint of an interrupted run with the same settings.

    Raises:
        harness.run.UsageError: on an unknown name, a bad option or missing data.
    """

    values = {"estimator": estimator, "split": split, "seeds": ",".join(map(str, seeds)),
              "batch_size": batch_size, "batches": batches, "device": device,
              "data_dir": None if data_dir is None else str(data_dir),
              "results_dir": None if results_dir is None else str(results_dir),
              "resume": resume,
              "estimator_option": [f"{k}={v}" for k, v in (options or {}).items()]}
    spec = build_run(values)
    est, sp = spec.estimators[0], spec.splits[0]
    cfg = dataclasses.replace(spec.config, options=dict(options or {}))
    res = run([est], sp, cfg)[est.name]
    path = results.results_path(cfg.results_dir, est.name, sp.name)
    rows = results.read_scores(results.scores_path(cfg.results_dir, est.name, sp.name))
    truth = dict(zip(sp.arch_ids, sp.ground_truth(cfg.data_dir)))
    frame = pd.DataFrame(rows, columns=["arch_id", "seed", "score"])
    frame["accuracy"] = frame["arch_id"].map(truth)
    return Evaluation(res, frame, path)
