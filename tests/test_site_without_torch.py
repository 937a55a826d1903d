"""The site is a function of the results: it builds without torch and without importing a
submission (the estimator catalog, leaderboard/catalog.json, stands in for the registry)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from harness import catalog
from leaderboard.collect import CATALOG_PATH, load_registry
from leaderboard.demo import shared_demo_results

ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_catalog_is_current():
    assert catalog.CATALOG_PATH == CATALOG_PATH
    assert catalog.differences() == [], "run: python -m harness catalog --write"


def test_a_new_unscored_submission_is_not_a_catalog_difference(tmp_path):
    """A pull request adds only estimators/<name>.py: with no committed results, its missing
    catalog entry is expected; with results, the catalog must list it."""
    stored = json.loads(CATALOG_PATH.read_text())
    del stored["estimators"]["zico"]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(stored))
    assert catalog.differences(path, results_dir=tmp_path / "no-results") == []
    assert catalog.differences(path) == ["zico: missing"]


def test_the_catalog_says_what_the_registry_says(tmp_path):
    reg, problem = load_registry()
    assert problem is None and reg is not None
    assert reg["swap"].version == "2" and reg["vkdnw_agg"].kind == "zero-shot"
    # a one-shot estimator: CIFAR-10 supernets only, so not on the CIFAR-100 split
    assert "nb201-c100" in reg["oneshot_deiso"].not_applicable
    assert "nb101-1k" not in reg["oneshot_deiso"].not_applicable
    assert any(f.criterion == "kendall" for f in reg["az_nas"].published)
    bad = tmp_path / "catalog.json"
    bad.write_text(json.dumps({"catalog_version": 99, "estimators": {}}))
    reg, problem = load_registry(bad)
    assert reg is None and "catalog_version 99" in problem and "catalog --write" in problem
    assert catalog.differences(bad)  # the check names it too


def test_the_site_builds_without_torch_or_a_submission(tmp_path_factory, data_dir):
    base = tmp_path_factory.getbasetemp()
    results = shared_demo_results(base.parent if os.environ.get("PYTEST_XDIST_WORKER")
                                  else base, data_dir)
    docs = tmp_path_factory.mktemp("docs-without-torch")
    code = textwrap.dedent(f"""
        import sys

        class NoTorch:  # any `import torch` now raises ImportError
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is made unimportable by the test")
                return None

        sys.meta_path.insert(0, NoTorch())
        from pathlib import Path
        from leaderboard.build import build
        report = build(Path({str(results)!r}), Path({str(docs)!r}), data_dir={data_dir!r},
                       results_label="results")
        # The de-isomorphic split's truth (isomorphism-class means) needs only the cells.
        from harness.splits import load_split
        assert len(load_split("nb201-c10-deiso").ground_truth({data_dir!r})) == 6466
        loaded = [m for m, mod in sys.modules.items() if mod is not None]
        assert not [m for m in loaded if m == "torch" or m.startswith("torch.")], "torch"
        assert not [m for m in loaded if m.startswith("estimators")], "a submission"
        assert not [m for m in loaded if m == "harness.registry"], "the registry"
        assert not [w for w in report.warnings if "registry" in w or "catalog" in w], \
            report.warnings
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (docs / "index.md").is_file() and list((docs / "estimators").glob("*.md"))
