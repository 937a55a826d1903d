"""The estbench leaderboard: turns harness results into a static MkDocs (Material) site.

``python -m leaderboard build`` reads ``leaderboard/results/<estimator>/<split>.json`` (and the
per-architecture scores beside them) and writes Markdown pages and SVG plots under ``docs/``;
``mkdocs build --strict`` then renders the site. ``python -m leaderboard summary DIR`` writes a
Markdown summary of a results directory (used by the pull-request workflow).

Modules:
    collect: load and check results files; decide which rows are complete and rankable.
    fmt: number formatting, Markdown tables, the generated-file header.
    analysis: per-seed score matrices, rank transforms and top-K curves for the plots.
    plots: matplotlib figures (Agg, deterministic SVG).
    site: what the page writers share (results, plots made, ground truth, links).
    home, estimator_page, split_page: one module per kind of page.
    build: the whole build (cleanup, pages, plots, warnings).
    summary: the pull-request summary.
    demo: small real results for tests and local previews.
    mkdocs_hooks: expands generated folders in the ``nav`` of ``mkdocs.yml``.
"""

GENERATED_BY = "python -m leaderboard build"
