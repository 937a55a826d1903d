"""What a front end prints after a run: the results table, the comparison with the committed
result, and the command that continues a sharded run."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from tabulate import tabulate

from harness import results
from harness.run.config import COMMITTED_RESULTS_DIR, PAPER_SEEDS, RunConfig
from harness.run.environment import NumericEnvironment

REPO_ROOT = Path(__file__).resolve().parents[2]


def committed_results_dir() -> Path:
    """The repository's committed results (``leaderboard/results`` of this checkout)."""
    return REPO_ROOT / COMMITTED_RESULTS_DIR


def _fmt(m: dict, sd: dict, key: str) -> str:
    if m.get(key) is None:
        return "—"
    return f"{m[key]:+.3f}" + (f" ± {sd[key]:.3f}" if sd.get(key) is not None else "")


def _with_ci(res: results.ResultFile, key: str) -> str:
    """The mean over seeds with its bootstrap 95 % interval over architectures."""
    m = res.metrics.mean if res.metrics else {}
    if m.get(key) is None:
        return "—"
    ci = (res.metrics.bootstrap or {}).get(key) if res.metrics else None
    return f"{m[key]:+.3f}" + (f" [{ci['lo']:+.3f}, {ci['hi']:+.3f}]" if ci else "")


def _seed_sd(res: results.ResultFile) -> str:
    """The spread of τ over seeds (a different quantity from the interval)."""
    sd = res.metrics.std.get("kendall") if res.metrics else None
    n = len(res.protocol.seeds)
    return "—" if sd is None or n < 2 else f"{sd:.3f} ({n} seeds)"


def compare_with_committed(res: results.ResultFile, results_dir: Path) -> str | None:
    """One line comparing a local result with the committed one of the same estimator
    version and split, or ``None`` when there is none (or this run wrote it)."""
    here = committed_results_dir()
    if Path(results_dir).resolve() == here.resolve():
        return None
    path = results.results_path(here, res.estimator.name, res.split.name)
    try:
        old = results.load_result(path)
    except results.ResultsSchemaError:
        return None
    if (old.estimator.version != res.estimator.version or old.split.sha256 != res.split.sha256
            or old.metrics is None or res.metrics is None):
        return None
    mine = {(a, s): v for a, s, v in results.read_scores(
        results.scores_path(results_dir, res.estimator.name, res.split.name))}
    theirs = {(a, s): v for a, s, v in results.read_scores(path.with_name(old.scores_file))}
    common = [k for k in mine if k in theirs and mine[k] is not None and theirs[k] is not None]
    rel = max((abs(mine[k] - theirs[k]) / max(abs(theirs[k]), 1e-300) for k in common),
              default=0.0)
    envs = "; ".join(f"{e.n_scores} in {_env_text(e.environment)}"
                     for e in (old.determinism.environments if old.determinism else []))
    return (f"  vs committed: τ {old.metrics.mean['kendall']:+.4f} (committed) / "
            f"{res.metrics.mean['kendall']:+.4f} (this run); {len(common)} common scores, "
            f"largest relative difference {rel:.2g}"
            + (f" (committed scores computed {envs})" if envs else ""))


def _env_text(env: dict | None) -> str:
    return "an unrecorded environment" if env is None else \
        NumericEnvironment.from_dict(env).describe()


def summary_lines(cfg: RunConfig, cases: Sequence[tuple]) -> list[str]:
    """The results table of a finished run (one row per result file written)."""
    rows, notes = [], []
    for est, split in cases:
        path = results.results_path(cfg.results_dir, est.name, split)
        try:
            res = results.load_result(path)
        except results.ResultsSchemaError:
            continue
        m = res.metrics.mean if res.metrics else {}
        sd = res.metrics.std if res.metrics else {}
        rows.append([est.name, split, _with_ci(res, "kendall"), _seed_sd(res),
                     _with_ci(res, "spearman"), _fmt(m, sd, "p_top_5"),
                     f"{res.cost.wall_s_per_arch_median:.3f}", res.n_nonfinite + res.n_errors,
                     "ok" if res.contract_ok else "FAILED"])
        line = compare_with_committed(res, cfg.results_dir)
        if line:
            notes.append(f"{est.name} on {split}:" + line)
    if not rows:
        return []
    table = tabulate(rows, headers=["estimator", "split", "Kendall τ [95 % CI]", "τ seed sd",
                                    "Spearman ρ [95 % CI]", "P@top5% ± seed sd", "s/arch",
                                    "failed", "contract"], tablefmt="simple")
    legend = ("[95 % CI]: percentile bootstrap over architectures (how sure the value is on "
              "this split); seed sd: spread of τ over initialisation seeds")
    out = table.splitlines() + [legend] + notes + [f"results in {cfg.results_dir}"]
    if cfg.results_dir.resolve() != committed_results_dir().resolve():
        out.append(f"preview them on the leaderboard: python -m leaderboard preview "
                   f"--results-dir {shlex.quote(str(cfg.results_dir))}")
    return out


def shard_hint(cfg: RunConfig, estimators: Sequence[str], splits: Sequence[str]) -> str:
    """The complete merge command for a sharded run's settings."""
    i, n = cfg.shard or (0, 1)
    parts = ["python -m harness merge", f"--estimator={','.join(estimators)}",
             f"--split={','.join(splits)}", f"--shards={n}",
             f"--results-dir={shlex.quote(str(cfg.results_dir))}"]
    if tuple(cfg.seeds) != PAPER_SEEDS:
        parts.append(f"--seeds={','.join(map(str, cfg.seeds))}")
    if cfg.n_batches != 1:
        parts.append(f"--batches={cfg.n_batches}")
    if cfg.batch_size != 64:
        parts.append(f"--batch-size={cfg.batch_size}")
    parts.append(f"--device={cfg.device}")
    if cfg.threads != 1:
        parts.append(f"--threads={cfg.threads}")
    parts += [f"--estimator-option {shlex.quote(f'{k}={v}')}" for k, v in cfg.options.items()]
    if cfg.weights != "init":
        parts.append(f"--weights={cfg.weights}")
    if cfg.curve:
        parts.append("--curve")
    return (f"shard {i}/{n} scored and checkpointed in {cfg.results_dir}; when every shard is "
            f"done: " + " ".join(parts))
