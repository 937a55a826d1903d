"""Estimator registry: discovery, naming rules, metadata of every submission."""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import estimator_package

from harness import api, registry


def test_every_estimator_module_is_discovered():
    import pkgutil

    import estimators

    modules = {m.name for m in pkgutil.iter_modules(estimators.__path__)
               if not m.name.startswith("_") and not m.ispkg}
    assert set(registry.names()) == modules


def _bibtex_ok(text: str) -> bool:
    """A minimal BibTeX parse: one entry, balanced braces, a key, title/author/year fields."""
    m = re.match(r"\s*@(\w+)\s*\{\s*([^,\s]+)\s*,(.*)\}\s*$", text, re.S)
    if not m or text.count("{") != text.count("}"):
        return False
    body = m.group(3).lower()
    return all(re.search(rf"\b{f}\s*=", body) for f in ("title", "author", "year"))


@pytest.mark.parametrize("name", registry.names())
def test_metadata(name):
    est = registry.get(name)
    info = est.info
    assert info.name == name == est.module.rsplit(".", 1)[-1]
    assert info.kind in api.KINDS
    assert info.idea and len(info.idea) < 200 and "\n" not in info.idea
    assert info.version
    if info.kind != "baseline":
        assert info.paper is not None
    if info.paper is not None:
        assert info.paper.title and info.paper.url.startswith("http")
        assert _bibtex_ok(info.paper.bibtex), info.paper.bibtex


def test_unknown_name_suggests_close_matches():
    with pytest.raises(registry.UnknownEstimatorError, match="synflow"):
        registry.get("synflw")
    with pytest.raises(registry.UnknownEstimatorError):
        registry.resolve(" , ")


def test_resolve_all_and_lists():
    assert [e.name for e in registry.resolve("all")] == registry.names()
    assert [e.name for e in registry.resolve("random,params,random")] == ["random", "params"]


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    yield from estimator_package(tmp_path, monkeypatch, "fake_estimators")


def _module(name: str, registered: str) -> str:
    return textwrap.dedent(f"""
        from harness.api import estimator

        @estimator(name={registered!r}, kind="baseline", idea="x", paper=None, version="1")
        def score(ctx):
            return 1.0
    """)


def _discover():
    registry.rescan()
    importlib.invalidate_caches()
    return registry.discover("fake_estimators")


def _broken() -> dict[str, str]:
    return {b.name: b.message for b in registry.broken("fake_estimators")}


def test_new_file_is_picked_up_with_no_other_edit(fake_package):
    (fake_package / "alpha.py").write_text(_module("alpha", "alpha"))
    assert list(_discover()) == ["alpha"]
    (fake_package / "beta.py").write_text(_module("beta", "beta"))
    assert list(_discover()) == ["alpha", "beta"]


def test_a_broken_file_is_reported_and_skipped_not_fatal(fake_package):
    """A wrong name, a syntax error or an import error in one submission never blocks the
    others; each is reported with one line naming the file."""
    (fake_package / "alpha.py").write_text(_module("alpha", "alpha"))
    (fake_package / "gamma.py").write_text(_module("gamma", "delta"))
    (fake_package / "syn.py").write_text("def score(:\n")
    (fake_package / "imp.py").write_text("import no_such_module_xyz\n")
    assert list(_discover()) == ["alpha"]
    broken = _broken()
    assert set(broken) == {"gamma", "syn", "imp"}
    assert "must equal the file name" in broken["gamma"]
    assert "SyntaxError" in broken["syn"] and "no_such_module_xyz" in broken["imp"]
    assert all("\n" not in m for m in broken.values())
    assert "delta" not in api.ESTIMATORS  # nothing half-registered stays behind


def test_duplicate_names_raise(fake_package):
    (fake_package / "eps.py").write_text(_module("eps", "eps") + textwrap.dedent("""
        @estimator(name="eps", kind="baseline", idea="y", paper=None, version="1")
        def score2(ctx):
            return 2.0
    """))
    assert "eps" not in _discover()
    assert "registered twice" in _broken()["eps"]


def test_the_same_definition_imported_again_is_not_a_collision(fake_package):
    (fake_package / "alpha.py").write_text(_module("alpha", "alpha"))
    _discover()  # untrusted: described in a worker, registered here as a stand-in
    importlib.import_module("fake_estimators.alpha")  # the same definition, imported here
    importlib.reload(sys.modules["fake_estimators.alpha"])
    assert list(_discover()) == ["alpha"] and not _broken()


def test_module_without_estimator_is_rejected(fake_package):
    (fake_package / "empty.py").write_text("X = 1\n")
    assert list(_discover()) == []
    assert "registers no estimator" in _broken()["empty"]


def test_the_project_has_no_broken_estimator_file():
    assert registry.broken() == ()


