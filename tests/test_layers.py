"""The import structure holds: no cycles, contracts kept, every lazy import says why.

The layers themselves are written as import-linter contracts in ``pyproject.toml`` and drawn
in ``docs/architecture.md``; ``.ci/run`` runs ``lint-imports`` too.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp", reason="import-linter (and grimp) come with pip install -e '.[dev]'")

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "estimators", "leaderboard")


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(
                        child)))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_cycle_finder_finds_a_cycle():
    class Graph:
        modules = {"a", "b", "c", "d"}
        edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

        def find_modules_directly_imported_by(self, m):
            return self.edges[m]

    assert _cycles(Graph()) == [["a", "b", "c"]]


def test_no_import_cycles():
    """Imports inside functions count: a cycle hidden in a function is still a cycle."""
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert _cycles(graph) == []


def _function_level_imports(path: Path) -> list[tuple[int, str]]:
    src = path.read_text()
    lines = src.splitlines()
    tree = ast.parse(src)
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, (ast.Import, ast.ImportFrom)) and getattr(sub, "module", None) != "__future__":
                out.append((sub.lineno, lines[sub.lineno - 1]))
    return out


def _has_reason(lines: list[str], lineno: int) -> bool:
    """``# lazy: why`` on the import's line, or above the block of imports it belongs to."""
    i = lineno - 1
    if "# lazy:" in lines[i]:
        return True
    i -= 1
    while i >= 0:
        text = lines[i].strip()
        if text.startswith("# lazy:"):
            return True
        if text.startswith(("from ", "import ")) or text == "":
            i -= 1
            continue
        return False
    return False


def test_every_function_level_import_says_why():
    """Imports belong at the top of the module; one inside a function needs a reason (an
    optional package, or a front end that must not load torch for every subcommand)."""
    missing = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            lines = path.read_text().splitlines()
            for lineno, text in _function_level_imports(path):
                if not _has_reason(lines, lineno):
                    missing.append(f"{path.relative_to(ROOT)}:{lineno}: {text.strip()}")
    assert not missing, "function-level imports without a '# lazy:' reason:\n" + "\n".join(
        missing)


def test_reason_rule_sees_a_missing_reason():
    lines = ["def f():", "    x = 1", "    from harness import api", "    return api"]
    assert not _has_reason(lines, 3)
    lines[1] = "    # lazy: optional"
    assert _has_reason(lines, 3)


@pytest.mark.skipif(shutil.which("lint-imports") is None and
                    not (Path(sys.executable).parent / "lint-imports").exists(),
                    reason="import-linter is not installed (pip install -e '.[dev]')")
def test_import_contracts_are_kept():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
