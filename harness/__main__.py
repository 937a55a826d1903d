"""Command-line helpers around the pytest harness.

``python -m harness merge --estimator=a,b --split=S --shards=N`` combines shard checkpoints
(from ``pytest harness/ --shard=i/N`` runs, possibly on other machines with the same
``--results-dir`` contents copied together) into the final results files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness")
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("merge", help="merge shard checkpoints into results files")
    m.add_argument("--estimator", required=True)
    m.add_argument("--split", required=True)
    m.add_argument("--shards", type=int, required=True)
    m.add_argument("--seeds", default="20,2020,202020")
    m.add_argument("--batches", type=int, default=1)
    m.add_argument("--batch-size", type=int, default=64)
    m.add_argument("--device", default="cpu")
    m.add_argument("--data-dir", default=None)
    m.add_argument("--results-dir", default="leaderboard/results")
    m.add_argument("--threads", type=int, default=1)
    m.add_argument("--estimator-option", action="append", default=[],
                   help="key=value passed to estimators (as in the pytest option)")
    m.add_argument("--weights", default="init",
                   help="init or a one-shot estimator supplying trained weights (as in the "
                        "pytest option; pass the same --results-dir the shards used)")
    m.add_argument("--curve", action="store_true",
                   help="one-shot: also score earlier checkpoints (as in the pytest option)")
    args = ap.parse_args(argv)

    from harness import data, registry, runner

    try:
        ests = registry.resolve(args.estimator)
        cfg = runner.RunConfig(
            seeds=tuple(int(s) for s in args.seeds.split(",") if s.strip()),
            n_batches=args.batches, batch_size=args.batch_size, device=args.device,
            data_dir=str(data.resolve_data_dir(args.data_dir)),
            results_dir=Path(args.results_dir).resolve(), threads=args.threads,
            options=runner.parse_options(args.estimator_option), curve=args.curve,
            weights=args.weights,
        )
        out = runner.merge_shards(ests, args.split, cfg, args.shards)
    except (registry.UnknownEstimatorError, data.DataError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return runner.report(out, args.split)


if __name__ == "__main__":
    sys.exit(main())
