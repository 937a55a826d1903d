"""Command line: ``python -m leaderboard {build,check,summary,demo,export,preview}``.

Examples::

    python -m leaderboard build                          # leaderboard/results -> docs/
    mkdocs build --strict                                # docs/ -> site/
    python -m leaderboard check                          # exit 1 if docs/ lags the results
    python -m leaderboard summary pr-results --expect my_estimator >> "$GITHUB_STEP_SUMMARY"
    python -m leaderboard demo --results-dir /tmp/demo   # small real results to preview with
    python -m leaderboard export --format latex > table.tex   # the home table for a paper
    python -m leaderboard export --format csv --split nb301-1k  # a split's full table
    python -m leaderboard export --format latex --across      # mean τ over the benchmarks
    python -m leaderboard preview --results-dir ~/.local/share/estbench/results  # yours, ranked
    python -m leaderboard study --write docs/oneshot.md   # the one-shot study's seed spread
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

#: Where ``study`` reads by default: the board's results and every study arm's directory
#: (the one list; ``leaderboard.study`` takes its directories from its caller).
DEFAULT_STUDY_DIRS = ("leaderboard/results", "runs/oneshot-study/*")


def _cmd_build(args: argparse.Namespace) -> int:
    # lazy: each subcommand loads only its own modules (the site build needs no torch)
    from leaderboard.build import build

    t0 = time.perf_counter()
    report = build(Path(args.results_dir), Path(args.docs_dir), data_dir=args.data_dir,
                   make_plots=not args.no_plots, trained_dir=_trained_dir(args))
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"leaderboard: wrote {len(report.pages)} pages and {len(report.images)} plots under "
          f"{args.docs_dir} in {time.perf_counter() - t0:.1f} s; {len(report.warnings)} "
          "warning(s)", file=sys.stderr)
    return 1 if (args.strict and report.warnings) else 0


def _cmd_check(args: argparse.Namespace) -> int:
    # lazy: each subcommand loads only its own modules (the site build needs no torch)
    from leaderboard.check import check

    drift = check(Path(args.results_dir), Path(args.docs_dir), trained_dir=_trained_dir(args),
                  data_dir=args.data_dir)
    if drift:
        # A rebuild without the benchmark data (no $ESTBENCH_DATA) drops every plot and changes
        # every page: its warnings name that cause, so they come before the long list.
        for warning in drift.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"error: python -m leaderboard build would change {args.docs_dir}/; rebuild "
              "and commit" + (" (or first fix what the warnings above say)"
                              if drift.warnings else "") + ":", file=sys.stderr)
        for line in drift.lines():
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"leaderboard: {args.docs_dir}/ is what the committed results build "
          f"({len(drift.warnings)} warning(s))", file=sys.stderr)
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    # lazy: each subcommand loads only its own modules (the site build needs no torch)
    from leaderboard.summary import summarize

    expect = [n.strip() for n in (args.expect or "").split(",") if n.strip()]
    text, ok = summarize(Path(args.results_dir), split=args.split, expect=expect,
                         leaderboard_dir=Path(args.leaderboard_dir))
    sys.stdout.write(text)
    return 0 if ok else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    # lazy: each subcommand loads only its own modules (the site build needs no torch)
    from leaderboard.demo import make_demo_results

    paths = make_demo_results(Path(args.results_dir), data_dir=args.data_dir)
    for p in paths:
        print(p)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    # lazy: each subcommand loads only its own modules (the site build needs no torch)
    from leaderboard.export import ExportError, export_table

    warnings: list[str] = []
    try:
        text = export_table(Path(args.results_dir), args.format, split=args.split,
                            use_registry=not args.no_registry, caption=args.caption,
                            warnings=warnings, across=args.across)
    except (ExportError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8", newline="\n")
    else:
        sys.stdout.write(text)
    return 0


def _cmd_preview(args: argparse.Namespace) -> int:
    # lazy: each subcommand loads only its own modules (the site build needs no torch)
    from leaderboard.preview import preview

    try:
        out = preview(Path(args.results_dir), Path(args.out), Path(args.committed_dir),
                      data_dir=args.data_dir, make_plots=not args.no_plots)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for w in out.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for placement in out.placements:
        if (placement.estimator, placement.split) in out.merged:
            print(f"placed {placement.estimator} on {placement.split} (marked ★)")
        print(f"  {placement.line()}")
    for est, split, tau in out.off_board:
        print(f"{est} on {split}: τ {tau if tau is None else f'{tau:.3f}'} -- {split} is not "
              "on the leaderboard; score nb201-c10-1k to be ranked")
    if not out.placements:
        print("none of your results is on a split with committed results: nothing to place")
    print(f"preview in {out.docs_dir}/index.md; browse it with: mkdocs serve -f "
          f"{Path(args.out) / 'mkdocs.yml'}")
    return 0


def _site_arguments(p: argparse.ArgumentParser) -> None:
    """The options ``build`` and ``check`` share: what is built, from what, where."""
    p.add_argument("--results-dir", default="leaderboard/results",
                   help="results directory (default: %(default)s)")
    p.add_argument("--docs-dir", default="docs", help="MkDocs docs_dir (default: %(default)s)")
    p.add_argument("--data-dir", default=None,
                   help="benchmark data for ground truth (default: $ESTBENCH_DATA)")
    p.add_argument("--trained-dir", default=None,
                   help="results on trained supernet weights, one folder per source (default: "
                        "results-trained beside --results-dir); shown on trained-weights.md")


def _cmd_study(args: argparse.Namespace) -> int:
    # lazy: each subcommand loads only its own modules (the site build needs no torch)
    from leaderboard.study import collect, expand_dirs, report, write_block

    dirs = expand_dirs(args.dirs or list(DEFAULT_STUDY_DIRS), Path.cwd())
    ests = [e.strip() for e in (args.estimators or "").split(",") if e.strip()]
    try:
        arms = collect(dirs, args.split, ests or None)
        text = report(arms, args.split, [d.relative_to(Path.cwd()) if d.is_relative_to(
            Path.cwd()) else d for d in dirs])
        if args.write:
            write_block(Path(args.write), text)
            print(f"wrote {len(arms)} arm(s) into {args.write}", file=sys.stderr)
        else:
            sys.stdout.write(text + "\n")
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _trained_dir(args: argparse.Namespace) -> Path:
    return (Path(args.trained_dir) if args.trained_dir is not None
            else Path(args.results_dir).parent / "results-trained")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m leaderboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="results -> Markdown pages and plots under docs/")
    _site_arguments(b)
    b.add_argument("--no-plots", action="store_true", help="skip the plots (faster preview)")
    b.add_argument("--strict", action="store_true",
                   help="exit 1 if any results file could not be used (pages are still built)")
    b.set_defaults(func=_cmd_build)

    c = sub.add_parser("check", help="exit 1 if building the results would change docs/ "
                                     "(builds into a temporary copy; plots compared by presence)")
    _site_arguments(c)
    c.set_defaults(func=_cmd_check)

    s = sub.add_parser("summary", help="Markdown summary of a results directory (for CI); "
                                       "exits 1 if a contract failed or a result is missing")
    s.add_argument("results_dir", help="results directory, e.g. pr-results")
    s.add_argument("--split", default="nb201-c10-1k",
                   help="split to summarise (default: %(default)s)")
    s.add_argument("--expect", default=None,
                   help="comma list of estimators that must have a result on the split")
    s.add_argument("--leaderboard-dir", default="leaderboard/results",
                   help="committed results to compare ranks with (default: %(default)s)")
    s.set_defaults(func=_cmd_summary)

    d = sub.add_parser("demo", help="score params (1 seed) and random (3 seeds) on "
                                    "nb201-c10-smoke, for previews and tests")
    d.add_argument("--results-dir", required=True)
    d.add_argument("--data-dir", default=None)
    d.set_defaults(func=_cmd_demo)

    e = sub.add_parser("export", help="the home table (or --split's table) exactly as the site "
                                      "shows it, as CSV, LaTeX or Markdown")
    e.add_argument("--format", required=True, choices=("csv", "latex", "markdown"))
    e.add_argument("--split", default=None,
                   help="export this split's full table (its page's) instead of the home table")
    e.add_argument("--across", action="store_true",
                   help="export the table across the benchmarks (mean τ, its 95 %% interval "
                        "in CSV, rank group, worst τ) instead of the home ranking")
    e.add_argument("--results-dir", default="leaderboard/results",
                   help="results directory (default: %(default)s)")
    e.add_argument("--output", "-o", default=None, help="write here instead of stdout")
    e.add_argument("--caption", default=None,
                   help="LaTeX: wrap the tabular in a table float with this caption")
    e.add_argument("--no-registry", action="store_true",
                   help="do not load the estimator registry (faster; stale results are then "
                        "not detected, unlike on the site)")
    e.set_defaults(func=_cmd_export)

    p = sub.add_parser("preview", help="your local results merged with the committed ones, "
                                       "ranked and marked, built into a scratch directory")
    p.add_argument("--results-dir", required=True, help="your results directory")
    p.add_argument("--out", default="/tmp/estbench-preview",
                   help="scratch directory for the merged results and docs (default: "
                        "%(default)s)")
    p.add_argument("--committed-dir", default="leaderboard/results",
                   help="the committed results (default: %(default)s)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=_cmd_preview)

    st = sub.add_parser("study", help="the one-shot study: each arm (sampler, sharing, shape, "
                                      "budget) with τ per seed, mean ± sd, and its curve")
    st.add_argument("dirs", nargs="*", help="results directories, globs allowed (default: "
                                            + " ".join(DEFAULT_STUDY_DIRS) + ")")
    st.add_argument("--split", default="nb201-c10-1k",
                    help="split the runs are compared on (default: %(default)s)")
    st.add_argument("--estimators", default=None, help="comma list (default: every one-shot)")
    st.add_argument("--write", metavar="PAGE", default=None,
                    help="replace the generated block of PAGE (between "
                         "<!-- oneshot-study:start --> and <!-- oneshot-study:end -->)")
    st.set_defaults(func=_cmd_study)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
