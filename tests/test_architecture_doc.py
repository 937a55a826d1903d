"""``docs/architecture.md`` stays true: it names every module, and every file it names exists.

The page is how a newcomer finds which room they are in; a module it never mentions is a room
without a sign, and a name it keeps after a rename sends them to a room that is gone.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("harness", "leaderboard")
#: Placeholder names the page uses in examples, not files.
EXAMPLES = {"estimators/a.py", "estimators/b.py"}
#: Backticked Python file names, bare (``collect.py``) or as a path (``harness/data.py``).
PY_NAME = re.compile(r"`([A-Za-z0-9_./]+\.py)`")


def _modules() -> list[Path]:
    """Every module of the harness and the site, but package markers and entry points."""
    return sorted(p.relative_to(ROOT) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
                  if p.name not in ("__init__.py", "__main__.py"))


def unnamed_modules(text: str, modules: list[Path]) -> list[str]:
    """The modules ``text`` names neither by path nor by file name in backticks."""
    names = set(PY_NAME.findall(text))
    return [str(m) for m in modules if str(m) not in names and m.name not in names]


def stale_names(text: str, root: Path = ROOT) -> list[str]:
    """Backticked ``.py`` names in ``text`` that are no file: a path that does not exist, or
    a bare file name that no module of the tree carries."""
    present = {p.name for p in root.rglob("*.py") if ".venv" not in p.parts}
    stale = []
    for name in sorted(set(PY_NAME.findall(text)) - EXAMPLES):
        if "/" in name:
            if not (root / name).is_file():
                stale.append(name)
        elif name not in present:
            stale.append(name)
    return stale


def test_the_page_names_every_module():
    missing = unnamed_modules(DOC.read_text(encoding="utf-8"), _modules())
    assert not missing, f"docs/architecture.md never names: {', '.join(missing)}"


def test_every_file_the_page_names_exists():
    stale = stale_names(DOC.read_text(encoding="utf-8"))
    assert not stale, f"docs/architecture.md names files that do not exist: {', '.join(stale)}"


def test_the_checks_see_a_missing_and_a_stale_name(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "kept.py").write_text("")
    modules = [Path("pkg/kept.py"), Path("pkg/other.py")]
    text = "`pkg/kept.py` and `gone.py` and `pkg/moved.py`"
    assert unnamed_modules(text, modules) == ["pkg/other.py"]
    assert unnamed_modules("`other.py` and `kept.py`", modules) == []
    assert stale_names(text, tmp_path) == ["gone.py", "pkg/moved.py"]
