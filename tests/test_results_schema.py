"""The one typed results schema: dataclasses, the generated JSON Schema, the docs, and every
committed result."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from harness import results, trust
from harness.results_upgrade import SourceHistory, lacks_metrics, upgrade_dir
from harness.splits import load_split

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted((ROOT / "leaderboard").glob("results*/**/*.json"))


def test_the_committed_json_schema_is_generated_from_the_dataclasses():
    text = json.dumps(results.json_schema(), indent=1, sort_keys=True) + "\n"
    assert results.SCHEMA_FILE.read_text() == text, "run python -m harness schema"


def test_the_docs_name_every_field_of_the_schema():
    doc = (ROOT / "docs" / "results-schema.md").read_text()
    schema = results.json_schema()
    missing = [f"{name}.{field}" for name, d in schema["$defs"].items()
               for field in d["properties"] if f"`{field}`" not in doc]
    assert missing == []
    assert f"`schema_version: {results.SCHEMA_VERSION}`" in doc


@pytest.mark.parametrize("path", COMMITTED, ids=[str(p.relative_to(ROOT)) for p in COMMITTED])
def test_every_committed_result_parses_and_round_trips(path):
    obj = json.loads(path.read_text())
    parsed = results.ResultFile.from_dict(obj, str(path))
    assert parsed.to_dict() == obj
    assert parsed.to_json() == path.read_text()  # written only by the harness, byte-stable


def test_every_committed_result_validates_against_the_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(results.SCHEMA_FILE.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for path in COMMITTED:
        errors = list(validator.iter_errors(json.loads(path.read_text())))
        assert not errors, f"{path}: {errors[0].message}"


def test_a_results_file_with_nan_or_infinity_is_rejected(tmp_path):
    """JSON has no NaN; Python's json writes it anyway as a bare token. Such a file (from a
    buggy writer) must be rejected on load, not read as a number."""
    obj = json.loads(COMMITTED[0].read_text())
    obj["metrics"]["mean"]["kendall"] = float("nan")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(obj))  # allow_nan=True by default: writes NaN
    with pytest.raises(results.ResultsSchemaError, match="non-finite"):
        results.load_result(bad)
    obj["metrics"]["mean"]["kendall"] = float("inf")
    bad.write_text(json.dumps(obj))
    with pytest.raises(results.ResultsSchemaError, match="non-finite"):
        results.load_result(bad)


def test_upgrade_from_schema_2_records_the_scores_files_sha256(tmp_path):
    src = next(p for p in COMMITTED if "results-trained" not in str(p))
    obj = json.loads(src.read_text())
    folder = tmp_path / src.parent.name
    folder.mkdir()
    (folder / obj["scores_file"]).write_bytes((src.parent / obj["scores_file"]).read_bytes())
    old = {k: v for k, v in obj.items() if k != "scores_sha256"}
    old["protocol"] = {k: v for k, v in obj["protocol"].items() if k != "scoring_key"}
    old["estimator"] = {k: v for k, v in obj["estimator"].items() if k != "code_sha256"}
    old["schema_version"] = 2
    (folder / src.name).write_text(json.dumps(old))
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / src.name).write_text(json.dumps(dict(old, estimator=dict(old["estimator"],
                                                                       name="lonely"))))
    lines = list(upgrade_dir(tmp_path, history=SourceHistory(tmp_path)))  # no git: no lookup
    assert any(f"upgraded 2 -> {results.SCHEMA_VERSION}" in line for line in lines)
    assert any("lonely" in line and "NOT upgraded" in line for line in lines)
    sha = results.file_sha256(folder / obj["scores_file"])
    # 2 -> 3 adds the scores file's hash, 3 -> 4 the scoring key (as the run wrote it), 4 -> 5
    # the code fingerprint (unknown here: no history to find the source in).
    assert json.loads((folder / src.name).read_text()) == dict(
        old, schema_version=results.SCHEMA_VERSION, scores_sha256=sha,
        protocol=obj["protocol"], estimator=dict(old["estimator"], code_sha256=None))
    assert json.loads((lonely / src.name).read_text())["schema_version"] == 2


@pytest.mark.parametrize("path", COMMITTED, ids=[str(p.relative_to(ROOT)) for p in COMMITTED])
def test_every_committed_scores_file_is_the_one_recorded(path):
    parsed = results.load_result(path)
    assert results.scores_match(parsed, path.with_name(parsed.scores_file))


def _committed_copy(tmp_path, est: str, split: str) -> tuple[Path, dict]:
    src = Path(__file__).resolve().parent.parent / "leaderboard" / "results" / est / f"{split}.json"
    obj = json.loads(src.read_text())
    folder = tmp_path / est
    folder.mkdir()
    (folder / obj["scores_file"]).write_bytes((src.parent / obj["scores_file"]).read_bytes())
    return folder / src.name, obj


def _without_exp_ndcg(obj: dict) -> dict:
    out = json.loads(json.dumps(obj))
    m = out["metrics"]
    for part in [m["mean"], m["std"], *m["per_seed"].values()]:
        for k in [k for k in part if k.startswith("ndcg_exp_")]:
            del part[k]
    return out


def test_upgrade_adds_a_metric_added_since_and_keeps_the_stored_ones(tmp_path, data_dir):
    from harness import metrics
    path, obj = _committed_copy(tmp_path, "params", "nb201-c10-1k")
    old = _without_exp_ndcg(obj)
    path.write_text(json.dumps(old))
    assert lacks_metrics(old)
    lines = list(upgrade_dir(tmp_path, data_dir, history=SourceHistory(tmp_path)))
    assert any("new metrics added" in line for line in lines), lines
    new = json.loads(path.read_text())
    assert not lacks_metrics(new)
    for seed, stored in old["metrics"]["per_seed"].items():
        assert {k: new["metrics"]["per_seed"][seed][k] for k in stored} == stored
    assert new["metrics"]["bootstrap"] == old["metrics"]["bootstrap"]
    split = load_split("nb201-c10-1k")
    by_key = {(a, s): v for a, s, v in results.read_scores(path.with_name(obj["scores_file"]))}
    seed = old["protocol"]["seeds"][0]
    scores = [by_key[(a, seed)] for a in split.arch_ids]
    assert new["metrics"]["per_seed"][str(seed)]["ndcg_exp_5"] == metrics.ndcg_at_top(
        scores, split.ground_truth(data_dir), 5, gain="exp")
    # Upgrading again changes nothing.
    assert list(upgrade_dir(tmp_path, data_dir, history=SourceHistory(tmp_path)))
    assert json.loads(path.read_text()) == new


def test_upgrade_leaves_a_file_alone_when_a_stored_metric_does_not_reproduce(tmp_path,
                                                                            data_dir):
    path, obj = _committed_copy(tmp_path, "params", "nb201-c10-1k")
    old = _without_exp_ndcg(obj)
    old["metrics"]["mean"]["kendall"] += 0.01
    path.write_text(json.dumps(old))
    lines = list(upgrade_dir(tmp_path, data_dir, history=SourceHistory(tmp_path)))
    assert any("NOT refreshed" in line and "kendall" in line for line in lines), lines
    assert json.loads(path.read_text()) == old


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   check=True, capture_output=True)


def test_upgrade_records_the_code_fingerprint_of_the_source_found_in_history(tmp_path):
    repo = tmp_path / "repo"
    (repo / "estimators").mkdir(parents=True)
    _git(repo, "init", "-q")
    src = repo / "estimators" / "random.py"
    src.write_text('"""Scored with this."""\nX = 1\n')
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "scored")
    scored = src.read_bytes()
    src.write_text('"""Edited since."""\nX = 2\n')
    _git(repo, "commit", "-q", "-am", "edited")

    path, obj = _committed_copy(tmp_path, "random", "nb201-c10-smoke")
    est = {k: v for k, v in obj["estimator"].items() if k not in ("code_sha256", "reproduced")}
    old = dict(obj, schema_version=4,
               estimator=dict(est, source_sha256=hashlib.sha256(scored).hexdigest()))
    path.write_text(json.dumps(old))
    lines = list(upgrade_dir(path.parent.parent, history=SourceHistory(repo)))
    assert any(f"upgraded 4 -> {results.SCHEMA_VERSION}; code fingerprint recorded from its "
               "source at commit" in line for line in lines)
    got = json.loads(path.read_text())
    assert got["estimator"]["code_sha256"] == trust.code_sha256_of_text(scored.decode())
    assert got["estimator"]["code_sha256"] != trust.code_sha256(src)  # the code changed since
    assert got == dict(old, schema_version=results.SCHEMA_VERSION, estimator=dict(
        old["estimator"], code_sha256=got["estimator"]["code_sha256"], reproduced=[]))
    results.load_result(path)
    # A source the history does not hold leaves the fingerprint unknown: nothing is guessed.
    unknown = dict(old, estimator=dict(est, source_sha256="0" * 64))
    path.write_text(json.dumps(unknown))
    list(upgrade_dir(path.parent.parent, history=SourceHistory(repo)))
    assert json.loads(path.read_text())["estimator"]["code_sha256"] is None
