"""The one-shot study's tables (``python -m leaderboard study``): arms, seed spread, curves.

Built from the committed seed-20 result of ``oneshot_deiso`` on ``nb201-c10-1k``, copied into
study directories as other seeds and another arm with known τ values, so every mean and
standard deviation below can be checked by hand.
"""

from __future__ import annotations

import copy
import json
import statistics
from pathlib import Path

import pytest

from leaderboard.__main__ import main
from leaderboard.study import END, START, collect, report, write_block

REPO = Path(__file__).resolve().parents[1]
SPLIT = "nb201-c10-1k"
BOARD = REPO / "leaderboard" / "results" / "oneshot_deiso" / f"{SPLIT}.json"


def _as_seed(obj: dict, seed: int, final: float, curve: dict[int, float],
             **prepared) -> dict:
    """``obj`` (a one-seed result) turned into seed ``seed`` with the given τ values."""
    out = copy.deepcopy(obj)
    (old,) = out["protocol"]["seeds"]
    out["protocol"]["seeds"] = [seed]
    prep = out["prepared"].pop(str(old))
    prep.update(seed=seed, **prepared)
    out["prepared"] = {str(seed): prep}
    metric = out["metrics"]["per_seed"].pop(str(old))
    out["metrics"]["per_seed"] = {str(seed): {**metric, "kendall": final}}
    point = out["curve"]["points"][0]
    out["curve"]["points"] = [{**point, "checkpoint": k, "seed": seed, "kendall": v}
                              for k, v in sorted(curve.items())]
    return out


def _write(folder: Path, obj: dict) -> None:
    path = folder / obj["estimator"]["name"] / f"{SPLIT}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


@pytest.fixture()
def study(tmp_path) -> list[Path]:
    board = json.loads(BOARD.read_text())
    dirs = []
    for name, seed, final, curve, prep in [
            ("board", 20, 0.5, {50: 0.4, 100: 0.5}, {}),
            ("s2020", 2020, 0.6, {50: 0.3, 100: 0.6}, {}),
            ("s202020", 202020, 0.7, {100: 0.7}, {}),
            ("part20", 20, 0.2, {50: 0.1, 100: 0.2}, {"sharing": "partition-convs"})]:
        folder = tmp_path / name
        _write(folder, _as_seed(board, seed, final, curve, **prep))
        dirs.append(folder)
    return dirs


def test_runs_are_grouped_into_arms_with_their_seed_spread(study):
    arms = collect(study, SPLIT)
    by_sharing = {a.arm.sharing: a for a in arms}
    assert set(by_sharing) == {"full", "partition-convs"}
    full = by_sharing["full"]
    assert [r.seed for r in full.runs] == [20, 2020, 202020]
    assert full.finals() == [0.5, 0.6, 0.7]
    # The curve: each checkpoint over the seeds that have it.
    assert full.curve() == {50: [0.4, 0.3], 100: [0.5, 0.6, 0.7]}
    text = report(arms, SPLIT, study)
    sd = statistics.stdev([0.5, 0.6, 0.7])  # 0.1
    assert f"0.600 ± {sd:.3f}" in text and "20: 0.500, 2020: 0.600, 202020: 0.700" in text
    assert f"0.350<br>± {statistics.stdev([0.4, 0.3]):.3f} (2)" in text  # 2 of 3 seeds at 50
    assert "| 1 | 20: 0.200 | 0.200 |" in text  # one seed: no sd
    assert "partition-convs sharing" in text and "do not edit by hand" in text


def test_the_same_seed_of_an_arm_twice_is_refused(study, tmp_path):
    board = json.loads(BOARD.read_text())
    twin = tmp_path / "twin"
    _write(twin, _as_seed(board, 2020, 0.9, {100: 0.9}))
    with pytest.raises(ValueError, match="both hold seed 2020 of oneshot_deiso"):
        collect([*study, twin], SPLIT)


def test_the_block_is_replaced_between_its_markers_only(tmp_path, study, monkeypatch, capsys):
    page = tmp_path / "page.md"
    page.write_text(f"# Title\n\nbefore\n{START}\nold\n{END}\nafter\n")
    write_block(page, "new")
    assert page.read_text() == f"# Title\n\nbefore\n{START}\nnew\n{END}\nafter\n"
    (tmp_path / "none.md").write_text("no markers\n")
    with pytest.raises(ValueError, match="no <!-- oneshot-study:start -->"):
        write_block(tmp_path / "none.md", "x")
    # The command line: the same block, then an error line (exit 2) for a page without markers.
    monkeypatch.chdir(tmp_path)
    assert main(["study", *map(str, study), "--write", str(page)]) == 0
    assert report(collect(study, SPLIT), SPLIT, [Path(d.name) for d in study]) in page.read_text()
    assert main(["study", *map(str, study), "--write", "none.md"]) == 2
    assert "error: " in capsys.readouterr().err


