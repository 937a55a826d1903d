"""The runner: scoring a split with estimators, checking their contract, writing results.

Modules, in the order a run goes through them:

* :mod:`~harness.run.config` -- :class:`RunConfig` and the one declaration of every option;
* :mod:`~harness.run.resolve` -- the weights source of a run and why an estimator does not
  apply to a split (shared by the core and the front ends);
* :mod:`~harness.run.frontend` -- command-line values → a validated run (shared by pytest,
  ``python -m harness merge`` and ``harness.distributed``);
* :mod:`~harness.run.session` -- :class:`Session`: split, space, specs, batches and prepared
  states, each built once;
* :mod:`~harness.run.scoring` -- calling estimators under the contract; scoring a split;
* :mod:`~harness.run.journal` -- the checkpoint journal (resume, re-sharding, no silent loss);
* :mod:`~harness.run.environment` -- the numeric environment of a score;
* :mod:`~harness.run.determinism` -- re-scoring a few cells alone;
* :mod:`~harness.run.curves` -- what one-shot states loaded, and training curves;
* :mod:`~harness.run.finalize` -- ground truth, metrics, bias, cost → the results file;
* :mod:`~harness.run.pipeline` -- run and merge.

The runner scores first and loads ground truth only afterwards, inside finalize; nothing handed
to an estimator can reach accuracies. Several estimators run together share each network's
build, each batch's decode and transfer, and any pass they compute through
:meth:`harness.api.ArchContext.shared`; scores are identical to running each alone (the
determinism check re-scores a few architectures alone to verify).
"""

from harness.run.config import PAPER_SEEDS, RunConfig, UsageError, parse_options
from harness.run.determinism import check_determinism
from harness.run.environment import NumericEnvironment, current_environment
from harness.run.finalize import IncompleteRun, finalize
from harness.run.isolation import isolated
from harness.run.journal import (
    Checkpoint,
    CheckpointMismatch,
    Record,
    read_checkpoint,
)
from harness.run.pipeline import MergeError, merge_shards, report, run, run_session
from harness.run.resolve import skip_reason
from harness.run.scoring import EstimatorBroken, score_cell, score_split
from harness.run.session import WEIGHTS_KEY, PrepareTimeout, Session, shard_positions

__all__ = [
    "PAPER_SEEDS", "WEIGHTS_KEY", "Checkpoint", "CheckpointMismatch", "EstimatorBroken",
    "IncompleteRun", "MergeError", "NumericEnvironment", "PrepareTimeout", "Record",
    "RunConfig", "Session",
    "UsageError", "check_determinism", "isolated", "current_environment", "finalize",
    "merge_shards",
    "parse_options", "read_checkpoint", "report", "run", "run_session", "score_cell",
    "score_split", "shard_positions", "skip_reason",
]
