"""Small *real* results for the leaderboard's tests and for previewing the site locally.

Scores two cheap estimators on ``nb201-c10-smoke`` (100 architectures) with the real harness:
``random`` with the paper's three seeds (a complete, rankable row) and ``params`` with one seed
(an incomplete row: fewer than three seeds). Takes ~10–20 s on one core.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from leaderboard.build import GENERATED_ASSET_DIRS, MARKER

DEMO_SPLIT = "nb201-c10-smoke"


def make_demo_results(results_dir: Path, data_dir: str | None = None,
                      split: str = DEMO_SPLIT) -> list[Path]:
    """Write ``random`` (3 seeds) and ``params`` (1 seed) results on ``split``.

    Returns:
        The results JSON files written.
    """
    # lazy: scoring the demo needs the harness (torch); the site's other commands must not
    from harness import registry, results, run

    cfg = run.RunConfig(seeds=run.PAPER_SEEDS, data_dir=data_dir,
                        results_dir=Path(results_dir), resume=False, determinism_checks=1,
                        threads=1)
    run.run([registry.get("random")], split, cfg)
    run.run([registry.get("params")], split, replace(cfg, seeds=(20,)))
    return [results.results_path(Path(results_dir), n, split) for n in ("params", "random")]


def shared_demo_results(base: Path, data_dir: str | None = None) -> Path:
    """:func:`make_demo_results` once per ``base`` directory, safe across processes.

    Tests running in several pytest-xdist workers pass the same ``base`` (a per-run temporary
    folder); the first worker scores, the others wait on a file lock and reuse the results.
    Treat the returned directory as read-only.
    """
    # lazy: scoring the demo needs the harness (torch); the site's other commands must not
    from filelock import FileLock  # a dependency of torch

    target = Path(base) / "estbench-demo-results"
    with FileLock(str(target) + ".lock"):
        if not (target / ".complete").is_file():
            shutil.rmtree(target, ignore_errors=True)
            make_demo_results(target, data_dir=data_dir)
            (target / ".complete").write_text("ok\n")
    return target


def stage_site_project(dest: Path, root: Path | None = None) -> Path:
    """Copy ``mkdocs.yml``, its hook and the hand-written ``docs/`` into ``dest``, so that a
    build there (``python -m leaderboard build --docs-dir DEST/docs`` then
    ``mkdocs build --config-file DEST/mkdocs.yml``) does not touch the repository.

    Generated pages and plots in the repository's ``docs/`` are not copied.

    Returns:
        The staged ``mkdocs.yml``.
    """
    root = Path(root) if root else Path(__file__).resolve().parent.parent
    dest = Path(dest)
    (dest / "leaderboard").mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "mkdocs.yml", dest / "mkdocs.yml")
    shutil.copy2(root / "leaderboard" / "mkdocs_hooks.py", dest / "leaderboard" / "mkdocs_hooks.py")
    docs = root / "docs"
    skip_dirs = {(docs / d).resolve() for d in GENERATED_ASSET_DIRS}

    def generated(p: Path) -> bool:
        if p.resolve() in skip_dirs:
            return True
        return p.suffix == ".md" and p.is_file() and \
            p.read_text(encoding="utf-8", errors="replace").startswith(MARKER)

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if generated(Path(folder, n))]

    shutil.copytree(docs, dest / "docs", ignore=ignore, dirs_exist_ok=True)
    return dest / "mkdocs.yml"
