"""The notebook API (``harness.evaluate``) and the documented install lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import harness
from harness import results

ROOT = Path(__file__).resolve().parents[1]


def test_evaluate_returns_metrics_scores_with_truth_and_json(tmp_path, data_dir):
    ev = harness.evaluate("params", split="nb201-c10-smoke", seeds=(20,), data_dir=data_dir,
                          results_dir=tmp_path)
    assert ev.contract_ok and -1.0 <= ev.metrics["kendall"] <= 1.0
    assert list(ev.scores.columns) == ["arch_id", "seed", "score", "accuracy"]
    assert len(ev.scores) == 100 and ev.scores["accuracy"].notna().all()
    # The accuracy column is the split's ground truth, joined after scoring.
    from harness.splits import load_split

    split = load_split("nb201-c10-smoke")
    truth = dict(zip(split.arch_ids, split.ground_truth(data_dir)))
    assert all(ev.scores["accuracy"][i] == truth[a] for i, a in enumerate(ev.scores["arch_id"]))
    obj = json.loads(ev.to_json())
    assert obj == results.load_json(ev.path) and obj["metrics"]["mean"] == ev.metrics


def test_evaluate_rejects_bad_input_with_one_clear_error(tmp_path, data_dir):
    from harness.run import UsageError

    with pytest.raises(UsageError, match="Did you mean 'params'"):
        harness.evaluate("parms", data_dir=data_dir, results_dir=tmp_path)
    with pytest.raises(UsageError, match="unknown --estimator-option key"):
        harness.evaluate("params", options={"epochs": 2}, data_dir=data_dir,
                         results_dir=tmp_path)


def test_the_readme_shows_the_python_api():
    text = (ROOT / "README.md").read_text()
    assert 'harness.evaluate("relu_logdet", split="nb201-c10-smoke", seeds=(20,))' in text


def test_install_lines_agree_in_readme_submitting_and_workflows():
    pin = "pip install torch==2.13.0"
    extras = 'pip install -e ".[dev,docs,distributed]"'
    site_only = ROOT / ".github" / "workflows" / "leaderboard.yml"  # the site: no torch
    files = [ROOT / "README.md", ROOT / "docs" / "submitting.md",
             *sorted((ROOT / ".github" / "workflows").glob("*.yml")), ROOT / ".ci" / "run"]
    for path in files:
        if path == site_only:
            continue
        text = path.read_text().replace("python -m pip", "pip").replace(" -q", "")
        assert pin in text and extras in text, path
        assert text.index(pin) < text.index(extras), f"{path}: torch must come first"
    # The Pages job installs the project without its dependencies, then only the `site` extra.
    text = site_only.read_text()
    assert not [line for line in text.splitlines() if "pip install" in line and "torch" in line]
    assert "pip install --no-deps -e ." in text
    assert "['optional-dependencies']['site']" in text
