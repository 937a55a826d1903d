"""Finalize: from the records of a scored split to the results file.

Ground truth is loaded here, after all scoring, and never reaches an estimator. A
population-level estimator's aggregation runs here too, after every cell (of every shard) is
scored, and sees only component scores and specs.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import platform
import resource
from collections.abc import Sequence

import numpy as np
import torch

from harness import api, bias, metrics, results, sandbox, trust
from harness.run.complexity import complexity_table
from harness.run.config import RunConfig
from harness.run.curves import prepared_and_curve
from harness.run.environment import device_name, git_commit
from harness.run.journal import Record, Records
from harness.run.session import Session, own_options, weights_record
from harness.run.stored import STORED_ORIGIN
from harness.splits import Split
from harness.uncertainty import bootstrap_metrics

NONFINITE_RULE = (
    "A score that is NaN/inf, not a real number, or whose computation raised or timed out is "
    "recorded as null, counted in n_nonfinite (or n_errors) and fails the contract; a result "
    "whose contract fails has no metrics."
)


class IncompleteRun(RuntimeError):
    """Some (architecture, seed) pairs of the split have no record yet."""


def aggregate_scores(est: api.Estimator, session: Session, records: Records,
                     seed: int) -> list[float | None]:
    """Final scores of seed ``seed`` in split order: ``est``'s aggregation over the split's
    outputs (for a scalar estimator, the identity over its scores)."""
    ids = session.split.arch_ids
    outs = [records[(a, seed)].outputs() for a in ids]
    comps = {c: np.array([np.nan if o.get(c) is None else o[c] for o in outs],
                         dtype=np.float64) for c in est.outputs}
    for arr in comps.values():
        arr.setflags(write=False)
    pop = api.Population(components=comps, specs=tuple(session.specs),
                         space=session.split.benchmark, dataset=session.split.dataset, seed=seed)
    aggregation = est.aggregation
    if isinstance(aggregation, sandbox.RemoteAggregate):
        # Untrusted code: in a guarded worker that protects this run's data directory.
        aggregation = dataclasses.replace(aggregation, data_dir=session.cfg.data_dir)
    out = np.asarray(aggregation(pop), dtype=np.float64)
    if out.shape != (len(ids),):
        raise ValueError(f"{est.name}: aggregate returned shape {out.shape}, not ({len(ids)},)")
    failed = {a for a in ids if records[(a, seed)].failure}
    return [None if a in failed or not np.isfinite(v) else float(v) for a, v in zip(ids, out)]


def summarize_seeds(values: list[dict]) -> tuple[dict, dict]:
    """Mean and sample standard deviation over seeds of every metric (``None`` if undefined)."""
    mean, std = {}, {}
    for k in values[0]:
        vs = [v[k] for v in values if v[k] is not None]
        mean[k] = float(np.mean(vs)) if vs else None
        std[k] = float(np.std(vs, ddof=1)) if len(vs) >= 2 else None
    return mean, std


def seed_metrics(per_seed_scores: dict[int, np.ndarray], truth: np.ndarray) -> results.Metrics:
    """Every criterion per seed, mean and std over seeds, and the bootstrap over architectures
    (95 % intervals and the stored samples that pair estimators for rank groups)."""
    per_seed = {str(s): metrics.all_metrics(v, truth) for s, v in per_seed_scores.items()}
    mean, std = summarize_seeds(list(per_seed.values()))
    return results.Metrics(per_seed, mean, std,
                           bootstrap_metrics(list(per_seed_scores.values()), truth))


def _cost(cfg: RunConfig, records: Records, ids: Sequence[int],
          joint_with: Sequence[str]) -> results.Cost:
    # Records taken over from a stored result have no timing: the cost is that of the cells
    # scored by the harness (at least the three probes of every taken-over seed).
    timed = [records[(a, s)] for s in cfg.seeds for a in ids
             if records[(a, s)].origin != STORED_ORIGIN]
    walls = np.array([r.wall_s for r in timed])
    gpus = [r.gpu_s for r in timed]
    taken = {}
    for s in cfg.seeds:
        n = sum(records[(a, s)].origin == STORED_ORIGIN for a in ids)
        if n:
            taken[s] = n
    note = ("seconds per (architecture, seed) over all batches; in joint mode a shared pass "
            "is charged to the first estimator that asked for it")
    if taken:
        said = ", ".join(f"{n} of seed {s}" for s, n in taken.items())
        note += (f"; {said} (architecture, seed) scores were taken over from the stored result "
                 "after three cells of each seed re-scored to the same bits (within 10 % for "
                 "scores from another CPU kind, which keep their environment), so the timings "
                 f"are of the other {len(timed)}")
    on_cuda = torch.device(cfg.device).type == "cuda"
    return results.Cost(
        wall_s_per_arch_median=float(np.median(walls)),
        wall_s_per_arch_p90=float(np.percentile(walls, 90)),
        wall_s_per_arch_mean=float(np.mean(walls)),
        gpu_s_per_arch_median=float(np.median([g for g in gpus if g is not None]))
        if on_cuda and any(g is not None for g in gpus) else None,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        peak_cuda_mb=torch.cuda.max_memory_allocated() / 2**20 if on_cuda else None,
        device=torch.device(cfg.device).type,
        mode="joint" if joint_with else "alone",
        joint_with=sorted(joint_with),
        note=note)


def _bias(session: Session, per_seed_scores: dict[int, np.ndarray], truth: np.ndarray,
          per_seed_tau: dict[int, float | None]) -> dict:
    mean_scores = np.mean(np.stack(list(per_seed_scores.values())), axis=0)
    params, flops = complexity_table(session.split, session.cfg)
    counts_list = [session.space.op_counts(sp) for sp in session.specs]
    ops = sorted({k for c in counts_list for k in c})
    counts = {op: np.array([c.get(op, 0) for c in counts_list], dtype=np.float64) for op in ops}
    return {
        "complexity": bias.complexity_bias(mean_scores, truth, params, flops),
        "operation": bias.operation_bias(mean_scores, truth, counts),
        "seed_variance": bias.seed_variance(per_seed_scores, per_seed_tau),
        "note": "complexity and operation bias use the score averaged over seeds",
    }


def source_sha256(est: api.Estimator) -> str | None:
    """SHA-256 of the estimator's source file as it is now (``None`` where there is none)."""
    path = est.source_file
    try:
        return results.file_sha256(path) if path is not None else None
    except OSError:
        return None


