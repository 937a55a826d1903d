"""MkDocs hook (``hooks:`` in ``mkdocs.yml``): a ``nav`` that follows the generated pages.

In ``mkdocs.yml`` a nav entry whose value is a folder (ends with ``/``) is expanded into that
folder's ``index.md`` (if any) followed by its other pages, sorted by file name — so every
generated estimator and split page is in the navigation without listing it by hand. Entries
naming a page that does not exist (a hand-written page not yet written) are dropped, and so are
sections left empty, so ``mkdocs build --strict`` passes on any set of results.

Pages under ``docs/`` that the nav does not mention are appended (sorted by path) to the
section named by :data:`UNLISTED_SECTION` (created if missing), so a new hand-written page is
never silently missing from the navigation.

This file is loaded by MkDocs by path and imports nothing from the project.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.leaderboard")

UNLISTED_SECTION = "Reference"


def _folder(docs_dir: Path, folder: str) -> list[Any]:
    base = docs_dir / folder
    if not base.is_dir():
        return []
    pages = sorted(p for p in base.glob("*.md") if p.name != "index.md")
    out: list[Any] = []
    if (base / "index.md").is_file():
        out.append(f"{folder}index.md")
    out += [f"{folder}{p.name}" for p in pages]
    return out


def expand(nav: list[Any], docs_dir: Path) -> list[Any]:
    """The nav with folder entries expanded and missing pages dropped."""
    out: list[Any] = []
    for item in nav:
        if isinstance(item, str):
            if item.endswith("/"):
                out += _folder(docs_dir, item)
            elif _keep(item, docs_dir):
                out.append(item)
            continue
        if isinstance(item, dict):
            for title, value in item.items():
                if isinstance(value, list):
                    children = expand(value, docs_dir)
                elif isinstance(value, str) and value.endswith("/"):
                    children = _folder(docs_dir, value)
                elif isinstance(value, str) and _keep(value, docs_dir):
                    out.append({title: value})
                    continue
                else:
                    continue
                if children:
                    out.append({title: children})
                else:
                    log.info("nav section %r is empty; left out", title)
            continue
        out.append(item)
    return out


def _keep(target: str, docs_dir: Path) -> bool:
    if "://" in target or (docs_dir / target).is_file():
        return True
    log.info("nav entry %r does not exist; left out", target)
    return False


def listed(nav: list[Any]) -> set[str]:
    """Every page path the nav names."""
    out: set[str] = set()
    for item in nav:
        values = item.values() if isinstance(item, dict) else [item]
        for value in values:
            if isinstance(value, list):
                out |= listed(value)
            elif isinstance(value, str):
                out.add(value)
    return out


def add_unlisted(nav: list[Any], docs_dir: Path) -> list[Any]:
    """Append the pages the nav does not name to the :data:`UNLISTED_SECTION` section."""
    have = listed(nav)
    extra = sorted(p.relative_to(docs_dir).as_posix() for p in docs_dir.rglob("*.md")
                   if p.relative_to(docs_dir).as_posix() not in have
                   and not any(part.startswith(".") for part in p.relative_to(docs_dir).parts))
    if not extra:
        return nav
    for item in nav:
        if isinstance(item, dict) and isinstance(item.get(UNLISTED_SECTION), list):
            item[UNLISTED_SECTION] = item[UNLISTED_SECTION] + extra
            return nav
    return nav + [{UNLISTED_SECTION: extra}]


def on_config(config: Any, **kwargs: Any) -> Any:
    """MkDocs event: rewrite ``config['nav']`` before the build reads it."""
    nav = config.get("nav")
    if nav:
        docs_dir = Path(config["docs_dir"])
        config["nav"] = add_unlisted(expand(nav, docs_dir), docs_dir)
    return config