def test_an_arm_scored_at_its_final_checkpoint_only_has_no_curve_row(study, tmp_path):
    """Post-de-isomorphism scores the final checkpoints, with no curve: it is its own arm (its
    option written as on the command line), in the first table and not in the curve table."""
    board = json.loads(BOARD.read_text())
    post = _as_seed(board, 20, 0.55, {100: 0.55})
    post["protocol"]["options"] = {**post["protocol"]["options"], "post_deiso": True}
    post["curve"] = None
    _write(tmp_path / "post", post)
    arms = collect([*study, tmp_path / "post"], SPLIT)
    (alone,) = [a for a in arms if "post_deiso=true" in a.arm.evaluation]
    assert alone.curve() == {} and alone.finals() == [0.55]
    text = report(arms, SPLIT, study)
    finals, curves = text.split("Along training", 1)
    assert "post_deiso=true | 1 | 20: 0.550 | 0.550 |" in finals
    assert len([ln for ln in curves.splitlines() if ln.startswith("| `oneshot_deiso`")]) == 2
    only = report([alone], SPLIT, [tmp_path / "post"])
    assert "Along training" not in only and only.endswith("| 0.550 |")


def test_the_papers_comparisons_pair_arms_by_seed(study, tmp_path):
    """Partition-convs against full sharing: the one seed both arms have (20: 0.5 → 0.2); a
    uniform arm against the de-isomorphic one pairs oneshot_uniform with oneshot_deiso."""
    board = json.loads(BOARD.read_text())
    for seed, final in ((20, 0.3), (2020, 0.35)):
        uni = _as_seed(board, seed, final, {100: final}, sampler="uniform")
        uni["estimator"]["name"] = "oneshot_uniform"
        _write(tmp_path / f"uniform{seed}", uni)
    post = _as_seed(board, 20, 0.32, {100: 0.32}, sampler="uniform")
    post["estimator"]["name"] = "oneshot_uniform"
    post["protocol"]["options"] = {**post["protocol"]["options"], "post_deiso": True}
    post["curve"] = None
    _write(tmp_path / "post", post)
    deiso_post = _as_seed(board, 20, 0.52, {100: 0.52})  # a deiso run, post-de-isomorphism
    deiso_post["protocol"]["options"] = {**deiso_post["protocol"]["options"], "post_deiso": True}
    deiso_post["curve"] = None
    _write(tmp_path / "deiso_post", deiso_post)
    dirs = [*study, tmp_path / "uniform20", tmp_path / "uniform2020", tmp_path / "post",
            tmp_path / "deiso_post"]
    text = report(collect(dirs, SPLIT), SPLIT, dirs)
    rows = {ln.split(" | ")[0].lstrip("| "): ln for ln in text.splitlines()
            if ln.startswith(("| less sharing", "| de-isomorphic", "| post-de"))}
    assert "| 1 | 20: 0.300 → 0.320 | 0.020 |" in rows[
        "post-de-isomorphism vs each cell as itself"]
    # Sampling is compared without post-de-isomorphism only: one row, not one per evaluation.
    assert sum(ln.startswith("| de-isomorphic") for ln in text.splitlines()) == 1
    assert "| 1 | 20: 0.500 → 0.200 | -0.300 |" in rows["less sharing (partition-convs) vs full sharing"]
    sampler = rows["de-isomorphic vs uniform sampling"]
    assert "`oneshot_uniform` → `oneshot_deiso`" in sampler
    deltas = [0.5 - 0.3, 0.6 - 0.35]
    assert (f"| 2 | 20: 0.300 → 0.500, 2020: 0.350 → 0.600 | "
            f"{statistics.fmean(deltas):.3f} ± {statistics.stdev(deltas):.3f} |") in sampler
    assert "paired by seed" not in report(collect(study[:1], SPLIT), SPLIT, study[:1])


def test_arms_of_other_epoch_budgets_get_a_curve_table_each(study, tmp_path):
    """A 60-epoch arm checkpointed every 6 epochs is not spread over the 100-epoch grid: the
    100-epoch table keeps its two columns, the 60-epoch one has its own, largest budget
    first."""
    board = json.loads(BOARD.read_text())
    short = _as_seed(board, 20, 0.3, {6: 0.1, 60: 0.3}, epoch=60, epoch_budget=60,
                     shape={"cells_per_stage": 5, "channels": 16})
    _write(tmp_path / "short", short)
    arms = collect([*study, tmp_path / "short"], SPLIT)
    curves = report(arms, SPLIT, study).split("Along training", 1)[1]
    headers = [ln for ln in curves.splitlines() if ln.startswith("| estimator | arm |")]
    assert headers == ["| estimator | arm | 50 | 100 |", "| estimator | arm | 6 | 60 |"]
    (row,) = [ln for ln in curves.splitlines() if "60 epochs" in ln]
    assert row.endswith("| 0.100 | 0.300 |")
