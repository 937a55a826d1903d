"""Which estimator files the harness trusts enough to import into its own process.

A file is *trusted* when its bytes are those a maintainer recorded: the committed catalog
(``leaderboard/catalog.json``, written by ``python -m harness catalog --write`` and checked by
CI) holds the SHA-256 of each estimator's source file. Every other file -- a new submission, a
changed one, a file of another package -- is untrusted: the registry never imports it in the
process that reads ground truth; it is described in a guarded worker process
(:mod:`harness.sandbox`) and scored only in workers (:mod:`harness.run.isolation`).
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

#: The committed catalog: what the site reads, and the record of trusted sources.
CATALOG_PATH = Path(__file__).resolve().parent.parent / "leaderboard" / "catalog.json"
#: The package whose files the catalog vouches for.
TRUSTED_PACKAGE = "estimators"


def source_sha256(path: str | Path) -> str:
    """The SHA-256 (hex) of a source file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@cache
def recorded_sources(path: Path = CATALOG_PATH) -> dict[str, str]:
    """Estimator name -> the SHA-256 of its source file, as the committed catalog records it
    (empty when the catalog is missing or unreadable: then nothing is trusted)."""
    try:
        entries = json.loads(Path(path).read_text())["estimators"]
        return {name: str(e["source_sha256"]) for name, e in entries.items()
                if isinstance(e, dict) and e.get("source_sha256")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def is_trusted(package: str, stem: str, path: str | Path) -> bool:
    """Whether the file ``path`` (module ``<package>.<stem>``) is the one the catalog records
    for estimator ``stem``."""
    if package != TRUSTED_PACKAGE:
        return False
    recorded = recorded_sources().get(stem)
    try:
        return recorded is not None and recorded == source_sha256(path)
    except OSError:
        return False


def forget() -> None:
    """Read the catalog again next time (after ``catalog --write``, and in tests)."""
    recorded_sources.cache_clear()


#: Keyword arguments of the registration call that are display only: a figure published
#: elsewhere (:class:`harness.published.Published`) cannot change a score.
DISPLAY_ONLY_KEYWORDS = frozenset({"published"})


def code_sha256(path: str | Path) -> str:
    """A fingerprint of what in an estimator file can change a score: the SHA-256 of its
    syntax tree, unparsed, without docstrings and display-only metadata.

    Editing a docstring, a comment, the layout, or the figures published for the estimator
    (the ``published=`` keyword of its registration, and module-level names used only there)
    leaves it unchanged; any other change of code changes it. So a result can tell a
    documentation edit from a code change (:func:`leaderboard.collect.source_changed`).

    The fingerprint is of the tree as this Python (3.11 here and in CI) unparses it, and of
    the rules below: changing either changes every fingerprint, so stored ones would all read
    as changed code (the safe direction). Recompute them rather than accept that: set them to
    null and run ``python -m harness results upgrade``, which fingerprints the scored sources
    from the git history.
    """
    return code_sha256_of_text(Path(path).read_text())


def code_sha256_of_text(text: str) -> str:
    """:func:`code_sha256` of a source text (raises ``SyntaxError`` for invalid Python)."""
    tree = ast.parse(text)
    display_only: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg in DISPLAY_ONLY_KEYWORDS and isinstance(kw.value, ast.Name):
                    display_only.add(kw.value.id)
            node.keywords = [kw for kw in node.keywords if kw.arg not in DISPLAY_ONLY_KEYWORDS]
    # A module-level constant that only fed a display-only keyword goes with it.
    display_only -= _loaded_names(tree)
    body = []
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign) else
                   [node.target] if isinstance(node, ast.AnnAssign) else [])
        if targets and all(isinstance(t, ast.Name) and t.id in display_only for t in targets):
            continue
        body.append(node)
    tree.body = body
    tree.body = _without_unused_imports(body, _loaded_names(tree))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                node.body = node.body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.unparse(tree).encode()).hexdigest()


def _loaded_names(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


#: The package whose modules an estimator may import for shared helpers and citations; they
#: only define things, so importing one has no effect that could change a score.
HARNESS_PACKAGE = "harness"


def _without_unused_imports(body: list[ast.stmt], used: set[str]) -> list[ast.stmt]:
    """``body`` without the names a module-level ``from ... import`` binds but nothing uses
    (such as ``Published`` once the published figures are left out).

    A statement left with no name is dropped when it imports from the harness (whose modules
    only define), and otherwise becomes ``import <module>``, so that an import from elsewhere,
    and any side effect it has, still counts.
    """
    out: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [a for a in node.names if a.name == "*" or (a.asname or a.name) in used]
            if not names:
                if node.module.split(".")[0] != HARNESS_PACKAGE:
                    out.append(ast.Import(names=[ast.alias(name=node.module)]))
                continue
            node.names = names
        out.append(node)
    return out


def estimated_names(text: str) -> set[str]:
    """The estimators a source text runs through the harness: the string literals passed to
    ``<anything>.estimate("name")`` (:meth:`harness.api.ArchContext.estimate`, as
    ``vkdnw_agg`` runs ``vkdnw`` and ``az_nas``). A name built at run time is not seen."""
    return {node.args[0].value for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "estimate" and len(node.args) == 1
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)}


def estimated_code(name: str, text_of: Callable[[str], str | None]) -> dict[str, str]:
    """Fingerprint (:func:`code_sha256_of_text`) of every estimator that ``name`` runs through
    :func:`estimated_names`, directly or in turn, ``name`` itself left out.

    The fingerprint of a file covers its own code only; an estimator that runs another also
    costs what that one's code costs, so a standalone cost records both (a speed-up of
    ``vkdnw`` changes the cost of ``vkdnw_agg``).

    Args:
        name: the estimator.
        text_of: estimator name → its source text (``None`` when there is none, as for a
            name that is not an estimator file: it is left out).
    """
    out: dict[str, str] = {}
    todo, seen = [name], {name}
    while todo:
        text = text_of(todo.pop())
        if text is None:
            continue
        for dep in sorted(estimated_names(text) - seen):
            seen.add(dep)
            dep_text = text_of(dep)
            if dep_text is not None:
                out[dep] = code_sha256_of_text(dep_text)
                todo.append(dep)
    return dict(sorted(out.items()))


def files_text_of(estimator_dir: str | Path) -> Callable[[str], str | None]:
    """``text_of`` for :func:`estimated_code` reading ``<estimator_dir>/<name>.py`` now."""
    def text_of(name: str) -> str | None:
        path = Path(estimator_dir) / f"{name}.py"
        try:
            return path.read_text()
        except OSError:
            return None
    return text_of
