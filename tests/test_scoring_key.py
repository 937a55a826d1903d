"""The scoring key: one answer to "what determines a score", stored and compared in four places.

The checkpoint journal's header, a results file's protocol, the curve store and the take-over
of a stored checkpoint's scores each store the :class:`ScoringKey` verbatim and compare it by
equality. The central test here adds a field to the key and shows that all four see it.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from harness import api, results
from harness import run as runner
from harness.run import Session
from harness.run.curves import (
    _rescorer,
    curve_key,
    curve_store_path,
    load_curve_scores,
    save_curve_scores,
    stored_checkpoint_scores,
)
from harness.run.journal import Checkpoint, key_differences, read_checkpoint
from harness.run.stored import protocol_differences, reusable_result
from harness.scoring_key import ScoringKey
from harness.splits import load_split

SPLIT = "nb201-c10-smoke"

KEY = ScoringKey(estimator="p", estimator_version="1", split=SPLIT, split_sha256="ab" * 32,
                 n_batches=1, batch_size=64, device_type="cpu", options={"b": 2, "a": 1})


def test_key_round_trips_and_reads_the_legacy_checkpoint_header():
    assert ScoringKey.from_dict(json.loads(json.dumps(KEY.to_dict()))) == KEY
    assert list(KEY.to_dict()["options"]) == ["a", "b"]
    # Checkpoints written before the key existed left ``weights`` out for random init.
    legacy = {k: v for k, v in KEY.to_dict().items() if k != "weights"}
    assert ScoringKey.from_dict(legacy) == KEY
    assert KEY.differences(KEY.replace(batch_size=32, weights="oneshot_x")) == {
        "batch_size": (64, 32), "weights": ("init", "oneshot_x")}
    for bad in (None, [], {**KEY.to_dict(), "n_batches": "1"}, {**KEY.to_dict(), "z": 1}):
        with pytest.raises(ValueError):
            ScoringKey.from_dict(bad)


def test_a_checkpoint_with_the_legacy_header_resumes(tmp_path):
    """In-flight journals of earlier versions keep their records (and get today's header)."""
    path = tmp_path / ".s.ckpt.jsonl"
    legacy = {k: v for k, v in KEY.to_dict().items() if k != "weights"}
    rec = runner.Record(arch_id=1, seed=20, score=0.5, error=None, wall_s=0.1)
    path.write_text(json.dumps({"fingerprint": legacy}) + "\n" + rec.to_json() + "\n")
    assert read_checkpoint(path, KEY) == {(1, 20): rec}
    ck = Checkpoint(path, KEY, resume=True)
    ck.close()
    assert ck.resumed == 1
    assert json.loads(path.read_text().splitlines()[0]) == {"scoring_key": KEY.to_dict()}


@dataclasses.dataclass(frozen=True)
class KeyWithExtra(ScoringKey):
    """The key with one more field, as a future setting would add it."""

    extra: str = "a"


class _State:
    """A prepared state that describes itself, as a one-shot supernet checkpoint does."""

    def describe(self) -> dict:
        return {"run": "fixed", "epoch": 1}


def _params(ctx) -> float:
    return float(sum(p.numel() for p in ctx.build().parameters()))


def _est(name: str, **kw) -> api.Estimator:
    info = api.EstimatorInfo(name=name, kind="baseline", idea="test", paper=None, version="1",
                             needs_images=False, data_independent=True)
    return api.Estimator(info=info, score=_params, module=f"tests.{name}", **kw)


def test_a_field_added_to_the_key_is_seen_in_all_four_places(tmp_path, data_dir, monkeypatch):
    extra = {"value": "a"}
    plain = Session.scoring_key

    def scoring_key(self, est):
        return KeyWithExtra(**dataclasses.asdict(plain(self, est)), extra=extra["value"])

    # Adding a field means: the key class has it, the session fills it, and the results
    # schema (the dataclasses of harness/results.py) reads it.
    monkeypatch.setattr(Session, "scoring_key", scoring_key)
    monkeypatch.setattr(results, "ScoringKey", KeyWithExtra)
    p, keyed = _est("p"), _est("keyed", prepare=lambda pctx: _State())
    cfg = runner.RunConfig(seeds=(20,), data_dir=data_dir, results_dir=tmp_path / "res",
                           cache_dir=tmp_path / "cache", determinism_checks=0)
    runner.run([p, keyed], SPLIT, cfg)
    session = Session.create([p, keyed], SPLIT, cfg)
    key_a = session.scoring_key(p)
    ck = results.checkpoint_path(cfg.results_dir, "p", SPLIT)
    res_path = results.results_path(cfg.results_dir, "p", SPLIT)
    # Stored verbatim: the results file and the checkpoint header hold the new field.
    assert json.loads(res_path.read_text())["protocol"]["scoring_key"]["extra"] == "a"
    assert json.loads(ck.read_text().splitlines()[0])["scoring_key"] == key_a.to_dict()

    state, seed, n = _State(), 20, len(load_split(SPLIT))
    rescore = _rescorer(session, keyed, seed, state)
    stored = stored_checkpoint_scores(session, keyed, seed, state, rescore)
    path_a = curve_store_path(session, keyed, seed, state)
    save_curve_scores(path_a, stored, curve_key(session, keyed))
    # With the field unchanged, each place reuses what it stored.
    assert read_checkpoint(ck, key_a) is not None and not key_differences(ck, key_a)
    assert reusable_result(session, p) is not None
    assert not protocol_differences(results.load_result(res_path), key_a)
    assert stored is not None and len(stored) == n
    assert load_curve_scores(path_a, n, rescore, curve_key(session, keyed)) is not None

    # Change only the new field: all four places refuse the stored scores, and say why.
    extra["value"] = "b"
    key_b = session.scoring_key(p)
    assert key_b.differences(key_a) == {"extra": ("b", "a")}
    # 1. the checkpoint journal
    assert read_checkpoint(ck, key_b) is None
    assert key_differences(ck, key_b) == {"extra": ("a", "b")}
    # 2. the results protocol (seed take-over and the replacement rule)
    assert reusable_result(session, p) is None
    assert protocol_differences(results.load_result(res_path), key_b) == {"extra": ("a", "b")}
    # 3. the curve store: another file, and the stored file read with the new key is refused
    assert curve_store_path(session, keyed, seed, state) != path_a
    assert load_curve_scores(path_a, n, rescore, curve_key(session, keyed)) is None
    # 4. the take-over of a stored checkpoint's scores
    assert stored_checkpoint_scores(session, keyed, seed, state, rescore) is None


def test_a_schema_3_result_is_read_with_its_key_and_still_taken_over(tmp_path, data_dir):
    """Results written before the key existed take part in take-over as they did."""
    p = _est("p")
    cfg = runner.RunConfig(seeds=(20,), data_dir=data_dir, results_dir=tmp_path / "res",
                           cache_dir=tmp_path / "cache", determinism_checks=0)
    runner.run([p], SPLIT, cfg)
    path = results.results_path(cfg.results_dir, "p", SPLIT)
    obj = json.loads(path.read_text())
    key = obj["protocol"].pop("scoring_key")
    obj["schema_version"] = 3
    path.write_text(json.dumps(obj))
    assert results.load_result(path).protocol.scoring_key.to_dict() == key
    assert reusable_result(Session.create([p], SPLIT, cfg), p) is not None
    assert results.upgrade_v3(obj)["protocol"]["scoring_key"] == key
