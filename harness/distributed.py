"""Score a split on a Dask cluster: one task per shard, merged into the usual results files.

Each task runs :func:`harness.run.score_split` for one shard ``i/N`` on a Dask worker (the
same code as ``pytest harness/ --shard=i/N``) and writes that shard's checkpoints under
``cfg.results_dir`` *on the worker*. The task also returns the checkpoints' contents, and the
client writes them into its own ``cfg.results_dir`` before calling
:func:`harness.run.merge_shards`, so the merge works whether or not the workers share a
filesystem with the client (with a shared results directory the files are already there and
are left untouched). The final results files are the same as those of an unsharded run, apart
from the ``cost`` and ``environment`` fields.

Dask rather than Ray: it installs from PyPI as pure Python, runs a ``LocalCluster`` in-process
for tests, and schedules on abstract worker resources, so ``gpu_fraction=0.25`` lets four
shards share one GPU on a worker started with ``--resources GPU=1 --nthreads 4``.

Command line::

    python -m harness.distributed --local 2 --estimator params,random --split nb201-c10-smoke \\
        --shards 4 --seeds 20
    python -m harness.distributed --scheduler tcp://head:8786 --estimator grad_norm,snip \\
        --split nb201-c10-1k --shards 16 --device cuda --gpu-fraction 0.25

Two caveats (see ``docs/distributed.md``): the per-architecture time limit is not enforced
inside Dask worker threads (it relies on ``SIGALRM``, which only the main thread receives), and
the merge re-scores ``cfg.determinism_checks`` architectures on ``cfg.device`` on the client.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import socket
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import data, registry, results, run
from harness.run import config as run_config
from harness.run.frontend import build_run
from harness.splits import load_split

# ``registry.discover`` imports the estimator modules and is not safe to run concurrently in two
# threads of one worker process (both would see each other's registrations).
_REGISTRY_LOCK = threading.Lock()


@dataclass(frozen=True)
class ShardReport:
    """What one shard task sends back to the client.

    Attributes:
        shard: ``(i, n_shards)``.
        host: the worker's host name.
        wall_s: seconds the task took on the worker.
        checkpoints: estimator name → the text of its shard checkpoint (fingerprint line plus
            one JSON record per scored (architecture, seed)).
    """

    shard: tuple[int, int]
    host: str
    wall_s: float
    checkpoints: dict[str, str]


def _resolve(names: Sequence[str]) -> list:
    with _REGISTRY_LOCK:
        return [registry.get(n) for n in names]


def score_shard(estimators: Sequence[str], split: str, cfg: run.RunConfig, index: int,
                n_shards: int) -> ShardReport:
    """Score shard ``index/n_shards`` of ``split`` (runs on a Dask worker).

    Args:
        estimators: estimator names, scored jointly (shared builds, batches and passes).
        split: split name.
        cfg: the run configuration; its ``shard`` is replaced by ``(index, n_shards)``.
        index: which shard.
        n_shards: how many shards in all.

    Returns:
        The shard's checkpoint contents, for the client to merge.
    """
    t0 = time.perf_counter()
    ests = _resolve(estimators)
    shard_cfg = dataclasses.replace(cfg, shard=(index, n_shards))
    session = run.Session.create(ests, split, shard_cfg)
    with run.isolated(session):
        run.score_split(session)
    tag = f"{index}/{n_shards}"
    texts = {e.name: results.checkpoint_path(cfg.results_dir, e.name, split, tag).read_text()
             for e in ests}
    return ShardReport(shard=(index, n_shards), host=socket.gethostname(),
                       wall_s=time.perf_counter() - t0, checkpoints=texts)


def _store_checkpoints(report: ShardReport, split: str, results_dir: Path) -> None:
    """Write a shard's checkpoints on the client unless identical files are already there."""
    tag = f"{report.shard[0]}/{report.shard[1]}"
    for name, text in report.checkpoints.items():
        path = results.checkpoint_path(results_dir, name, split, tag)
        if path.is_file() and path.read_text() == text:
            continue  # shared filesystem (or a local cluster): the worker wrote it here
        data.atomic_write_bytes(path, lambda fh, text=text: fh.write(text.encode()))


def _check_gpu_resources(client: Any, gpu_fraction: float) -> None:
    """Fail early if workers are connected but none could ever run a GPU task."""
    info = client.scheduler_info
    # Recent versions list only a few workers unless asked for all (n_workers=-1).
    takes_n = "n_workers" in inspect.signature(info).parameters
    workers = (info(n_workers=-1) if takes_n else info())["workers"]
    have = [w.get("resources", {}).get("GPU", 0) for w in workers.values()]
    if have and not any(g >= gpu_fraction for g in have):
        raise ValueError(
            f"gpu_fraction={gpu_fraction:g} needs workers that declare a GPU resource "
            "(dask worker ... --resources GPU=1); none of the "
            f"{len(have)} connected workers does, so the tasks would never start."
        )