def code_sha256(est: api.Estimator) -> str | None:
    """The fingerprint of the estimator's code as it is now (:func:`harness.trust.code_sha256`;
    ``None`` where there is no readable Python source)."""
    path = est.source_file
    try:
        return trust.code_sha256(path) if path is not None else None
    except (OSError, SyntaxError, ValueError):
        return None


def _meta(est: api.Estimator, split: Split) -> tuple[results.EstimatorMeta, results.SplitMeta]:
    info = est.info
    paper = None if info.paper is None else results.PaperMeta(
        info.paper.title, info.paper.url, info.paper.bibtex)
    return (results.EstimatorMeta(info.name, info.version, info.kind, info.idea, paper,
                                  list(info.components), source_sha256(est), code_sha256(est)),
            results.SplitMeta(split.name, split.version, split.sha256, split.benchmark,
                              split.dataset, len(split), split.truth_column,
                              split.truth_aggregate))


def training_cost(prepared: dict | None, n_archs: int) -> dict | None:
    """A one-shot estimator's training, amortised over the architectures it ranks: the mean
    over seeds of the supernet's training CPU-seconds (from each prepared state's
    ``describe()['training']``), divided by the number of ranked architectures."""
    runs = [d.get("training") for d in (prepared or {}).values() if isinstance(d, dict)]
    runs = [r for r in runs if r]
    if not runs:
        return None
    cpu = float(np.mean([r["cpu_s"] for r in runs]))
    return {"cpu_s_per_run": cpu, "wall_s_per_run": float(np.mean([r["wall_s"] for r in runs])),
            "epochs": runs[0]["epochs"], "runs": len(runs), "n_archs": n_archs,
            "cpu_s_per_arch": cpu / n_archs, "devices": sorted({d for r in runs
                                                                for d in r["devices"]}),
            "note": "supernet training CPU-seconds (mean over seeds) / architectures ranked; "
                    "add wall_s_per_arch_* (scoring) for the full cost per architecture"}