def _submitting_example() -> str:
    """The first Python block of docs/submitting.md (its complete, working example)."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "submitting.md").read_text()
    return text.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_documented_example_submission_works_first_time(fake_package, data_dir):
    from harness import run as runner

    (fake_package / "my_gradsum.py").write_text(_submitting_example())
    assert list(_discover()) == ["my_gradsum"] and not _broken()
    est = api.ESTIMATORS.get("my_gradsum")
    cfg = runner.RunConfig(seeds=(20,), data_dir=data_dir, results_dir=fake_package / "res",
                           determinism_checks=1, shard=(0, 40))  # 3 of the 100 cells
    session = runner.Session.create([est], "nb201-c10-smoke", cfg)
    assert est.untrusted  # a new file: scored in a worker of its own
    with runner.isolated(session):
        recs = runner.score_split(session)["my_gradsum"].records
    assert len(recs) == 3 and all(r.failure is None and r.score >= 0 for r in recs.values())
    assert any(r.score > 0 for r in recs.values())  # (a cell cut off from its input scores 0)


def test_paper_is_optional(fake_package):
    (fake_package / "gamma.py").write_text(textwrap.dedent("""
        from harness.api import estimator

        @estimator(name="gamma", kind="zero-shot", idea="x", version="1")
        def score(ctx):
            return 1.0
    """))
    assert list(_discover()) == ["gamma"] and not _broken()
    assert api.ESTIMATORS.get("gamma").info.paper is None


def test_list_names_every_estimator_and_split(capsys):
    from harness.__main__ import main
    from harness.splits import split_names

    assert main(["list", "estimators"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == registry.names()
    assert main(["list", "splits"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in out] == split_names()
    assert any("nb201-c10-1k" in ln and "1000 archs" in ln for ln in out)


def test_a_file_cannot_take_over_another_estimators_name(fake_package):
    # A new file claiming to be estimators.params (its __module__) to replace params.
    (fake_package / "sneaky.py").write_text(textwrap.dedent("""
        from harness.api import estimator

        def score(ctx):
            return -1.0

        score.__module__ = "estimators.params"
        estimator(name="params", kind="baseline", idea="x", version="9")(score)
    """))
    registry.discover()
    assert "sneaky" in _broken() and "sneaky.py" in _broken()["sneaky"]
    assert api.ESTIMATORS.get("params").info.version == "1"  # the real one is untouched


def test_the_same_function_name_defined_twice_in_a_file_is_a_collision(fake_package):
    (fake_package / "zeta.py").write_text(_module("zeta", "zeta") + _module("zeta", "zeta")
                                          .replace("from harness.api import estimator", ""))
    assert "zeta" not in _discover()
    assert "registered twice" in _broken()["zeta"] and "line" in _broken()["zeta"]


def test_no_estimator_imports_another():
    """Submissions share code through the harness (``harness.toolkit``, ``harness.passes``,
    ``harness.papers``) and values through ``ctx.estimate``: one broken file cannot take
    others down at import (issue #42)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "estimators"
    offenders = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == \
                    "estimators":
                offenders.append(f"{path.name}: from {node.module} import ...")
            elif isinstance(node, ast.Import):
                offenders += [f"{path.name}: import {a.name}" for a in node.names
                              if a.name.split(".")[0] == "estimators"]
    assert offenders == []


def test_estimate_reads_another_estimators_value_once_and_names_unknown_ones():
    import pytest as _pytest
    import torch

    from harness import api

    calls = []
    info = api.EstimatorInfo(name="counted", kind="zero-shot", idea="t", paper=None,
                             version="3", needs_images=False, data_independent=True)
    counted = api.Estimator(info=info, score=lambda ctx: calls.append(1) or 2.5)
    table = {"counted": counted}

    def resolve(name):
        if name not in table:
            raise api.UnknownEstimatorError(f"Unknown estimator {name!r}")
        return table[name]

    ctx = api.ArchContext(spec="s", space="x", dataset="d", num_classes=2,
                          input_shape=(1, 1, 1), seed=0, device=torch.device("cpu"),
                          builder=lambda s: torch.nn.Identity(), batch_loader=None,
                          shared={}, resolve=resolve)
    assert ctx.estimate("counted") == ctx.estimate("counted") == 2.5
    assert calls == [1] and ctx.has_shared("estimate:counted/v3")
    with _pytest.raises(api.UnknownEstimatorError, match="nope"):
        ctx.estimate("nope")


def test_spaces_share_the_registrys_rules():
    """Search spaces register on the same Registry as estimators: an unknown name gets close
    suggestions, and a second factory for a name is refused naming both places."""
    import pytest as _pytest

    from harness.spaces import (
        SPACES,
        DuplicateSpaceError,
        UnknownSpaceError,
        get_space,
        register_space,
        space_names,
    )

    assert {"nb101", "nb201", "nb301", "nds_resnet", "nds_resnexta"} <= set(space_names())
    with _pytest.raises(UnknownSpaceError, match="Did you mean 'nb201'") as err:
        get_space("nb20")
    assert isinstance(err.value, KeyError)
    with _pytest.raises(DuplicateSpaceError, match=r"harness\.spaces\.nb101:_space and "):
        register_space("nb101", lambda: None)
    assert get_space("nb201") is get_space("nb201")  # built once
    assert SPACES.origin("nb201") == "harness.spaces:_nb201"


def test_a_file_that_changes_torch_settings_at_import_is_refused(fake_package):
    """A file that only sits in estimators/ must not change every run: one that switches the
    default dtype when imported is reported and skipped, and the setting is put back."""
    import torch

    (fake_package / "alpha.py").write_text(_module("alpha", "alpha"))
    (fake_package / "rude.py").write_text(
        "import torch\ntorch.set_default_dtype(torch.float64)\n" + _module("rude", "rude"))
    assert list(_discover()) == ["alpha"]
    assert torch.get_default_dtype() == torch.float32
    assert "changed global torch state when imported (default dtype torch.float32 -> " \
        "torch.float64)" in _broken()["rude"]
    assert "rude" not in api.ESTIMATORS