def run_distributed(
    estimators: list[str],
    split: str,
    cfg: run.RunConfig,
    n_shards: int,
    client: Any = None,
    gpu_fraction: float | None = None,
    *,
    retries: int = 0,
    progress: bool = False,
) -> dict:
    """Score ``split`` with ``estimators`` as ``n_shards`` Dask tasks and merge the shards.

    Args:
        estimators: estimator names (validated on the client before anything is submitted).
        split: split name.
        cfg: run configuration; ``cfg.shard`` is ignored. ``cfg.results_dir`` is made absolute
            here, and every worker writes its shard checkpoints under that path on its own
            machine (so it must be writable there; a shared filesystem mounted at the same
            path is simplest). ``cfg.resume`` lets a re-submitted shard reuse its checkpoint.
        n_shards: number of shards (tasks); shard ``i`` scores positions ``p % n_shards == i``.
        client: a ``distributed.Client``; ``None`` uses the current default client
            (``distributed.get_client()``).
        gpu_fraction: if given, each task asks for ``{"GPU": gpu_fraction}`` of a worker's
            abstract resources, so ``1 / gpu_fraction`` shards share a worker that declares
            ``GPU=1`` (and has at least that many threads).
        retries: how often Dask re-runs a failed shard task (it resumes from its checkpoint).
        progress: print a line to stderr as each shard finishes.

    Returns:
        Estimator name → its results object, as :func:`harness.run.merge_shards` returns it
        (the results and scores files are written under ``cfg.results_dir`` on the client).

    Raises:
        ImportError: if ``distributed`` is not installed (``pip install 'estbench[distributed]'``).
        registry.UnknownEstimatorError: on an unknown estimator name.
        ValueError: on ``n_shards < 1``, an estimator that does not apply to the split, or a
            GPU fraction that no connected worker can satisfy.
    """
    # lazy: Dask is optional (the `distributed` extra)
    from distributed import as_completed, get_client

    if n_shards < 1:
        raise ValueError(f"n_shards must be >= 1, got {n_shards}")
    if gpu_fraction is not None and not 0 < gpu_fraction <= 1:
        raise ValueError(f"gpu_fraction must be in (0, 1], got {gpu_fraction}")
    ests = _resolve(estimators)
    split_obj = load_split(split)  # fail on the client, not on every worker
    reasons = [r for r in (run.skip_reason(e, split_obj) for e in ests) if r]
    if reasons:
        raise ValueError("; ".join(reasons))
    cfg = dataclasses.replace(cfg, shard=None, results_dir=Path(cfg.results_dir).resolve())
    client = client if client is not None else get_client()
    resources = None
    if gpu_fraction is not None:
        _check_gpu_resources(client, gpu_fraction)
        resources = {"GPU": gpu_fraction}
    names = [e.name for e in ests]
    run_id = uuid.uuid4().hex[:8]
    futures = [
        client.submit(score_shard, names, split, cfg, i, n_shards, key=(
            f"estbench-{split}-shard{i}of{n_shards}-{run_id}"), pure=False,
            resources=resources, retries=retries)
        for i in range(n_shards)
    ]
    done = 0
    try:
        for fut in as_completed(futures):
            report: ShardReport = fut.result()
            _store_checkpoints(report, split, cfg.results_dir)
            done += 1
            if progress:
                sys.stderr.write(f"shard {report.shard[0]}/{n_shards} done on {report.host} "
                                 f"in {report.wall_s:.1f} s ({done}/{n_shards})\n")
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        for fut in futures:
            fut.release()  # the reports are stored; let the workers forget them
    return run.merge_shards(ests, split, cfg, n_shards)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m harness.distributed",
        description="Score a split on a Dask cluster, one task per shard, then merge.")
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--scheduler", help="address of a running scheduler, tcp://host:8786")
    where.add_argument("--local", type=int, metavar="N",
                       help="start a LocalCluster of N single-threaded worker processes")
    run_config.add_to_argparse(ap, "distributed", required=("estimator", "split"))
    ap.add_argument("--shards", type=int, required=True, help="number of shard tasks")
    ap.add_argument("--gpu-fraction", type=float, default=None,
                    help="GPU resource each task asks for (e.g. 0.25: four shards per GPU)")
    ap.add_argument("--retries", type=int, default=0,
                    help="how often Dask re-runs a failed shard task (it resumes)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    args = _parse_args(argv)
    try:
        # lazy: Dask is optional (the `distributed` extra)
        from distributed import Client, LocalCluster
    except ImportError:
        print("error: Dask is not installed; pip install 'estbench[distributed]'",
              file=sys.stderr)
        return 2
    device = args.device or ("cuda" if args.gpu_fraction is not None else "cpu")
    try:
        # The GPUs are the workers', not necessarily the client's: the client validates the
        # run on the CPU and hands the workers the device asked for.
        spec = build_run({**vars(args), "device": "cpu"})
        cfg = dataclasses.replace(spec.config, device=device)
        names = [e.name for e in spec.estimators]
        split_names = [sp.name for sp in spec.splits]
        with contextlib.ExitStack() as stack:
            if args.local is not None:
                if args.local < 1:
                    raise ValueError("--local needs at least one worker")
                # Every local worker may use the machine's GPU: each declares one GPU, so that
                # --gpu-fraction tasks can be placed (the worker count bounds the sharing).
                res = {"GPU": 1} if args.gpu_fraction is not None else None
                target = stack.enter_context(LocalCluster(
                    n_workers=args.local, threads_per_worker=1, processes=True, resources=res,
                    dashboard_address=None))
            else:
                target = args.scheduler
            client = stack.enter_context(Client(target))  # closed before the cluster
            status = 0
            for split_name in split_names:
                out = run_distributed(names, split_name, cfg, args.shards, client,
                                      args.gpu_fraction, retries=args.retries, progress=True)
                status |= run.report(out, split_name)
    except (run_config.UsageError, registry.UnknownEstimatorError, data.DataError, RuntimeError,
            ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"results in {cfg.results_dir}")
    return status


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy: Dask pickles task functions
    # defined in __main__ by value (with their globals), but harness.distributed's by reference.
    from harness.distributed import main as _main

    sys.exit(_main())