def finalize(session: Session, est: api.Estimator, records: Records,
             determinism: results.Determinism | None = None) -> results.ResultFile:
    """Compute metrics, bias and cost from the records and write the results files."""
    cfg, split = session.cfg, session.split
    ids = list(split.arch_ids)
    missing = [(a, s) for s in cfg.seeds for a in ids if (a, s) not in records]
    if missing:
        seeds_there = sorted({s for (_a, s) in records})
        raise IncompleteRun(
            f"{len(missing)} (arch, seed) pairs of {est.name} on {split.name} are not scored "
            f"yet (first: {missing[:3]}). The checkpoints hold seeds {seeds_there}; this merge "
            f"asked for seeds {list(cfg.seeds)} -- pass the shards' --seeds, or run the "
            "remaining shards first.")
    final = {s: aggregate_scores(est, session, records, s) for s in cfg.seeds}
    failures: list[results.Failure] = []
    nonfinite: set[int] = set()
    for s in cfg.seeds:
        for a, v in zip(ids, final[s]):
            r: Record = records[(a, s)]
            if r.failure == "value" or (r.failure is None and v is None):
                nonfinite.add(a)
            elif r.failure is not None:
                failures.append(results.Failure(a, s, r.failure, (r.error or "")[-2000:]))
    problems = list(determinism.problems) if determinism is not None else []
    if nonfinite:
        problems.append(f"{len(nonfinite)} architecture(s) with a non-finite or non-float "
                        f"score, first arch ids {sorted(nonfinite)[:10]}")
    if failures:
        problems.append(f"{len(failures)} scoring call(s) raised or timed out; first: arch "
                        f"{failures[0].arch_id} seed {failures[0].seed}")
    metrics_obj, bias_obj, curve, prepared = None, None, None, None
    if not problems:
        truth = split.ground_truth(cfg.data_dir)  # loaded only now, after all scoring
        per_seed_scores = {s: np.array(final[s], dtype=np.float64) for s in cfg.seeds}
        metrics_obj = seed_metrics(per_seed_scores, truth)
        per_seed = metrics_obj.per_seed
        bias_obj = _bias(session, per_seed_scores, truth,
                         {s: per_seed[str(s)]["kendall"] for s in cfg.seeds})
        prepared, curve = prepared_and_curve(session, est, per_seed_scores, truth)
    elif est.prepare is not None:
        prepared, _ = prepared_and_curve(session, est, None, None)
    est_meta, split_meta = _meta(est, split)
    joint = [e.name for e in session.estimators if e.name != est.name]
    on_cuda = torch.device(cfg.device).type == "cuda"
    result = results.ResultFile(
        schema_version=results.SCHEMA_VERSION, generated_by=results.GENERATED_BY,
        estimator=est_meta, split=split_meta,
        protocol=results.Protocol(list(cfg.seeds), cfg.n_batches, cfg.batch_size, "train",
                                  "cross_entropy", NONFINITE_RULE, own_options(est, cfg),
                                  weights_record(session), session.scoring_key(est)),
        status="complete", n_archs=len(ids), n_nonfinite=len(nonfinite),
        nonfinite_arch_ids=sorted(nonfinite)[:100], n_errors=len(failures),
        errors=failures[:20], contract_ok=not problems, contract_problems=problems,
        determinism=determinism, metrics=metrics_obj, bias=bias_obj,
        cost=dataclasses.replace(_cost(cfg, records, ids, joint),
                                 training=training_cost(prepared, len(ids))),
        environment=results.RunEnvironment(
            torch=torch.__version__, python=platform.python_version(),
            harness_commit=git_commit(),
            date=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            device_name=device_name(cfg.device), threads=torch.get_num_threads(),
            platform=platform.platform(),
            cudnn={"benchmark": torch.backends.cudnn.benchmark,
                   "deterministic": torch.backends.cudnn.deterministic} if on_cuda else None),
        scores_file=results.scores_path(cfg.results_dir, est.name, split.name).name,
        scores_sha256="", prepared=prepared, curve=curve)
    rows = [(a, s, v) for s in cfg.seeds for a, v in zip(ids, final[s])]
    comps = ({(a, s): records[(a, s)].components for s in cfg.seeds for a in ids}
             if est.info.population_level else None)
    result.scores_sha256 = results.write_scores(
        results.scores_path(cfg.results_dir, est.name, split.name), rows, comps,
        est.info.components)
    results.write_result(results.results_path(cfg.results_dir, est.name, split.name), result)
    return result
