"""Command-line tools around the pytest harness.

``python -m harness merge --estimator=a,b --split=S --shards=N [options]``
    combine shard checkpoints (from ``pytest harness/ --shard=i/N`` runs, possibly on other
    machines with the same ``--results-dir`` contents copied together) into results files.
``python -m harness schema [--check]``
    write (or check) ``harness/results.schema.json``, generated from :mod:`harness.results`.
``python -m harness results upgrade DIR``
    rewrite results files of an older schema in the current one (no re-scoring).
``python -m harness data verify|fetch|convert ...``
    the benchmark data directory (see ``docs/data.md``).
``python -m harness list estimators|splits``
    what can be scored, and on what: every registered estimator (kind, version, idea) or
    committed split (benchmark, size, description).
``python -m harness campaign status|run|state [PLAN] ...``
    time-budgeted, resumable campaigns from a TOML plan (see ``docs/distributed.md``).
``python -m harness catalog [--write | --check]``
    the estimator catalog the site reads instead of importing the registry
    (``leaderboard/catalog.json``: kind, version, idea, paper, published figures, splits an
    estimator does not apply to); ``--check`` exits 1 when it is not current.
``python -m harness cost --estimator A,B|all --split S [--cells 20]``
    the standalone cost of each estimator (alone, one thread, a fresh process each, on evenly
    spaced cells of the split): median s/arch and peak memory, written to
    ``leaderboard/costs/<estimator>/<split>.json`` for the site's cost column, with the
    fingerprint of the code measured; ``--missing`` skips what is measured for today's code,
    ``--record-code`` adds that fingerprint to older measurements from the git history.
``python -m harness reproduce [--results-dir DIR] [--estimator A,B] [--split S,T]``
    re-score the first, middle and last cell of each results file with today's code and
    compare with the stored scores (bit for bit in the same numeric environment); exit 1 on a
    difference. A refactor or speed-up proves with it that no score changed; where the stored
    scores came from another CPU kind, by equal ``re-scored`` digests before and after it.
    ``--record [--baseline REV]`` writes that proof into the results file
    (:mod:`harness.run.attest`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _merge(argv: list[str]) -> int:
    # lazy: each subcommand loads only its own stack (torch and the estimators take seconds)
    from harness.run import config as run_config

    ap = argparse.ArgumentParser(
        prog="python -m harness merge",
        description="Merge the shard checkpoints of pytest harness/ --shard=i/N runs into "
                    "results files. Pass the shards' own options (seeds, batches, device, "
                    "estimator options, results directory): the checkpoints record them and a "
                    "mismatch is named.")
    run_config.add_to_argparse(ap, "merge", required=("estimator", "split"))
    ap.add_argument("--shards", type=int, required=True, help="how many shards (N of i/N)")
    args = ap.parse_args(argv)

    # lazy: each subcommand loads only its own stack (torch and the estimators take seconds)
    from harness import data
    from harness.run import merge_shards, report
    from harness.run.frontend import build_run

    try:
        run = build_run(vars(args))
        status = 0
        for split in run.splits:
            out = merge_shards(run.estimators, split, run.config, args.shards)
            status |= report(out, split.name)
    except (run_config.UsageError, data.DataError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return status


def _schema(argv: list[str]) -> int:
    # lazy: each subcommand loads only its own stack (torch and the estimators take seconds)
    from harness import results

    ap = argparse.ArgumentParser(prog="python -m harness schema",
                                 description="Generate harness/results.schema.json.")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if the committed file differs from the generated schema")
    args = ap.parse_args(argv)
    text = json.dumps(results.json_schema(), indent=1, sort_keys=True) + "\n"
    if args.check:
        same = results.SCHEMA_FILE.is_file() and results.SCHEMA_FILE.read_text() == text
        print(f"{results.SCHEMA_FILE}: {'up to date' if same else 'STALE: regenerate it'}")
        return 0 if same else 1
    # lazy: each subcommand loads only its own stack (torch and the estimators take seconds)
    from harness.data import atomic_write_bytes

    atomic_write_bytes(results.SCHEMA_FILE, lambda fh: fh.write(text.encode()))
    print(f"wrote {results.SCHEMA_FILE}")
    return 0


def _results(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness results")
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("upgrade", help="rewrite older-schema results files in the current "
                                        "schema (metrics recomputed only where new fields need "
                                        "them; scores are never changed)")
    up.add_argument("dirs", nargs="+", help="results directories")
    up.add_argument("--data-dir", default=None, help="for fields that need ground truth")
    args = ap.parse_args(argv)
    # lazy: each subcommand loads only its own stack (torch and the estimators take seconds)
    from harness import data
    from harness.results_upgrade import upgrade_dir

    try:
        for d in args.dirs:
            for line in upgrade_dir(d, args.data_dir):
                print(line)
    except data.DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _data(argv: list[str]) -> int:
    # lazy: each subcommand loads only its own stack (torch and the estimators take seconds)
    from harness.datatools.cli import main as data_main

    return data_main(argv)


def _list(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness list",
                                 description="List the registered estimators or the splits.")
    ap.add_argument("what", choices=("estimators", "splits"))
    args = ap.parse_args(argv)
    # lazy: each subcommand loads only its own stack (torch and the estimators take seconds)
    from harness import registry
    from harness.splits import load_split, split_names

    if args.what == "estimators":
        ests = registry.discover()
        width = max(map(len, ests))
        for name, est in ests.items():
            info = est.info
            print(f"{name:<{width}}  {info.kind:<9}  v{info.version:<3}  {info.idea}")
        for b in registry.broken():
            print(f"{b.name:<{width}}  BROKEN     {b.message}")
    else:
        names = split_names()
        width = max(map(len, names))
        for name in names:
            sp = load_split(name)
            print(f"{name:<{width}}  {sp.benchmark:<12}  {len(sp.arch_ids):>6} archs  "
                  f"{sp.description}")
    return 0


def _reproduce(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m harness reproduce",
        description="Re-score a few cells of each results file and compare with the stored "
                    "scores (exit 1 on a difference).")
    ap.add_argument("--results-dir", default="leaderboard/results")
    ap.add_argument("--estimator", default="", help="comma-separated names (default: all)")
    ap.add_argument("--split", default="", help="comma-separated split names (default: all)")
    ap.add_argument("--cells", type=int, default=3, choices=(1, 2, 3),
                    help="cells per result: first, middle, last (default 3)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--record", action="store_true",
                    help="where today's code is shown to give the stored bits, record it in "
                         "the results file (so the site no longer marks the code as changed)")
    ap.add_argument("--baseline", metavar="REV", default=None,
                    help="with --record, for scores stored on another CPU kind: the commit "
                         "whose estimators/<name>.py scored them; it re-scores the same cells "
                         "here, and equal digests are the evidence")
    args = ap.parse_args(argv)
    if args.baseline is not None and not args.record:
        ap.error("--baseline goes with --record")
    # lazy: each subcommand loads only its own stack (torch and the estimators take seconds)
    from harness import data, results
    from harness.run.attest import AttestError, record
    from harness.run.reproduce import reproduce_dir

    bad = 0
    try:
        for rep in reproduce_dir(Path(args.results_dir),
                                 estimators=[e for e in args.estimator.split(",") if e],
                                 splits=[s for s in args.split.split(",") if s],
                                 data_dir=args.data_dir, n_cells=args.cells):
            print(rep.line(), flush=True)
            bad += not rep.ok
            if args.record and rep.ok:
                path = results.results_path(Path(args.results_dir), rep.estimator, rep.split)
                try:
                    print("  " + record(path, rep, baseline=args.baseline,
                                        data_dir=args.data_dir), flush=True)
                except AttestError as exc:
                    print(f"  {rep.estimator} on {rep.split}: not recorded: {exc}", flush=True)
    except data.DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if bad:
        print(f"{bad} result(s) do not reproduce", file=sys.stderr)
    return 1 if bad else 0


def _cost(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m harness cost",
        description="Measure standalone costs (each estimator alone, one thread, its own "
                    "process) and write them under leaderboard/costs/.")
    ap.add_argument("--estimator",
                    help="comma-separated names, or all (every zero-shot estimator and baseline)")
    ap.add_argument("--split", help="comma-separated split names")
    ap.add_argument("--cells", type=int, default=None, help="cells per split (default 20)")
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--costs-dir", default=None, help="default: leaderboard/costs")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--missing", action="store_true",
                    help="skip pairs already measured for this estimator version and code, "
                         "split, cells and seed (a stopped measurement goes on where it "
                         "stopped; a cost measured on earlier code is measured again)")
    ap.add_argument("--record-code", action="store_true",
                    help="measure nothing: record in every measurement that lacks it the "
                         "fingerprint of the estimator code committed with it (git history)")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = ap.parse_args(argv)
    if args.record_code:
        if args.estimator or args.split or args.missing:
            ap.error("--record-code takes no --estimator, --split or --missing")
        return _record_cost_code(Path(args.costs_dir) if args.costs_dir else None)
    if not args.estimator or not args.split:
        ap.error("--estimator and --split are required")
    # lazy: each subcommand loads only its own stack (torch and the estimators take seconds)
    import subprocess

    from harness import data, registry
    from harness.run import standalone
    from harness.splits import load_split

    costs_dir = Path(args.costs_dir) if args.costs_dir else standalone.COSTS_DIR
    n_cells = args.cells or standalone.DEFAULT_CELLS
    ests = registry.discover()
    names = ([n for n, e in ests.items() if e.prepare is None] if args.estimator == "all"
             else [n for n in args.estimator.split(",") if n])
    try:
        for n in names:
            registry.get(n)
        splits = [load_split(s) for s in args.split.split(",") if s]
    except (KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.one:  # one estimator, one split, in this process
        try:
            cost = standalone.measure(ests[names[0]], splits[0], n_cells=n_cells,
                                      seed=args.seed, data_dir=args.data_dir)
        except (data.DataError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        path = standalone.write(cost, costs_dir)
        print(f"{cost.estimator} on {cost.split}: {cost.s_per_arch_median:.4g} s/arch median "
              f"({len(cost.arch_ids)} cells, p90 {cost.s_per_arch_p90:.4g}), peak "
              f"{cost.peak_rss_mb:.0f} MB -> {path}", flush=True)
        return 0
    bad = 0
    for sp in splits:
        for n in names:
            if args.missing and standalone.is_current(costs_dir, ests[n], sp, n_cells,
                                                      args.seed):
                print(f"{n} on {sp.name}: measured already (--missing)", flush=True)
                continue
            cmd = [sys.executable, "-m", "harness", "cost", "--one", "--estimator", n,
                   "--split", sp.name, "--cells", str(n_cells), "--seed", str(args.seed),
                   "--costs-dir", str(costs_dir)]
            if args.data_dir:
                cmd += ["--data-dir", args.data_dir]
            bad += subprocess.run(cmd).returncode != 0
    return 1 if bad else 0


def _record_cost_code(costs_dir: Path | None, repo: Path | None = None) -> int:
    """``cost --record-code``: fingerprints of the measured code, from the git history of
    ``repo`` (default: this checkout)."""
    # lazy: each subcommand loads only its own stack (the cost module imports torch)
    from harness import trust
    from harness.results_upgrade import SourceHistory
    from harness.run import standalone

    history = SourceHistory(repo) if repo is not None else SourceHistory()

    def code_of(path: Path, name: str) -> tuple[str, dict[str, str], str] | None:
        # The code committed with the measurement: the estimator's file, and those it runs,
        # at the first commit that held this measurement (same time and median; later
        # commits may have added fields to the file).
        mine = json.loads(path.read_text())
        key = (mine.get("measured_at"), mine.get("s_per_arch_median"))

        def same(raw: bytes) -> bool:
            try:
                old = json.loads(raw)
            except ValueError:
                return False
            return (old.get("measured_at"), old.get("s_per_arch_median")) == key

        commit = history.first_commit_where(path, same)
        text = history.estimator_at(commit, name) if commit else None
        if text is None:
            return None
        try:
            uses = trust.estimated_code(name, lambda n: history.estimator_at(commit, n))
            return trust.code_sha256_of_text(text), uses, f"commit {commit[:12]}"
        except (SyntaxError, ValueError):
            return None

    for line in standalone.record_code(costs_dir or standalone.COSTS_DIR, code_of):
        print(line, flush=True)
    return 0


def _catalog(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness catalog",
                                 description="Write or check leaderboard/catalog.json.")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the catalog")
    mode.add_argument("--check", action="store_true", help="exit 1 if it is not current")
    args = ap.parse_args(argv)
    # lazy: each subcommand loads only its own stack (torch and the estimators take seconds)
    from harness import catalog

    if args.write:
        catalog.write()
        print(f"wrote {catalog.CATALOG_PATH}")
        return 0
    if args.check:
        diff = catalog.differences()
        for line in diff:
            print(f"catalog: {line}", file=sys.stderr)
        if diff:
            print("run: python -m harness catalog --write", file=sys.stderr)
        return 1 if diff else 0
    sys.stdout.write(catalog.render(catalog.build_catalog()))
    return 0


def _campaign(argv: list[str]) -> int:
    # lazy: each subcommand loads only its own stack (torch and the estimators take seconds)
    from harness.campaign.cli import main as campaign_main

    return campaign_main(argv)


COMMANDS = {"merge": _merge, "schema": _schema, "results": _results, "data": _data,
            "list": _list, "campaign": _campaign, "reproduce": _reproduce,
            "catalog": _catalog, "cost": _cost}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr if argv and argv[0] not in ("-h", "--help")
              else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
