"""The one typed results schema: dataclasses, the generated JSON Schema, the docs, and every
committed result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import results

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
