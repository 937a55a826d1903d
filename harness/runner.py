"""Scoring a split with one or more estimators: checkpoints, contract checks, metrics, results.

The runner scores first and loads ground truth only afterwards, inside :func:`finalize`;
nothing handed to an estimator can reach accuracies.

Several estimators run together share each network's build, each batch's decode and transfer,
and any pass they compute through :meth:`harness.api.ArchContext.shared`; scores are identical
to running each alone (the determinism check re-scores a few architectures alone to verify).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import platform
import resource
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness import api, bias, data, metrics, results
from harness.spaces import get_space
from harness.splits import Split, load_split

PAPER_SEEDS: tuple[int, ...] = (20, 2020, 202020)
NONFINITE_RULE = (
    "A score that is NaN/inf, not a real number, or whose computation raised or timed out is "
    "recorded as null, counted in n_nonfinite (or n_errors) and fails the contract; for the "
    "metrics such architectures are ranked below every finite score (tied with each other)."
)


@dataclass(frozen=True)
class RunConfig:
    """How a split is scored.

    Attributes:
        seeds: initialisation / batch-order seeds (the paper's 20, 2020, 202020).
        n_batches: batches per seed; the score is the mean over batches.
        batch_size: images per batch.
        device: ``"cpu"`` or ``"cuda"``.
        data_dir: benchmark data directory (default ``$ESTBENCH_DATA``).
        results_dir: where results and checkpoints go.
        resume: reuse a compatible checkpoint instead of re-scoring.
        arch_timeout_s: per-architecture time limit; exceeding it is a recorded failure.
        determinism_checks: architectures re-scored alone to verify bitwise reproducibility.
        threads: torch CPU threads (1 = reproducible and best for parallel workers).
        shard: ``(i, n)`` to score only positions ``p`` of the split with ``p % n == i``.
        cache_dir: for complexity tables and one-shot checkpoints.
        curve: also score every earlier checkpoint a prepared state offers
            (``checkpoints()``/``at_checkpoint``) and record the metrics per checkpoint.
        weights: ``"init"`` (random initialisation from the seed, the default) or the name of
            a one-shot estimator whose prepared supernet supplies every network's weights
            (the paper's RQ4: zero-shot estimators on trained weights). Its run is chosen by
            the same ``options`` (``epochs``, ``checkpoint_epoch``, ``sharing``, ...).
    """

    seeds: tuple[int, ...] = PAPER_SEEDS
    n_batches: int = 1
    batch_size: int = 64
    device: str = "cpu"
    data_dir: str | None = None
    results_dir: Path = Path("leaderboard/results")
    resume: bool = True
    arch_timeout_s: float = 600.0
    determinism_checks: int = 3
    threads: int | None = 1
    shard: tuple[int, int] | None = None
    cache_dir: Path = field(default_factory=lambda: data._cache_dir())
    options: dict = field(default_factory=dict)
    curve: bool = False
    weights: str = "init"


@dataclass
class Record:
    """One estimator's outcome for one (architecture, seed)."""

    arch_id: int
    seed: int
    score: float | None
    error: str | None
    wall_s: float
    gpu_s: float | None = None
    # Where the score was computed (:func:`environment_key`); None in checkpoints written
    # before the key was recorded. Bitwise reproducibility holds only within one environment.
    env: str | None = None

    def to_json(self) -> str:
        return json.dumps(self.__dict__, allow_nan=False)


class ArchTimeout(Exception):
    """Raised inside a scoring call that exceeded the per-architecture limit."""


class ContractError(AssertionError):
    """The estimator broke the contract (raised, non-finite, non-deterministic...)."""


ProgressFn = Callable[[str, int, int, float], None]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def parse_options(items: Sequence[str]) -> dict:
    """``["k=v", ...]`` → ``{"k": v}`` with ints, floats and true/false converted."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"estimator option must look like key=value, not {item!r}")
        value: Any = raw
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        else:
            for conv in (int, float):
                try:
                    value = conv(raw)
                    break
                except ValueError:
                    pass
        out[key.strip()] = value
    return out


def skip_reason(est: api.Estimator, split: Split) -> str | None:
    """Why ``est`` cannot be scored on ``split`` (``None`` if it can)."""
    if not est.info.applies_to(split.benchmark):
        return (f"{est.name} does not apply to {split.benchmark}: "
                f"{est.info.skip_reason or 'not supported by the estimator'}")
    if est.info.needs_images and not split.images_available:
        return (f"{est.name} needs {split.dataset} images, which do not ship with estbench "
                "(only CIFAR-10 does); the split's ground truth is available for image-free "
                "estimators.")
    return None


def _fingerprint(est: api.Estimator, split: Split, cfg: RunConfig) -> dict:
    return {
        "estimator": est.name,
        "estimator_version": est.info.version,
        "split": split.name,
        "split_sha256": split.sha256,
        "n_batches": cfg.n_batches,
        "batch_size": cfg.batch_size,
        "device_type": torch.device(cfg.device).type,
        "options": cfg.options,
        **({"weights": cfg.weights} if cfg.weights != "init" else {}),
    }


def read_checkpoint(path: Path, fingerprint: dict) -> dict[tuple[int, int], Record] | None:
    """The records of the checkpoint at ``path``, or None when it is missing or was made with
    another fingerprint. A torn line (a kill mid-write, or a writer still appending) is skipped.
    """
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    try:
        header = json.loads(lines[0]) if lines else None
    except ValueError:
        header = None
    if header != {"fingerprint": fingerprint}:
        return None
    out: dict[tuple[int, int], Record] = {}
    for line in lines[1:]:
        try:
            rec = Record(**json.loads(line))
        except (ValueError, TypeError):
            continue
        out[(rec.arch_id, rec.seed)] = rec
    return out


def _other_checkpoint_records(own: Path, results_dir: Path, est_name: str, split_name: str,
                              fingerprint: dict) -> dict[tuple[int, int], Record]:
    """Records of every other checkpoint of ``est_name`` on ``split_name`` (any sharding)
    made with ``fingerprint``, so that a split can be re-sharded mid-run: shards ``1/4`` and
    ``3/4`` started beside an unfinished ``1/2`` take over what it already scored, and the
    merge of ``0/2, 1/2`` fills ``1/2``'s gaps from them."""
    out: dict[tuple[int, int], Record] = {}
    for path in results.checkpoint_paths(results_dir, est_name, split_name):
        if path.resolve() != Path(own).resolve():
            out.update(read_checkpoint(path, fingerprint) or {})
    return out


class Checkpoint:
    """Append-only JSONL of :class:`Record`; the first line is the run's fingerprint.

    Every record is flushed and fsync'ed as soon as it is computed, so a run killed at any
    moment loses at most the architecture in flight. A truncated last line (killed mid-write)
    is ignored on resume.
    """

    def __init__(self, path: Path, fingerprint: dict, resume: bool):
        self.path = path
        self.records: dict[tuple[int, int], Record] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume:
            self.records = read_checkpoint(path, fingerprint) or {}
        # Rewrite cleanly (drops a torn last line) before appending.
        self._rewrite(fingerprint)
        self._fh = open(path, "a")

    def adopt(self, records: dict[tuple[int, int], Record],
              wanted: set[tuple[int, int]]) -> int:
        """Append the ``wanted`` records this checkpoint lacks (taken from another checkpoint
        of the same fingerprint); returns how many were adopted."""
        n = 0
        for key in sorted(wanted - self.records.keys()):
            if key in records:
                self.add(records[key])
                n += 1
        return n

    def _rewrite(self, fingerprint: dict) -> None:
        text = json.dumps({"fingerprint": fingerprint}) + "\n"
        text += "".join(r.to_json() + "\n" for r in self.records.values())
        data.atomic_write_bytes(self.path, lambda fh: fh.write(text.encode()))

    def add(self, rec: Record) -> None:
        self.records[(rec.arch_id, rec.seed)] = rec
        self._fh.write(rec.to_json() + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


def _alarm_supported() -> bool:
    import threading

    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _call_with_timeout(fn: Callable[[], Any], timeout: float) -> Any:
    """Run ``fn`` with a SIGALRM-based time limit (main thread only; otherwise no limit)."""
    if not timeout or timeout <= 0 or not _alarm_supported():
        return fn()

    def on_alarm(signum, frame):
        raise ArchTimeout(f"exceeded the per-architecture limit of {timeout:g} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _as_score(value: Any) -> tuple[float | None, str | None]:
    """Contract: a real number. Returns (score or None, problem or None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None, f"returned {type(value).__name__} ({value!r:.60}), not a float"
    v = float(value)
    if not math.isfinite(v):
        return None, f"returned non-finite value {v}"
    return v, None


class BatchCache:
    """Decodes each (seed, batch index) once and moves it to the device once."""

    def __init__(self, cfg: RunConfig, dataset: str):
        self.cfg = cfg
        self.dataset = dataset
        self._cache: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def get(self, seed: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        key = (seed, index)
        if key not in self._cache:
            if len(self._cache) > 16:
                self._cache.clear()
            x, y = data.cifar10_batch(self.cfg.batch_size, index, seed, "train",
                                      self.cfg.data_dir)
            dev = torch.device(self.cfg.device)
            self._cache[key] = (x.to(dev), y.to(dev))
        return self._cache[key]


def _contexts(est_list, spec, split, space, cfg, seed, batch_cache, states, shared_by_batch,
              share: bool = True):
    """Yield (estimator, batch index, context) for every call needed for one (arch, seed).

    With ``share`` the contexts of one batch share their passes, and each knows every pass the
    estimators declared (``EstimatorInfo.uses``); without it, only its own estimator's.
    """
    dataset = split.dataset
    side = space.input_size.get(dataset, 32)
    dev = torch.device(cfg.device)

    trained = states.get(WEIGHTS_KEY)
    if trained is not None:
        from harness.oneshot.transfer import trained_builder

        # The seed argument is ignored: the weights are the supernet's for this seed's run.
        builder = trained_builder(trained.evaluator.model, spec)
    else:
        def builder(s, _spec=spec):
            return space.build(_spec, dataset, s)

    joint_uses = frozenset(k for e in est_list for k in e.info.uses)
    for est in est_list:
        n = 1 if est.info.data_independent else cfg.n_batches
        for b in range(n):
            loader = (lambda b=b: batch_cache.get(seed, b)) if est.info.needs_images else None
            ctx = api.ArchContext(
                spec=spec, space=space.name, dataset=dataset,
                num_classes=space.datasets[dataset], input_shape=(3, side, side),
                seed=seed, device=dev, builder=builder, batch_loader=loader, batch_index=b,
                state=states.get(est.name),
                shared=shared_by_batch.setdefault(b, {}) if share else {},
                planned=joint_uses if share else est.info.uses,
            )
            yield est, b, ctx


def _score_one(est_list, spec, arch_id, split, space, cfg, seed, batch_cache, states,
               share: bool = True) -> dict[str, Record]:
    """Score one architecture for one seed with each estimator; never raises."""
    per_est: dict[str, list[float]] = {e.name: [] for e in est_list}
    errors: dict[str, str] = {}
    wall: dict[str, float] = {e.name: 0.0 for e in est_list}
    gpu: dict[str, float] = {e.name: 0.0 for e in est_list}
    on_cuda = torch.device(cfg.device).type == "cuda"
    shared: dict[int, dict] = {}
    for est, _b, ctx in _contexts(est_list, spec, split, space, cfg, seed, batch_cache, states,
                                  shared, share=share):
        if est.name in errors:
            continue
        t0 = time.perf_counter()
        if on_cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
        try:
            value = _call_with_timeout(lambda est=est, ctx=ctx: est.score(ctx), cfg.arch_timeout_s)
            v, problem = _as_score(value)
            if problem:
                errors[est.name] = problem
            else:
                per_est[est.name].append(v)
        except ArchTimeout as exc:
            errors[est.name] = f"timeout: {exc}"
        except Exception:  # the estimator's bug must not kill the run; it is recorded
            errors[est.name] = traceback.format_exc(limit=8)
        if on_cuda:
            end.record()
            end.synchronize()  # the measurement needs it; once per call, outside the estimator
            gpu[est.name] += start.elapsed_time(end) / 1000.0
        wall[est.name] += time.perf_counter() - t0
    out = {}
    for est in est_list:
        vals = per_est[est.name]
        score = float(np.mean(vals)) if vals and est.name not in errors else None
        if score is not None and not math.isfinite(score):
            errors[est.name] = f"mean over batches is non-finite ({score})"
            score = None
        out[est.name] = Record(arch_id, seed, score, errors.get(est.name), wall[est.name],
                               gpu[est.name] if on_cuda else None, environment_key(cfg.device))
    return out


_ENV_KEYS: dict[str, str] = {}


def environment_key(device: str) -> str:
    """A short key for the numeric environment a score is computed in.

    Float results are bitwise reproducible only on the same kind of machine: oneDNN and ATen
    choose CPU kernels by instruction set (AVX2, AVX-512, AMX...), so another CPU sums in
    another order and changes the last bits (measured: up to 1e-4 relative for ``grasp``,
    whose Hessian-gradient product cancels heavily). The key names the device model, the
    kernel capability, a digest of the CPU feature flags and the torch version.
    """
    dev = torch.device(device)
    cache_key = str(dev)
    if cache_key not in _ENV_KEYS:
        if dev.type == "cuda":
            key = f"cuda:{_device_name(device)}:torch {torch.__version__}"
        else:
            flags = ""
            try:
                for line in Path("/proc/cpuinfo").read_text().splitlines():
                    if line.startswith(("flags", "Features")):
                        flags = " ".join(sorted(line.split(":", 1)[1].split()))
                        break
            except OSError:
                pass
            digest = hashlib.sha256(flags.encode()).hexdigest()[:10]
            key = (f"cpu:{_device_name(device)}:{torch.backends.cpu.get_cpu_capability()}:"
                   f"flags {digest}:torch {torch.__version__}")
        _ENV_KEYS[cache_key] = key
    return _ENV_KEYS[cache_key]


def _set_threads(cfg: RunConfig) -> None:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if torch.device(cfg.device).type == "cuda":
        # Chosen by the harness, never by estimators, and recorded in the results.
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def shard_positions(n: int, shard: tuple[int, int] | None) -> list[int]:
    """Positions of the split a shard scores: ``p % n_shards == i`` (round-robin, so shards
    have equal size and equal mix of cheap and expensive architectures)."""
    if shard is None:
        return list(range(n))
    i, k = shard
    if not (k >= 1 and 0 <= i < k):
        raise ValueError(f"shard must be i/N with 0 <= i < N, got {i}/{k}")
    return [p for p in range(n) if p % k == i]


# --------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------


def score_split(
    est_list: Sequence[api.Estimator],
    split_name: str,
    cfg: RunConfig,
    progress: ProgressFn | None = None,
) -> dict[str, Checkpoint]:
    """Score every (architecture, seed) of the split (or shard) not already checkpointed."""
    _set_threads(cfg)
    split = load_split(split_name)
    space = get_space(split.benchmark)
    specs = split.specs(cfg.data_dir)
    shard_tag = f"{cfg.shard[0]}/{cfg.shard[1]}" if cfg.shard else ""
    ckpts = {
        e.name: Checkpoint(results.checkpoint_path(cfg.results_dir, e.name, split.name, shard_tag),
                           _fingerprint(e, split, cfg), cfg.resume)
        for e in est_list
    }
    positions = shard_positions(len(split), cfg.shard)
    if cfg.shard and cfg.resume:
        wanted = {(split.arch_ids[p], s) for p in positions for s in cfg.seeds}
        for e in est_list:
            ck = ckpts[e.name]
            ck.adopt(_other_checkpoint_records(ck.path, cfg.results_dir, e.name, split.name,
                                               _fingerprint(e, split, cfg)), wanted)
    batch_cache = BatchCache(cfg, split.dataset)
    total = len(positions) * len(cfg.seeds)
    done = sum(
        1 for seed in cfg.seeds for p in positions
        if all((split.arch_ids[p], seed) in c.records for c in ckpts.values())
    )
    label = f"{','.join(e.name for e in est_list)} on {split.name}"
    t_start, done_now = time.perf_counter(), 0
    try:
        for seed in cfg.seeds:
            todo_any = [p for p in positions
                        if any((split.arch_ids[p], seed) not in c.records for c in ckpts.values())]
            if not todo_any:
                continue
            states = _prepare_states(est_list, split, cfg, seed)
            for p in todo_any:
                arch_id = split.arch_ids[p]
                ests = [e for e in est_list if (arch_id, seed) not in ckpts[e.name].records]
                recs = _score_one(ests, specs[p], arch_id, split, space, cfg, seed,
                                  batch_cache, states)
                for name, rec in recs.items():
                    ckpts[name].add(rec)
                done += 1
                done_now += 1
                if progress:
                    rate = done_now / max(time.perf_counter() - t_start, 1e-9)
                    progress(label, done, total, rate)
    finally:
        for c in ckpts.values():
            c.close()
    return ckpts


#: Key of ``states`` holding the prepared one-shot state whose supernet supplies the weights
#: of ``RunConfig.weights`` runs (not a valid estimator name, so it cannot collide).
WEIGHTS_KEY = "@weights"


def _prepare_states(est_list, split: Split, cfg: RunConfig, seed: int) -> dict[str, Any]:
    pctx = api.PrepareContext(
        space=split.benchmark, dataset=split.dataset, seed=seed,
        device=torch.device(cfg.device), data_dir=cfg.data_dir,
        cache_dir=str(cfg.cache_dir), options=dict(cfg.options),
    )
    states = {}
    for est in est_list:
        if est.prepare is not None:
            states[est.name] = est.prepare(pctx)
    if cfg.weights != "init":
        states[WEIGHTS_KEY] = weights_source(cfg.weights).prepare(pctx)
    return states


def weights_source(name: str) -> api.Estimator:
    """The one-shot estimator whose supernet supplies ``RunConfig.weights``.

    Raises:
        ValueError: if ``name`` is not a registered one-shot estimator with a supernet.
    """
    from harness import registry

    est = registry.discover().get(name)
    if est is None or est.info.kind != "one-shot" or est.prepare is None:
        known = [n for n, e in registry.discover().items() if e.info.kind == "one-shot"]
        raise ValueError(f"weights must be 'init' or a one-shot estimator ({', '.join(known)})"
                         f", not {name!r}")
    return est


@dataclass
class DeterminismCheck:
    """What re-scoring a few architectures alone found.

    Attributes:
        problems: mismatches within one environment: the estimator is not reproducible (a
            contract failure).
        checked: how many (architecture, seed) pairs were re-scored.
        bitwise_equal: how many of them gave the recorded score bit for bit (CPU) or within
            1e-5 relative (CUDA).
        cross_environment: mismatches against scores recorded in another (or an unrecorded)
            environment: not a contract failure, reported with their relative difference.
        environments: how many scores each environment produced.
    """

    problems: list[str] = field(default_factory=list)
    checked: int = 0
    bitwise_equal: int = 0
    cross_environment: list[dict] = field(default_factory=list)
    environments: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"checked": self.checked, "equal": self.bitwise_equal,
                "cross_environment": self.cross_environment,
                "environments": self.environments}


def check_determinism(est: api.Estimator, split_name: str, cfg: RunConfig,
                      recorded: dict[tuple[int, int], Record]) -> DeterminismCheck:
    """Re-score a few architectures with ``est`` alone and compare with the recorded scores.

    On CPU the comparison is bitwise; on CUDA a relative tolerance of 1e-5 applies (atomics
    make some kernels non-deterministic in the last bits). Architectures scored in this
    process's environment are picked first. A mismatch with a score from this environment is
    a contract problem; one with a score from another environment (a shard run on another
    kind of machine, a checkpoint resumed elsewhere, or a record older than the environment
    key) is reported in ``cross_environment`` instead, because kernels chosen per instruction
    set legitimately change the last bits.
    """
    out = DeterminismCheck()
    for rec in recorded.values():
        key = rec.env or "unrecorded"
        out.environments[key] = out.environments.get(key, 0) + 1
    if cfg.determinism_checks <= 0:
        return out
    # The same thread count as the scoring run: CPU reductions split work by thread, so another
    # count changes the last bits (e.g. when merging shards in a fresh process).
    _set_threads(cfg)
    here = environment_key(cfg.device)
    split = load_split(split_name)
    space = get_space(split.benchmark)
    specs = split.specs(cfg.data_dir)
    seed = cfg.seeds[0]
    positions = shard_positions(len(split), cfg.shard)
    usable = [p for p in positions if (split.arch_ids[p], seed) in recorded
              and recorded[(split.arch_ids[p], seed)].score is not None]

    def spread(ps: list[int], k: int) -> list[int]:
        return ps[:: max(1, len(ps) // k)][:k] if k > 0 else []

    local = [p for p in usable if recorded[(split.arch_ids[p], seed)].env == here]
    picks = spread(local, cfg.determinism_checks)
    others = [p for p in usable if recorded[(split.arch_ids[p], seed)].env != here]
    picks += spread(others, cfg.determinism_checks - len(picks))
    batch_cache = BatchCache(cfg, split.dataset)
    states = _prepare_states([est], split, cfg, seed)
    exact = torch.device(cfg.device).type == "cpu"
    for p in picks:
        arch_id = split.arch_ids[p]
        again = _score_one([est], specs[p], arch_id, split, space, cfg, seed, batch_cache,
                           states, share=False)[est.name]
        rec = recorded[(arch_id, seed)]
        before = rec.score
        same = again.score == before if exact else (
            again.score is not None and math.isclose(again.score, before, rel_tol=1e-5))
        out.checked += 1
        out.bitwise_equal += same
        if same:
            continue
        if rec.env == here or again.score is None:
            out.problems.append(
                f"arch {arch_id} ({specs[p]}), seed {seed}: scored {before!r} in the run but "
                f"{again.score!r} when re-scored alone{' — ' + again.error if again.error else ''}"
            )
        else:
            out.cross_environment.append({
                "arch_id": arch_id, "seed": seed, "recorded": before,
                "recorded_env": rec.env or "unrecorded", "rescored": again.score,
                "rescored_env": here,
                "rel_diff": abs(again.score - before) / max(abs(before), 1e-300)})
    return out


# --------------------------------------------------------------------------------------------
# metrics and the results file
# --------------------------------------------------------------------------------------------


def complexity_table(split: Split, cfg: RunConfig) -> tuple[np.ndarray, np.ndarray]:
    """#params and MACs per architecture of the split (cached on disk by split hash)."""
    from harness.flops import count_macs

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


def _is_bad_value(error: str | None) -> bool:
    """Whether a failure was a bad return value (vs. an exception or a timeout)."""
    return bool(error) and (error.startswith("returned") or error.startswith("mean over"))


def _rank_failures_last(scores: list[float | None]) -> np.ndarray:
    finite = [s for s in scores if s is not None]
    if not finite:
        return np.zeros(len(scores))
    lo, hi = min(finite), max(finite)
    floor = lo - (hi - lo) - 1.0
    return np.array([floor if s is None else s for s in scores], dtype=np.float64)


def _summary(values: list[dict]) -> tuple[dict, dict]:
    keys = values[0].keys()
    mean, std = {}, {}
    for k in keys:
        vs = [v[k] for v in values if v[k] is not None]
        mean[k] = float(np.mean(vs)) if vs else None
        std[k] = float(np.std(vs, ddof=1)) if len(vs) >= 2 else None
    return mean, std


def _git_commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        proc = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=root,
                              capture_output=True, text=True, timeout=10)
        sha = proc.stdout.strip() if proc.returncode == 0 else ""
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        return (sha or "unknown") + ("-dirty" if sha and dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _device_name(device: str) -> str:
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def finalize(est: api.Estimator, split_name: str, cfg: RunConfig,
             records: dict[tuple[int, int], Record], joint_with: Sequence[str] = (),
             determinism: DeterminismCheck | None = None) -> dict:
    """Compute metrics, bias and cost from the records and write the results files.

    Returns the results object (already written and validated).
    """
    split = load_split(split_name)
    space = get_space(split.benchmark)
    ids = list(split.arch_ids)
    missing = [(a, s) for s in cfg.seeds for a in ids if (a, s) not in records]
    if missing:
        raise RuntimeError(f"{len(missing)} (arch, seed) pairs are not scored yet "
                           f"(first: {missing[:3]}); run the remaining shards first.")
    truth = split.ground_truth(cfg.data_dir)  # loaded only now, after all scoring
    per_seed_metrics: dict[str, dict] = {}
    per_seed_scores: dict[int, np.ndarray] = {}
    per_seed_tau: dict[int, float | None] = {}
    nonfinite_ids: list[int] = []
    errors: list[dict] = []
    for seed in cfg.seeds:
        raw = [records[(a, seed)].score for a in ids]
        for a in ids:
            r = records[(a, seed)]
            if r.score is None and _is_bad_value(r.error):
                nonfinite_ids.append(a)
            elif r.score is None:
                errors.append({"arch_id": a, "seed": seed, "message": (r.error or "")[-2000:]})
        s = _rank_failures_last(raw)
        per_seed_scores[seed] = s
        m = metrics.all_metrics(s, truth)
        per_seed_metrics[str(seed)] = m
        per_seed_tau[seed] = m["kendall"]
    mean, std = _summary(list(per_seed_metrics.values()))
    mean_scores = np.mean(np.stack(list(per_seed_scores.values())), axis=0)
    prepared, curve = _prepared_and_curve(est, split, cfg, per_seed_scores, truth)

    params, flops = complexity_table(split, cfg)
    specs = split.specs(cfg.data_dir)
    counts_list = [space.op_counts(sp) for sp in specs]
    ops = sorted({k for c in counts_list for k in c})
    counts = {op: np.array([c.get(op, 0) for c in counts_list], dtype=np.float64) for op in ops}
    bias_obj = {
        "complexity": bias.complexity_bias(mean_scores, truth, params, flops),
        "operation": bias.operation_bias(mean_scores, truth, counts),
        "seed_variance": bias.seed_variance(per_seed_scores, per_seed_tau),
        "note": "complexity and operation bias use the score averaged over seeds",
    }

    walls = np.array([records[(a, s)].wall_s for s in cfg.seeds for a in ids])
    gpus = [records[(a, s)].gpu_s for s in cfg.seeds for a in ids]
    on_cuda = torch.device(cfg.device).type == "cuda"
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    cost = {
        "wall_s_per_arch_median": float(np.median(walls)),
        "wall_s_per_arch_p90": float(np.percentile(walls, 90)),
        "wall_s_per_arch_mean": float(np.mean(walls)),
        "gpu_s_per_arch_median": float(np.median([g for g in gpus if g is not None]))
        if on_cuda and any(g is not None for g in gpus) else None,
        "peak_rss_mb": peak_rss_mb,
        "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20 if on_cuda else None,
        "device": torch.device(cfg.device).type,
        "mode": "joint" if joint_with else "alone",
        "joint_with": sorted(joint_with),
        "note": "seconds per (architecture, seed) over all batches; in joint mode a shared "
                "pass is charged to the first estimator that asked for it",
    }
    n_nonfinite = len(nonfinite_ids)
    problems = list(determinism.problems) if determinism is not None else []
    if n_nonfinite:
        problems.append(f"{n_nonfinite} non-finite or non-float score(s), first arch ids "
                        f"{sorted(set(nonfinite_ids))[:10]}")
    if errors:
        problems.append(f"{len(errors)} scoring call(s) raised or timed out; first: arch "
                        f"{errors[0]['arch_id']} seed {errors[0]['seed']}")
    info = est.info
    obj = {
        "schema_version": results.SCHEMA_VERSION,
        "generated_by": "estbench harness (pytest harness/ --estimator=...); do not edit",
        "estimator": {
            "name": info.name, "version": info.version, "kind": info.kind, "idea": info.idea,
            "paper": None if info.paper is None else {
                "title": info.paper.title, "url": info.paper.url, "bibtex": info.paper.bibtex},
        },
        "split": {
            "name": split.name, "version": split.version, "sha256": split.sha256,
            "benchmark": split.benchmark, "dataset": split.dataset, "n_archs": len(split),
            "truth_column": split.truth_column, "truth_aggregate": split.truth_aggregate,
        },
        "protocol": {
            "seeds": list(cfg.seeds), "n_batches": cfg.n_batches, "batch_size": cfg.batch_size,
            "image_split": "train", "loss": "cross_entropy", "nonfinite_rule": NONFINITE_RULE,
            "options": cfg.options,
            "weights": _weights_record(split, cfg),
        },
        "status": "complete",
        "n_archs": len(ids),
        "n_nonfinite": n_nonfinite,
        "nonfinite_arch_ids": sorted(set(nonfinite_ids))[:100],
        "n_errors": len(errors),
        "errors": errors[:20],
        "contract_ok": not problems,
        "contract_problems": problems,
        "determinism": determinism.to_dict() if determinism is not None else None,
        "metrics": {"per_seed": per_seed_metrics, "mean": mean, "std": std},
        "bias": bias_obj,
        "cost": cost,
        "environment": {
            "torch": torch.__version__, "python": platform.python_version(),
            "harness_commit": _git_commit(),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "device_name": _device_name(cfg.device), "threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "cudnn": {"benchmark": torch.backends.cudnn.benchmark,
                      "deterministic": torch.backends.cudnn.deterministic} if on_cuda else None,
        },
        "scores_file": results.scores_path(cfg.results_dir, info.name, split.name).name,
    }
    if prepared is not None:
        obj["prepared"] = prepared
    if curve is not None:
        obj["curve"] = curve
    rows = [(a, s, records[(a, s)].score) for s in cfg.seeds for a in ids]
    results.write_scores(results.scores_path(cfg.results_dir, info.name, split.name), rows)
    results.write_json(results.results_path(cfg.results_dir, info.name, split.name), obj)
    return obj


def _weights_record(split: Split, cfg: RunConfig) -> dict:
    """Where the networks' weights came from, per seed (random init or a supernet run)."""
    if cfg.weights == "init":
        return {"source": "init"}
    per_seed = {}
    for seed in cfg.seeds:
        state = _prepare_states([], split, cfg, seed)[WEIGHTS_KEY]
        per_seed[str(seed)] = state.describe()
    return {"source": cfg.weights, "per_seed": per_seed}


def _prepared_and_curve(est: api.Estimator, split: Split, cfg: RunConfig,
                        per_seed_scores: dict[int, np.ndarray], truth: np.ndarray,
                        ) -> tuple[dict | None, dict | None]:
    """What ``prepare`` loaded per seed (``describe()``) and, for ``cfg.curve``, the metrics
    at every earlier checkpoint of the same training run.

    The states are prepared again here (as the determinism check does), so a sharded run's
    merge records them too. A curve point at the scored checkpoint reuses the run's scores.
    Every other checkpoint scores the whole split once more (not resumable), unless the
    results file about to be replaced holds that very checkpoint's scores (see
    :func:`_stored_checkpoint_scores`).
    """
    if est.prepare is None:
        return None, None
    prepared: dict[str, Any] = {}
    points: list[dict] = []
    specs = split.specs(cfg.data_dir) if cfg.curve else []
    space = get_space(split.benchmark)
    batch_cache = BatchCache(cfg, split.dataset)
    for seed in cfg.seeds:
        state = _prepare_states([est], split, cfg, seed)[est.name]
        describe = getattr(state, "describe", None)
        prepared[str(seed)] = describe() if callable(describe) else None
        if not cfg.curve or not hasattr(state, "checkpoints"):
            continue
        own = getattr(state, "epoch", None)
        for k in state.checkpoints():
            source = "this run"
            if k == own:
                s = per_seed_scores[seed]
            else:
                st = state.at_checkpoint(k)

                def rescore(positions, st=st, seed=seed):
                    return [_score_one([est], specs[p], split.arch_ids[p], split, space, cfg,
                                       seed, batch_cache, {est.name: st})[est.name].score
                            for p in positions]

                raw = _stored_checkpoint_scores(est, split, cfg, seed, st, rescore)
                source = "stored result, verified" if raw is not None else "rescored"
                if raw is None:
                    raw = rescore(range(len(split)))
                s = _rank_failures_last(raw)
            m = metrics.all_metrics(s, truth)
            points.append({"checkpoint": int(k), "seed": seed, "kendall": m["kendall"],
                           "spearman": m["spearman"], "p_top_5": m.get("p_top_5"),
                           "scores_from": source})
    curve = None
    if cfg.curve:
        curve = {"x": "checkpoint (training epoch)", "points": points,
                 "note": "metrics of the same scoring at each saved checkpoint of the run"}
    return prepared, curve


# Cells re-scored to confirm that stored scores are those of the checkpoint (first, middle, last).
CURVE_VERIFY_CELLS = 3


def _stored_checkpoint_scores(est: api.Estimator, split: Split, cfg: RunConfig, seed: int,
                              state: Any, rescore: Callable[[Sequence[int]], list]
                              ) -> list[float | None] | None:
    """Scores of checkpoint ``state`` from the results file this run is about to replace.

    A run that scores checkpoint 2 of a training run usually replaces the result of an earlier
    run that scored checkpoint 1; re-scoring the whole split for the curve would repeat that
    work exactly (scoring is deterministic). The stored scores are used only if everything
    that determines them matches: estimator version, split (name and SHA-256), batches,
    options other than the checkpoint choice, weights source, and the prepared state's own
    description (supernet configuration hash, epoch, evaluation batches, ...). Then a few
    cells are scored again, and any difference from the stored bits discards the file.

    Returns:
        Scores in split order, or ``None`` (score everything again).
    """
    path = results.results_path(cfg.results_dir, est.name, split.name)
    describe = getattr(state, "describe", None)
    if not path.exists() or not callable(describe):
        return None
    try:
        old = results.load_json(path)
        rows = results.read_scores(path.with_name(old["scores_file"]))
    except (results.ResultsSchemaError, OSError, KeyError, ValueError):
        return None

    def key(d: dict | None) -> dict | None:
        return None if d is None else {k: v for k, v in d.items() if k != "trained_in_prepare"}

    opts = {k: v for k, v in cfg.options.items() if k != "checkpoint_epoch"}
    old_opts = {k: v for k, v in old["protocol"].get("options", {}).items()
                if k != "checkpoint_epoch"}
    same = (old["estimator"]["version"] == est.info.version
            and old["split"]["name"] == split.name and old["split"]["sha256"] == split.sha256
            and old["protocol"]["n_batches"] == cfg.n_batches
            and old["protocol"]["batch_size"] == cfg.batch_size
            and old["protocol"]["weights"] == _weights_record(split, cfg)
            and old_opts == opts
            and key((old.get("prepared") or {}).get(str(seed))) == key(describe()))
    if not same:
        return None
    by_id = {a: v for a, s, v in rows if s == seed}
    if any(a not in by_id for a in split.arch_ids):
        return None
    stored = [by_id[a] for a in split.arch_ids]
    n = len(stored)
    probe = sorted({0, n // 2, n - 1})[:CURVE_VERIFY_CELLS]
    if rescore(probe) != [stored[p] for p in probe]:
        return None
    return stored


def run(est_list: Sequence[api.Estimator], split_name: str, cfg: RunConfig,
        progress: ProgressFn | None = None) -> dict[str, dict]:
    """Score, check the contract, and write results for each estimator. Returns results."""
    ckpts = score_split(est_list, split_name, cfg, progress)
    out = {}
    names = [e.name for e in est_list]
    for est in est_list:
        recs = ckpts[est.name].records
        det = check_determinism(est, split_name, cfg, recs)
        out[est.name] = finalize(est, split_name, cfg, recs,
                                 joint_with=[n for n in names if n != est.name] if len(names) > 1
                                 else (), determinism=det)
    return out


def merge_shards(est_list: Sequence[api.Estimator], split_name: str, cfg: RunConfig,
                 n_shards: int) -> dict[str, dict]:
    """Combine the checkpoints of shards ``0/N .. N-1/N`` into one results file per estimator.

    The merged checkpoint is written as the unsharded one, so the final files are identical
    to those of an unsharded run (apart from timing fields).

    Raises:
        RuntimeError: if a shard checkpoint is missing, was made with other settings, or does
            not cover its part of the split.
    """
    import dataclasses

    split = load_split(split_name)
    whole = dataclasses.replace(cfg, shard=None)
    out = {}
    for est in est_list:
        fp = {"fingerprint": _fingerprint(est, split, whole)}
        merged: dict[tuple[int, int], Record] = {}
        for i in range(n_shards):
            path = results.checkpoint_path(cfg.results_dir, est.name, split.name,
                                           f"{i}/{n_shards}")
            if not path.is_file():
                raise RuntimeError(f"shard {i}/{n_shards} of {est.name} on {split.name} is "
                                   f"missing ({path}); run it with --shard={i}/{n_shards}")
            recs = read_checkpoint(path, fp["fingerprint"])
            if recs is None:
                raise RuntimeError(f"{path} was scored with other settings than {fp}")
            merged.update(recs)
        # Fill gaps from finer re-shardings (``1/4`` + ``3/4`` finishing an unfinished ``1/2``).
        wanted = {(a, s) for a in split.arch_ids for s in whole.seeds} - merged.keys()
        if wanted:
            extra = _other_checkpoint_records(results.checkpoint_path(
                cfg.results_dir, est.name, split.name), cfg.results_dir, est.name, split.name,
                fp["fingerprint"])
            merged.update({k: extra[k] for k in wanted if k in extra})
        ck = Checkpoint(results.checkpoint_path(cfg.results_dir, est.name, split.name),
                        fp["fingerprint"], resume=False)
        for rec in merged.values():
            ck.records[(rec.arch_id, rec.seed)] = rec
        ck._rewrite(fp["fingerprint"])
        ck.close()
        det = check_determinism(est, split_name, whole, merged)
        names = [e.name for e in est_list]
        out[est.name] = finalize(est, split_name, whole, merged,
                                 joint_with=[n for n in names if n != est.name]
                                 if len(names) > 1 else (), determinism=det)
    return out


def report(out: dict[str, dict], split_name: str) -> int:
    """Print one line per estimator's results; exit status 1 if any contract failed."""
    bad = 0
    for name, obj in out.items():
        status = "ok" if obj["contract_ok"] else "CONTRACT FAILED"
        bad += not obj["contract_ok"]
        print(f"{name} on {split_name}: Kendall τ {obj['metrics']['mean']['kendall']}, {status}")
    return 1 if bad else 0


def _stderr_progress(label: str, done: int, total: int, rate: float) -> None:
    eta = (total - done) / rate if rate > 0 else float("inf")
    sys.stderr.write(f"\r{label}: {done}/{total} ({rate:.2f}/s, ETA {eta:.0f}s)   ")
    sys.stderr.flush()
