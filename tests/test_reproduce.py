"""``python -m harness reproduce``: re-scoring committed results with today's code."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from harness import results
from harness.run import reproduce as R
from harness.splits import load_split
from leaderboard.demo import DEMO_SPLIT

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def demo(demo_results) -> Path:
    """Demo results (random, params) scored here, so in this numeric environment."""
    return demo_results


def _copy(demo: Path, tmp_path: Path, est: str) -> Path:
    shutil.copytree(demo / est, tmp_path / est)
    return tmp_path / est / f"{DEMO_SPLIT}.json"


def test_results_scored_here_reproduce_bit_for_bit(demo, tmp_path, data_dir):
    path = _copy(demo, tmp_path, "params")
    rep = R.reproduce_result(path, data_dir=data_dir)
    assert rep.verdict == R.SAME_BITS and rep.ok
    assert len(rep.cells) == 3 and all(c.same_bits for c in rep.cells)
    assert f"same bits (3 cells, re-scored {rep.digest()};" in rep.line()


def test_a_changed_score_is_found(demo, tmp_path, data_dir):
    """A stored score that today's code does not give (as after an unannounced change of
    definition) is reported, with the relative difference."""
    path = _copy(demo, tmp_path, "random")
    obj = json.loads(path.read_text())
    scores = path.with_name(obj["scores_file"])
    rows = results.read_scores(scores)
    seed = obj["protocol"]["seeds"][0]
    first = load_split(DEMO_SPLIT).arch_ids[0]  # the first probe
    changed = [(a, s, v * 1.5 if (a, s) == (first, seed) else v) for a, s, v in rows]
    obj["scores_sha256"] = results.write_scores(scores, changed)
    path.write_text(json.dumps(obj))
    rep = R.reproduce_result(path, data_dir=data_dir)
    assert rep.verdict == R.DIFFERENT and not rep.ok
    assert [c.same_bits for c in rep.cells] == [False, True, True]
    assert rep.cells[0].rel_diff() == pytest.approx(1 / 3)
    assert "DIFFERENT" in rep.line() and "bits must match" in rep.line()


def test_what_cannot_be_reproduced_says_why(demo, tmp_path, data_dir):
    path = _copy(demo, tmp_path, "params")
    obj = json.loads(path.read_text())
    path.write_text(json.dumps(dict(obj, estimator=dict(obj["estimator"], version="99"))))
    rep = R.reproduce_result(path, data_dir=data_dir)
    assert rep.verdict == R.NOT_CHECKED and rep.ok and "v99" in rep.reason
    (tmp_path / "params" / obj["scores_file"]).write_bytes(b"edited")
    path.write_text(json.dumps(obj))
    rep = R.reproduce_result(path, data_dir=data_dir)
    assert rep.verdict == R.NOT_CHECKED and "scores file" in rep.reason


def test_other_environment_is_compared_within_the_tolerance():
    near = R.CellCheck(1, 20, 1.0, 1.0 + 1e-6)
    far = R.CellCheck(1, 20, 1.0, 2.0)
    assert not near.same_bits and near.rel_diff() == pytest.approx(1e-6, rel=1e-3)
    assert far.rel_diff() == pytest.approx(0.5)
    comp = R.CellCheck(1, 20, {"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 2.2})
    assert comp.rel_diff() == pytest.approx(0.2 / 2.2)
    assert R.CellCheck(1, 20, 1.0, None).rel_diff() == float("inf")


def test_the_digest_of_re_scored_values_tells_equal_bits_from_different_ones():
    """Comparing two code versions on one machine, where stored scores came from elsewhere."""
    def rep(*cells: R.CellCheck) -> R.Reproduction:
        return R.Reproduction("e", "s", R.WITHIN_TOLERANCE, "", cells)

    a = rep(R.CellCheck(1, 20, 0.5, 0.1), R.CellCheck(2, 20, 0.5, {"x": 1.0, "y": None}))
    b = rep(R.CellCheck(1, 20, 9.0, 0.1), R.CellCheck(2, 20, 9.0, {"y": None, "x": 1.0}))
    assert a.digest() == b.digest() and len(a.digest()) == 12  # stored values do not count
    ulp = rep(R.CellCheck(1, 20, 0.5, math.nextafter(0.1, 1.0)), a.cells[1])
    assert ulp.digest() != a.digest()
    other_cell = rep(R.CellCheck(3, 20, 0.5, 0.1), a.cells[1])
    assert other_cell.digest() != a.digest()


@pytest.mark.slow
def test_every_committed_result_reproduces(data_dir):
    """The proof a refactor or speed-up owes: every committed result re-scores (3 cells) to
    its stored bits, or within the cross-CPU-kind tolerance where it was scored elsewhere
    (about 15 CPU-minutes)."""
    reps = list(R.reproduce_dir(ROOT / "leaderboard" / "results", data_dir=data_dir))
    bad = [r.line() for r in reps if not r.ok]
    assert reps and not bad, "\n".join(bad)
