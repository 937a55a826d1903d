"""The leaderboard build: real (small) results → pages, plots, warnings, a strict MkDocs site.

The results are produced by the real harness (``random`` with three seeds, ``params`` with one)
on ``nb201-c10-smoke``; two deliberately unusable files sit beside them.
"""

from __future__ import annotations

import copy
import csv
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import results as hres
from harness import trust
from harness.results import load_json
from harness.splits import load_split
from leaderboard import analysis
from leaderboard.__main__ import main as cli
from leaderboard.build import build
from leaderboard.collect import benchmark_splits, board_rows, collect, rank_rows, source_changed
from leaderboard.demo import DEMO_SPLIT, shared_demo_results, stage_site_project
from leaderboard.summary import summarize

SPLIT = DEMO_SPLIT
ROOT = Path(__file__).resolve().parent.parent
HEADER = "---\n# GENERATED FILE: written by `python -m leaderboard build`"


def demo_base(tmp_path_factory) -> Path:
    """A temporary folder shared by this run's xdist workers (but not by other runs)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory, data_dir) -> Path:
    out = tmp_path_factory.mktemp("results")
    shutil.copytree(shared_demo_results(demo_base(tmp_path_factory), data_dir), out,
                    dirs_exist_ok=True)
    good = json.loads((out / "random" / f"{SPLIT}.json").read_text())
    stale = dict(good, schema_version=0, estimator=dict(good["estimator"], name="stale"))
    (out / "stale").mkdir()
    (out / "stale" / f"{SPLIT}.json").write_text(json.dumps(stale))
    (out / "garbage").mkdir()
    (out / "garbage" / f"{SPLIT}.json").write_text("{this is not json")
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory, results_dir, data_dir):
    """A staged MkDocs project with the generated docs, and the build report."""
    project = tmp_path_factory.mktemp("site")
    stage_site_project(project)
    report = build(results_dir, project / "docs", data_dir=data_dir, results_label="results")
    return project, report


def test_pages_and_plots_exist(site):
    project, report = site
    docs = project / "docs"
    for rel in ("index.md", "estimators/index.md", "estimators/random.md",
                "estimators/params.md", "splits/index.md", f"splits/{SPLIT}.md"):
        text = (docs / rel).read_text()
        assert text.startswith(HEADER), f"{rel} lacks the generated-file note"
        assert "Do not edit it by hand" in text
    for name in ("random", "params"):
        for kind in ("scatter", "curves", "complexity"):
            svg = docs / "img" / "estimators" / name / f"{SPLIT}-{kind}.svg"
            assert svg.is_file() and svg.read_text().lstrip().startswith("<?xml")
    assert (docs / "img" / "splits" / f"{SPLIT}-truth.svg").is_file()
    assert not (docs / "estimators" / "stale.md").exists()
    assert (docs / "img" / "home" / "tau-heatmap.svg").is_file()
    assert (docs / "img" / "splits" / f"{SPLIT}-cost.svg").is_file()
    assert len(report.images) == 9  # 3 per estimator, truth, cost, heatmap
    assert sorted(p.name for p in report.downloads) == ["leaderboard.csv", f"{SPLIT}.csv"]


def test_image_links_resolve(site):
    docs = site[0] / "docs"
    for page in ("estimators/random.md", "estimators/params.md", f"splits/{SPLIT}.md"):
        links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (docs / page).read_text())
        assert links, page
        for link in links:
            assert ((docs / page).parent / link).resolve().is_file(), (page, link)


def test_malformed_files_reported(site):
    project, report = site
    joined = "\n".join(report.warnings)
    assert f"stale/{SPLIT}.json: schema_version 0 is not the current {hres.SCHEMA_VERSION}" in joined
    assert f"garbage/{SPLIT}.json: unreadable" in joined
    home = (project / "docs" / "index.md").read_text()
    assert f"<code>stale/{SPLIT}.json</code>" in home
    assert f"<code>garbage/{SPLIT}.json</code>" in home


def _board_rows(page: str) -> tuple[list[str], list[list[str]]]:
    """Header and body cells of the first leaderboard table of a generated page."""
    lines = [ln for ln in page.splitlines() if ln.startswith("|")]
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    return cells[0], [r for r in cells[2:]]


def test_home_table_ranks_only_complete_rows(site):
    home = (site[0] / "docs" / "index.md").read_text()
    assert f"Ranked by **mean Kendall τ on [{SPLIT}](splits/{SPLIT}.md)**" in home
    assert "mean over each result's seeds" in home  # ranked rows have 1 and 3 seeds
    header, rows = _board_rows(home)
    titles = [re.sub(r"<[^>]+>", "", h) for h in header]
    assert [re.sub(r"\[([^]]+)\]\([^)]+\)", r"\1", t) for t in titles] == [
        "#", "Estimator", "Kind", "Status", SPLIT, "Mean τ", "Group", "s/arch"]
    assert len(rows) == 2
    # params (1 seed) outranks random on τ but its rank is marked provisional: a short mark,
    # the reason in its tooltip.
    assert rows[0][0] == "1" and "[params]" in rows[0][1]
    assert rows[0][2] == '<span class="lb-nowrap">baseline</span>'  # kept on one line
    assert rows[0][3] == '<span title="provisional: 1 of 3 seeds">◐</span>'
    assert rows[1][0] == "2" and "[random]" in rows[1][1]
    assert rows[1][3] == '<span title="complete">✓</span>'
    # The harness stores the bootstrap: τ carries its interval on hover, and both rows have a
    # rank group (the first is group 1).
    assert "95 % CI [" in rows[0][4] and "percentile bootstrap" in rows[0][4]
    assert re.sub(r"<[^>]+>", "", rows[0][6]) == "1"
    # Seed coverage is stated once, in the legend, not in every row.
    assert (f"**Seeds.** {SPLIT}: seeds 20, 2020, 202020 for 1 estimator; seed 20 for 1 "
            "estimator.") in home
    assert home.count("1 of 3 seeds") == 1


def test_estimator_page_contents(site, results_dir):
    docs = site[0] / "docs"
    page = (docs / "estimators" / "params.md").read_text()
    obj = load_json(results_dir / "params" / f"{SPLIT}.json")
    assert "```bibtex\n@inproceedings{ning2021evaluating" in page
    assert "| seed 20" in page or "seed 20 " in page
    for heading in ("### Metrics", "### Bias", "**Complexity.**", "**Operations.**",
                    "**Seed variance.**", "### Cost and environment", "## Citation"):
        assert heading in page
    assert obj["environment"]["device_name"] in page
    assert obj["environment"]["harness_commit"] in page
    assert f"{obj['metrics']['mean']['kendall']:.3f}" in page
    assert "rank 1 by mean Kendall τ" in page and "provisional: 1 of 3 seeds" in page
    rnd = (docs / "estimators" / "random.md").read_text()
    assert "rank 2 by mean Kendall τ" in rnd and "± " in rnd


def test_split_page(site, data_dir):
    page = (site[0] / "docs" / "splits" / f"{SPLIT}.md").read_text()
    truth = load_split(SPLIT).ground_truth(data_dir)
    assert f"{np.max(truth):.2f}" in page and f"{np.median(truth):.2f}" in page
    assert "[random](../estimators/random.md)" in page
    assert load_split(SPLIT).description.split(";")[0] in page


def test_curves_agree_with_results(results_dir, data_dir):
    """The plotted P@topK / BR@K at K = 5 % equal the results file's values, per seed."""
    res = collect(results_dir, use_registry=False).results[("random", SPLIT)]
    split = load_split(SPLIT)
    matrix = analysis.seed_scores(res.scores, split.arch_ids, res.seeds)
    curves = analysis.topk_curves(matrix, split.ground_truth(data_dir), percents=(5,))
    for i, seed in enumerate(res.seeds):
        per_seed = res.obj["metrics"]["per_seed"][str(seed)]
        assert curves["p_top"][i, 0] == pytest.approx(per_seed["p_top_5"], abs=1e-12)
        assert curves["br"][i, 0] == pytest.approx(per_seed["br_5"], abs=1e-12)


def test_build_is_deterministic(site, results_dir, data_dir, tmp_path):
    project, _ = site
    stage_site_project(tmp_path)
    other = tmp_path / "docs"
    build(results_dir, other, data_dir=data_dir, results_label="results")
    for path in sorted((project / "docs").rglob("*")):
        rel = path.relative_to(project / "docs")
        if path.is_file() and (path.suffix == ".svg" or rel.parts[0] in
                               ("index.md", "estimators", "splits", "downloads")):
            assert (other / rel).read_bytes() == path.read_bytes(), rel


def test_incomplete_and_stale_rows_are_not_ranked(results_dir, tmp_path):
    base = json.loads((results_dir / "random" / f"{SPLIT}.json").read_text())

    def put(name: str, **changes) -> None:
        obj = copy.deepcopy(base)
        obj["estimator"]["name"] = name
        for key, value in changes.items():
            obj[key] = value
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{SPLIT}.json").write_text(json.dumps(obj))

    put("ok")
    put("broken_contract", contract_ok=False, contract_problems=["raised"])
    put("nonfinite", n_nonfinite=3)
    put("old_split", split=dict(base["split"], sha256="0" * 64))
    coll = collect(tmp_path, use_registry=False)
    rows = {r.name: r for r in rank_rows(coll, [SPLIT], SPLIT)}
    assert rows["ok"].rank == 1 and rows["ok"].complete
    assert rows["broken_contract"].rank is None and "contract failed" in rows[
        "broken_contract"].issues
    assert rows["nonfinite"].rank is None and "3 non-finite score(s)" in rows["nonfinite"].issues
    assert rows["old_split"].rank is None
    assert any("stale" in i for i in rows["old_split"].issues)
    # A second split in the table: a row without a result on the ranking split is incomplete;
    # one without a result on another split stays ranked, marked provisional with the reason.
    other = "nb201-c10-1k"
    obj = copy.deepcopy(base)
    obj["estimator"]["name"] = "ok"
    obj["split"] = dict(base["split"], name=other, sha256=load_split(other).sha256)
    (tmp_path / "ok" / f"{other}.json").write_text(json.dumps(obj))
    put("ok2")  # clean, but only on SPLIT
    coll = collect(tmp_path, use_registry=False)
    assert coll.splits() == [other, SPLIT]
    rows = {r.name: r for r in rank_rows(coll, coll.splits(), other)}
    assert rows["ok"].rank == 1
    assert rows["nonfinite"].rank is None
    assert f"no result on {other}" in rows["nonfinite"].issues
    rows = {r.name: r for r in rank_rows(coll, coll.splits(), SPLIT)}
    assert rows["ok"].rank is not None and rows["ok"].issues == []
    assert f"no result on {other}" not in rows["ok"].notes  # ok has both
    assert rows["ok2"].complete and rows["ok2"].rank is not None
    assert f"no result on {other}" in rows["ok2"].notes


def test_status_rests_on_the_benchmark_splits_only(results_dir, tmp_path):
    """A second split of a benchmark already counted (here the smoke split beside the 1k
    sample of NAS-Bench-201) is a column, but neither a gap nor a seed shortfall there makes a
    row provisional on the home table; on the counted split both do."""
    base = json.loads((results_dir / "random" / f"{SPLIT}.json").read_text())
    counted = "nb201-c10-1k"
    assert load_split(counted).benchmark == load_split(SPLIT).benchmark

    def put(name: str, split: str, seeds: int) -> None:
        obj = copy.deepcopy(base)
        obj["estimator"]["name"] = name
        obj["split"] = dict(base["split"], name=split, sha256=load_split(split).sha256,
                            n_archs=1000)
        obj["protocol"]["seeds"] = [20, 2020, 202020][:seeds]
        (tmp_path / name).mkdir(exist_ok=True)
        (tmp_path / name / f"{split}.json").write_text(json.dumps(obj))

    put("full", counted, 3)          # three seeds on the counted split, nothing else
    put("extra_gap", counted, 3)     # the same, and one seed on the second split
    put("extra_gap", SPLIT, 1)
    put("counted_gap", SPLIT, 3)     # nothing on the counted split: not ranked at all
    put("short", counted, 1)         # one seed on the counted split
    coll = collect(tmp_path, use_registry=False)
    assert coll.splits() == [counted, SPLIT]
    assert benchmark_splits(coll.splits()) == [counted]
    rows = {r.name: r for r in board_rows(coll)}
    assert rows["full"].complete and rows["full"].notes == []
    assert rows["extra_gap"].complete and rows["extra_gap"].notes == []
    assert rows["short"].notes == [f"{counted}: 1 of 3 seeds"]
    assert not rows["counted_gap"].complete
    # Every column counts where no status splits are named (a split page, the default).
    rows = {r.name: r for r in rank_rows(coll, coll.splits(), counted)}
    assert rows["full"].notes == [f"no result on {SPLIT}"]
    assert rows["extra_gap"].notes == [f"{SPLIT}: 1 of 3 seeds"]


def test_summary(results_dir, tmp_path):
    text, ok = summarize(results_dir, split=SPLIT, expect=["random"], leaderboard_dir=None)
    assert not ok, "the malformed files in the directory must fail the summary"
    clean = tmp_path / "pr"
    (clean / "random").mkdir(parents=True)
    for f in (results_dir / "random").glob(f"{SPLIT}*"):
        (clean / "random" / f.name).write_bytes(f.read_bytes())
    text, ok = summarize(clean, split=SPLIT, expect=["random"], leaderboard_dir=results_dir)
    assert ok, text
    assert "| `random`" in text.replace("<code>random</code>", "`random`") or "random" in text
    assert "✅ kept" in text and "2 of 2" in text  # behind params (provisional rank 1)
    text, ok = summarize(clean, split=SPLIT, expect=["random", "absent"])
    assert not ok and "absent" in text
    obj = json.loads((clean / "random" / f"{SPLIT}.json").read_text())
    obj.update(contract_ok=False, contract_problems=["2 non-finite score(s)"])
    (clean / "random" / f"{SPLIT}.json").write_text(json.dumps(obj))
    text, ok = summarize(clean, split=SPLIT, expect=["random"])
    assert not ok and "❌ failed" in text and "2 non-finite score(s)" in text


def test_cli_strict_and_empty(results_dir, tmp_path, capsys):
    assert cli(["build", "--results-dir", str(results_dir), "--docs-dir", str(tmp_path / "a"),
                "--no-plots", "--strict"]) == 1
    assert "garbage" in capsys.readouterr().err
    assert cli(["build", "--results-dir", str(tmp_path / "none"),
                "--docs-dir", str(tmp_path / "b"), "--no-plots"]) == 0
    home = (tmp_path / "b" / "index.md").read_text()
    assert "No results yet" in home
    assert (tmp_path / "b" / "estimators" / "index.md").is_file()


def test_rebuild_keeps_hand_written_pages(tmp_path, results_dir):
    docs = tmp_path / "docs"
    (docs / "estimators").mkdir(parents=True)
    (docs / "estimators" / "notes.md").write_text("# Hand-written\n")
    (docs / "estimators" / "gone.md").write_text(HEADER + "\ntitle: gone\n---\n")
    build(results_dir, docs, make_plots=False, use_registry=False)
    assert (docs / "estimators" / "notes.md").read_text() == "# Hand-written\n"
    assert not (docs / "estimators" / "gone.md").exists()


def test_nav_hook(tmp_path):
    from leaderboard import mkdocs_hooks

    for rel in ("index.md", "estimators/index.md", "estimators/b.md", "estimators/a.md",
                "metrics.md", "extra.md", "sub/deep.md"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("# x\n")
    nav = [{"Home": "index.md"}, {"Estimators": "estimators/"}, {"Splits": "splits/"},
           {"Reference": [{"Metrics": "metrics.md"}, {"Data": "data.md"}]}]
    out = mkdocs_hooks.add_unlisted(mkdocs_hooks.expand(nav, tmp_path), tmp_path)
    assert out == [{"Home": "index.md"},
                   {"Estimators": ["estimators/index.md", "estimators/a.md", "estimators/b.md"]},
                   {"Reference": [{"Metrics": "metrics.md"}, "extra.md", "sub/deep.md"]}]


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None or
                    importlib.util.find_spec("material") is None,
                    reason="mkdocs / mkdocs-material not installed (pip install -e '.[docs]')")
def test_mkdocs_build_strict(site):
    project, _ = site
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(project / "mkdocs.yml"), "--site-dir", str(project / "site")],
        capture_output=True, text=True, timeout=180, env=_quiet_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = project / "site"
    home = (out / "index.html").read_text()
    assert "random" in home and "<table>" in home
    assert (out / "estimators" / "random" / "index.html").is_file()
    assert (out / "splits" / SPLIT / "index.html").is_file()
    assert (out / "img" / "estimators" / "random" / f"{SPLIT}-scatter.svg").is_file()
    assert (out / "javascripts" / "tablesort.js").is_file()
    # The generated pages are in the navigation (expanded by leaderboard/mkdocs_hooks.py).
    assert 'href="estimators/random/"' in home and f'href="splits/{SPLIT}/"' in home


def _quiet_env() -> dict[str, str]:
    return dict(os.environ, NO_MKDOCS_2_WARNING="1")


def test_prepared_state_and_training_curve_are_shown(tmp_path, results_dir, data_dir):
    res = tmp_path / "res"
    shutil.copytree(results_dir / "random", res / "random")
    path = res / "random" / f"{SPLIT}.json"
    obj = json.loads(path.read_text())
    obj["prepared"] = {"20": {"config_hash": "abcdef0123456789", "epoch": 2}}
    obj["curve"] = {"x": "checkpoint (training epoch)", "note": "test", "points": [
        {"checkpoint": 1, "seed": 20, "kendall": -0.25, "spearman": -0.3, "p_top_5": 0.0,
         "scores_from": "rescored"},
        {"checkpoint": 2, "seed": 20, "kendall": 0.125, "spearman": 0.2, "p_top_5": 0.1,
         "scores_from": "this run"}]}
    path.write_text(json.dumps(obj))
    docs = tmp_path / "docs"
    build(res, docs, data_dir=data_dir, use_registry=False)
    page = (docs / "estimators" / "random.md").read_text()
    assert "### Prepared state" in page and "abcdef0123456789" in page
    assert "**Training curve**" in page and "-0.250" in page and "0.125" in page
    svg = docs / "img" / "estimators" / "random" / f"{SPLIT}-training.svg"
    assert svg.is_file() and "checkpoint (training epoch)" in svg.read_text()


def test_trained_weights_page_sets_rq4_results_beside_init(tmp_path, results_dir):
    """Results in results-trained/<source>/ get their page, next to the init result."""
    trained = tmp_path / "results-trained" / "oneshot_deiso"
    shutil.copytree(results_dir / "params", trained / "params")
    path = trained / "params" / f"{SPLIT}.json"
    obj = json.loads(path.read_text())
    init_tau = obj["metrics"]["mean"]["kendall"]
    obj["metrics"]["mean"]["kendall"] = init_tau - 0.125
    obj["protocol"]["weights"] = {"source": "oneshot_deiso", "per_seed": {"20": {
        "config_hash": "b327fac82f59072e", "epoch": 2, "epoch_budget": 2, "sampler": "deiso",
        "sharing": "full"}}}
    path.write_text(json.dumps(obj))
    docs = tmp_path / "docs"
    report = build(results_dir, docs, make_plots=False, use_registry=False,
                   trained_dir=tmp_path / "results-trained")
    page = (docs / "trained-weights.md").read_text()
    assert page.startswith(HEADER)
    assert "## Weights from `oneshot_deiso`" in page and "b327fac82f59072e</code>, epoch 2 of 2" in page
    row = next(line for line in page.splitlines() if line.startswith("| [params]"))
    assert f"{init_tau - 0.125:.3f}" in row and f"{init_tau:.3f}" in row and "-0.125" in row
    assert not any("results-trained" in w for w in report.warnings)
    # Without trained results the page is removed on the next build.
    build(results_dir, docs, make_plots=False, use_registry=False, trained_dir=None)
    assert not (docs / "trained-weights.md").exists()


def test_one_shot_pages_link_the_study(tmp_path, results_dir):
    """A one-shot estimator's page points to the study page (seeds, curves, comparisons); a
    zero-shot estimator's does not."""
    res = tmp_path / "results"
    shutil.copytree(results_dir / "params", res / "params")
    shutil.copytree(results_dir / "random", res / "oneshot_deiso")
    for path in (res / "oneshot_deiso").glob(f"{SPLIT}.json"):
        obj = json.loads(path.read_text())
        obj["estimator"] = dict(obj["estimator"], name="oneshot_deiso", kind="one-shot")
        path.write_text(json.dumps(obj))
    docs = tmp_path / "docs"
    build(res, docs, make_plots=False, use_registry=False)
    oneshot = (docs / "estimators" / "oneshot_deiso.md").read_text()
    row = next(line for line in oneshot.splitlines() if line.startswith("| Study"))
    assert "[One-shot estimators](../oneshot.md)" in row
    assert "| Study" not in (docs / "estimators" / "params.md").read_text()


def test_cost_cell_marks_a_joint_run(results_dir):
    """A joint run's seconds leave out the passes charged to a partner: the cell must say so."""
    from leaderboard.cells import cost_cell
    from leaderboard.collect import Result

    obj = load_json(results_dir / "random" / f"{SPLIT}.json")
    alone = dict(obj, cost=dict(obj["cost"], mode="alone", joint_with=[]))
    joint = dict(obj, cost=dict(obj["cost"], mode="joint", joint_with=["grad_norm", "snip"]))
    alone_cell = cost_cell(Result(obj=alone, path=Path("a.json"), scores=None))
    joint_cell = cost_cell(Result(obj=joint, path=Path("j.json"), scores=None))
    assert "joint" not in alone_cell
    assert "joint†" in joint_cell and "grad_norm, snip" in joint_cell
    assert "not the cost of running it alone" in joint_cell


def test_pages_say_where_cells_were_scored_and_what_the_recheck_found(results_dir):
    """A merged result may hold cells scored on several machines: the pages name them from
    ``determinism.environments`` (not only the merging machine), and the contract line states
    what the re-check compared instead of claiming it all matched."""
    from harness.run import NumericEnvironment
    from leaderboard.cells import cost_cell
    from leaderboard.collect import Result, describe_environment
    from leaderboard.estimator_page import contract_line

    here = NumericEnvironment("cpu", "Intel(R) Xeon(R) Processor", "AVX512", "fc7df03f53",
                              "2.13.0+cpu").to_dict()
    other = NumericEnvironment("cpu", "AMD EPYC 7B13", "AVX2", "0123456789",
                               "2.13.0+cpu").to_dict()
    gpu = NumericEnvironment("cuda", "NVIDIA H200", "", "", "2.13.0").to_dict()
    assert describe_environment(here) == "Intel(R) Xeon(R) Processor (cpu, AVX512, flags fc7df03f53)"
    assert describe_environment(gpu) == "NVIDIA H200 (cuda)"
    assert describe_environment(None) == "environment not recorded"

    obj = load_json(results_dir / "random" / f"{SPLIT}.json")
    env = dict(obj["environment"], device_name="Intel(R) Xeon(R) Processor")
    cross = [{"arch_id": 3, "seed": 20, "recorded": 1.0, "recorded_env": other,
              "rescored": 1.0001, "rescored_env": here, "rel_diff": 1.0e-4}]
    mixed = dict(obj, environment=env, determinism={
        "checked": 3, "equal": 2, "cross_environment": cross,
        "environments": [{"environment": here, "n_scores": 600},
                         {"environment": other, "n_scores": 400}]})
    res = Result(obj=mixed, path=Path("m.json"), scores=None)
    text = res.scored_in()
    assert text.index("Intel(R) Xeon(R) Processor (cpu, AVX512") < text.index("AMD EPYC 7B13")
    assert ": 600 score(s)" in text and ": 400 score(s)" in text
    assert "results file written on Intel(R) Xeon(R) Processor (cpu)" in text
    assert "AMD EPYC 7B13" in cost_cell(res)
    line = contract_line(res)
    assert "2 of 3 cell(s) re-scored alone matched" in line
    assert "1 recorded in another numeric environment differ by at most 1.0e-04" in line
    elsewhere = dict(mixed, determinism=dict(mixed["determinism"], equal=0, cross_environment=[
        dict(cross[0], arch_id=i) for i in (3, 4, 5)]))
    line = contract_line(Result(obj=elsewhere, path=Path("e.json"), scores=None))
    assert "0 of 3" not in line
    assert "the 3 cell(s) re-scored alone were recorded in another numeric environment and " \
        "differ by at most 1.0e-04 relative" in line
    assert "the determinism re-check matched" not in line

    single = dict(obj, environment=env, determinism={
        "checked": 3, "equal": 3, "cross_environment": [],
        "environments": [{"environment": here, "n_scores": 1000}]})
    res = Result(obj=single, path=Path("s.json"), scores=None)
    assert res.scored_in() == "Intel(R) Xeon(R) Processor (cpu, AVX512, flags fc7df03f53): " \
        "1000 score(s)"
    assert "3 of 3 cell(s) re-scored alone matched" in contract_line(res)
    legacy = dict(obj, environment=env)
    legacy.pop("determinism", None)
    res = Result(obj=legacy, path=Path("l.json"), scores=None)
    assert res.scored_in() == "Intel(R) Xeon(R) Processor (cpu)"


def test_svg_ids_do_not_depend_on_float_hashes():
    """Two renders whose hashed ids differ (as on two machines) give the same bytes."""
    from leaderboard.plots import renumber_svg_ids

    def svg(clip: str, marker: str) -> str:
        return (f'<use xlink:href="#{marker}"/><g clip-path="url(#{clip})"/>'
                f'<g clip-path="url(#p0123456789)"/><defs><path id="{marker}"/>'
                f'<clipPath id="{clip}"/><clipPath id="p0123456789"/></defs>')

    a = renumber_svg_ids(svg("pdfdb612729", "m346c86ed93"))
    assert a == renumber_svg_ids(svg("pf1ccefa4bd", "m0a1b2c3d4e"))
    assert 'id="p0"' in a and 'id="p1"' in a and 'href="#m0"' in a and "url(#p1)" in a
    assert "dfdb6" not in a


# --------------------------------------------------------------------------------------------
# uncertainty on the pages, plots, exports (issue #28)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def boot_results(tmp_path_factory, results_dir, data_dir) -> Path:
    """The demo results with ``metrics.bootstrap`` filled in from their real scores and the
    real ground truth (as the harness stores it), and without the two broken files."""
    from harness.uncertainty import bootstrap_metrics

    out = tmp_path_factory.mktemp("boot-results")
    truth = np.asarray(load_split(SPLIT).ground_truth(data_dir), dtype=float)
    for name in ("params", "random"):
        shutil.copytree(results_dir / name, out / name)
        path = out / name / f"{SPLIT}.json"
        obj = json.loads(path.read_text())
        matrix = analysis.seed_scores(path.parent / obj["scores_file"],
                                      load_split(SPLIT).arch_ids, obj["protocol"]["seeds"])
        per_seed = [analysis.floor_failures(row) for row in matrix]
        obj["metrics"]["bootstrap"] = bootstrap_metrics(per_seed, truth)
        path.write_text(json.dumps(obj))
    return out


@pytest.fixture(scope="module")
def boot_site(tmp_path_factory, boot_results, data_dir) -> Path:
    docs = tmp_path_factory.mktemp("boot-site") / "docs"
    build(boot_results, docs, data_dir=data_dir, use_registry=False, results_label="results")
    return docs


def test_home_shows_ci_on_hover_and_rank_groups(boot_site, boot_results):
    header, rows = _board_rows((boot_site / "index.md").read_text())
    by_name = {re.search(r"\[(\w+)\]", r[1]).group(1): r for r in rows}
    for name in ("params", "random"):
        boot = load_json(boot_results / name / f"{SPLIT}.json")["metrics"]["bootstrap"]
        lo, hi = boot["kendall"]["lo"], boot["kendall"]["hi"]
        assert lo < hi
        tau_cell = by_name[name][4]
        assert f"95 % CI [{lo:.4f}, {hi:.4f}]" in tau_cell, tau_cell
        assert "1000 resamples" in tau_cell
    # On 100 architectures params (τ ≈ 0.5) is clearly better than random (τ ≈ 0).
    assert re.sub(r"<[^>]+>", "", by_name["params"][6]) == "1"
    assert re.sub(r"<[^>]+>", "", by_name["random"][6]) == "2"
    split_page = (boot_site / "splits" / f"{SPLIT}.md").read_text()
    _, split_rows = _board_rows(split_page.split("## Estimators")[1])
    boot = load_json(boot_results / "random" / f"{SPLIT}.json")["metrics"]["bootstrap"]
    ci_text = f"[{boot['kendall']['lo']:.3f}, {boot['kendall']['hi']:.3f}]"
    assert any(ci_text in r[5] for r in split_rows), split_rows


def test_rank_groups_pair_only_samples_from_the_same_resamples(boot_results):
    from leaderboard.cells import rank_groups_for

    coll = collect(boot_results, use_registry=False)
    rows = rank_rows(coll, [SPLIT], SPLIT)
    assert rank_groups_for(rows, SPLIT) == {"params": 1, "random": 2}
    # random's samples drawn with another bootstrap seed do not pair with params': left out.
    res = coll.results[("random", SPLIT)]
    res.obj["metrics"]["bootstrap"] = dict(res.obj["metrics"]["bootstrap"], seed=1)
    assert rank_groups_for(rows, SPLIT) == {"params": 1}
    del res.obj["metrics"]["bootstrap"]
    assert rank_groups_for(rows, SPLIT) == {"params": 1}


def test_heatmap_and_cost_plot_show_the_values(site, results_dir):
    docs = site[0] / "docs"
    home = (docs / "index.md").read_text()
    assert "![Kendall τ of every estimator on every benchmark split](img/home/tau-heatmap.svg)" \
        in home
    svg = (docs / "img" / "home" / "tau-heatmap.svg").read_text()
    for name in ("params", "random"):
        tau = load_json(results_dir / name / f"{SPLIT}.json")["metrics"]["mean"]["kendall"]
        label = f"{tau:.2f}"
        assert (label if label != "-0.00" else "0.00") in svg and name in svg
    page = (docs / "splits" / f"{SPLIT}.md").read_text()
    assert f"(../img/splits/{SPLIT}-cost.svg)" in page
    cost_svg = (docs / "img" / "splits" / f"{SPLIT}-cost.svg").read_text()
    assert "params" in cost_svg and "random" in cost_svg and "log scale" in cost_svg


def test_pareto_front():
    from leaderboard.plots import pareto_front

    pts = [{"name": n, "cost": c, "tau": t, "complete": ok} for n, c, t, ok in (
        ("cheap", 0.01, 0.2, True), ("dominated", 0.1, 0.1, True), ("better", 1.0, 0.5, True),
        ("incomplete", 0.001, 0.9, False), ("same_cost_worse", 0.01, 0.1, True))]
    assert [p["name"] for p in pareto_front(pts)] == ["cheap", "better"]


def test_csv_download_is_the_export_as_numeric_data(site, results_dir, tmp_path):
    """The site's CSV files are the export's bytes: one row per (estimator, split), numbers in
    their own columns, the same values and ranks as the pages."""
    import csv as _csv

    from leaderboard.data_export import COLUMNS
    from leaderboard.export import export_table

    docs = site[0] / "docs"
    home = (docs / "index.md").read_text()
    assert "[Download the results as data (CSV)](downloads/leaderboard.csv)" in home
    exported = export_table(results_dir, "csv")
    assert exported == (docs / "downloads" / "leaderboard.csv").read_text()
    rows = list(_csv.DictReader(exported.splitlines()))
    assert tuple(rows[0]) == COLUMNS
    by_name = {(r["estimator"], r["split"]): r for r in rows}
    obj = load_json(results_dir / "params" / f"{SPLIT}.json")
    params = by_name[("params", SPLIT)]
    assert float(params["kendall"]) == obj["metrics"]["mean"]["kendall"]  # every digit
    boot = obj["metrics"]["bootstrap"]["kendall"]
    assert (float(params["kendall_ci_low"]), float(params["kendall_ci_high"])) == \
        (boot["lo"], boot["hi"])
    assert params["rank"] == "1" and params["status"] == "provisional"
    assert params["n_seeds"] == "1" and params["seeds"] == "20"
    assert float(params["score_s_per_arch"]) == obj["cost"]["wall_s_per_arch_median"]
    assert params["training_s_per_arch"] == ""  # a zero-shot row has no training
    random_ = by_name[("random", SPLIT)]
    assert random_["n_seeds"] == "3" and float(random_["kendall_seed_std"]) >= 0
    split_csv = (docs / "downloads" / f"{SPLIT}.csv").read_text()
    assert split_csv == export_table(results_dir, "csv", split=SPLIT)
    assert f"[Download its results as data (CSV)](../downloads/{SPLIT}.csv)" in \
        (docs / "splits" / f"{SPLIT}.md").read_text()


def test_export_markdown_and_cli(boot_results, tmp_path, capsys):
    assert cli(["export", "--format", "markdown", "--results-dir", str(boot_results),
                "--no-registry"]) == 0
    out = capsys.readouterr().out
    assert "<span" not in out and "](" not in out  # plain Markdown, no HTML or links
    assert out.splitlines()[0].startswith("|")
    assert "| params" in out.replace("|   ", "| ").replace("|  ", "| ")
    target = tmp_path / "t.csv"
    assert cli(["export", "--format", "csv", "--split", SPLIT, "--results-dir",
                str(boot_results), "--no-registry", "-o", str(target)]) == 0
    head = target.read_text().splitlines()[0]
    assert head.startswith("estimator,kind,split,rank,status,status_reasons,kendall,")
    assert "ndcg_5" in head and "kendall_ci_low" in head
    assert cli(["export", "--format", "csv", "--split", "nb101-1k", "--results-dir",
                str(boot_results), "--no-registry"]) == 1
    assert "no results on split 'nb101-1k'" in capsys.readouterr().err


def _latex_document(body: str) -> str:
    return "\\documentclass{article}\n\\begin{document}\n" + body + "\\end{document}\n"


def test_export_latex_structure(boot_results):
    from leaderboard.export import export_table
    from leaderboard.tables import latex_escape

    tex = export_table(boot_results, "latex", use_registry=False)
    lines = tex.splitlines()
    end = lines.index("\\end{tabular}")
    assert lines[0] == "\\begin{tabular}{rllcrrrr}"
    # The legend follows the tabular: what the marks and columns mean.
    legend = "\n".join(lines[end + 1:])
    assert "\\footnotesize" in legend and "Mean $\\tau$" in legend and "($\\surd$)" in legend
    rows = [ln for ln in lines if ln.endswith("\\\\")]
    assert len(rows) == 3  # header + params + random
    for row in rows:  # every row has one cell per column, no stray unescaped specials
        assert row.replace("\\&", "").count("&") == 7, row
        assert all(ord(ch) < 128 for ch in row), row
    assert "\\#" in rows[0] and "Mean $\\tau$" in rows[0]
    assert rows[1].startswith("1 & params & baseline & ($\\surd$) & ")
    assert latex_escape("grad_norm 5 % & #1 — τ ± 0.1") == \
        "grad\\_norm 5 \\% \\& \\#1 --- $\\tau$ $\\pm$ 0.1"
    wrapped = export_table(boot_results, "latex", use_registry=False, caption="Leaderboard")
    assert wrapped.startswith("\\begin{table}[ht]") and "\\caption{Leaderboard}" in wrapped


@pytest.mark.skipif(shutil.which("pdflatex") is None,
                    reason="pdflatex not installed (Debian: apt-get install texlive-latex-base)")
def test_export_latex_compiles(boot_results, tmp_path):
    from leaderboard.export import export_table

    for split in (None, SPLIT):
        body = export_table(boot_results, "latex", split=split, use_registry=False,
                            caption="estbench")
        tex = tmp_path / f"table-{split or 'home'}.tex"
        tex.write_text(_latex_document(body), encoding="utf-8")
        proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                               tex.name], cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert tex.with_suffix(".pdf").stat().st_size > 1000


def test_preview_places_local_results_and_keeps_the_board_honest(results_dir, tmp_path):
    """The user's results on a board split are ranked and marked; a split only the user ran
    is listed, not added, so committed rows do not turn provisional because of it."""
    from leaderboard.preview import preview

    committed = tmp_path / "committed" / "leaderboard" / "results"
    shutil.copytree(results_dir / "random", committed / "random")
    mine = tmp_path / "mine"
    shutil.copytree(results_dir / "params", mine / "params")
    other = json.loads((mine / "params" / f"{SPLIT}.json").read_text())
    other["split"]["name"] = "nb201-c10-1k"  # a split the board lacks (only its name matters)
    (mine / "params" / "nb201-c10-1k.json").write_text(json.dumps(other))
    out = preview(mine, tmp_path / "out", committed, make_plots=False)
    assert out.merged == [("params", SPLIT)]
    # Its place among the committed results of the split, with τ's interval; the smoke split
    # has 100 cells, so the rank is indicative.
    (placed,) = out.placements
    params = json.loads((mine / "params" / f"{SPLIT}.json").read_text())
    rand = json.loads((committed / "random" / f"{SPLIT}.json").read_text())
    tau, other = params["metrics"]["mean"]["kendall"], rand["metrics"]["mean"]["kendall"]
    assert (placed.tau, placed.n_ranked, placed.n_archs) == (tau, 2, 100)
    assert placed.rank == (1 if tau >= other else 2)
    boot = params["metrics"]["bootstrap"]["kendall"]
    assert placed.ci == (boot["lo"], boot["hi"])
    assert placed.indicative and "indicative: 100 cells" in placed.line()
    assert f"rank {placed.rank} of 2 on {SPLIT}" in placed.line()
    assert [(e, s) for e, s, _ in out.off_board] == [("params", "nb201-c10-1k")]
    home = (out.docs_dir / "index.md").read_text()
    header, rows = _board_rows(home)
    names = [re.sub(r"<[^>]+>", "", r[1]) for r in rows]
    assert any("params ★" in n for n in names) and not any("random ★" in n for n in names)
    assert "nb201-c10-1k" not in "".join(header)  # no column for the user's extra split
    random_row = next(r for r in rows if "random" in r[1])
    assert "provisional" not in random_row[3]
    # The committed tree is untouched.
    assert sorted(p.name for p in (committed / "random").iterdir()) == \
        sorted(p.name for p in (results_dir / "random").iterdir())


def test_one_shot_protocol_is_stated_in_words():
    """An estimator page states a supernet's protocol (shape, sampler, sharing, budget,
    schedule, scoring, training CPU-hours), not only a JSON description."""
    from leaderboard import estimator_page

    desc = {"config_hash": "8658bc289490a879", "sampler": "deiso", "sharing": "full",
            "epoch": 100, "epoch_budget": 100, "schedule": "cosine",
            "shape": {"cells_per_stage": 1, "channels": 8}, "memory_format": "channels_last",
            "iso_eval": "representative", "eval": {"batch_size": 128, "n_batches": 2,
                                                   "eval_seed": 0},
            "training": {"cpu_s": 7117.3, "epochs": 100}}
    assert estimator_page.is_supernet(desc)
    assert not estimator_page.is_supernet({"config_hash": "x"})
    row = estimator_page.supernet_row(desc)
    assert row[:6] == ["1 cell(s)/stage, 8 ch, channels_last", "deiso", "full", "100 / 100",
                       "cosine", "representative; 2 x 128 validation images"]
    assert row[6] == "1.98"


def test_published_figures_sit_beside_ours_on_the_same_benchmark(boot_results):
    from harness.api import Published
    from leaderboard.cells import ci
    from leaderboard.collect import Current
    from leaderboard.estimator_page import published_section
    from leaderboard.published import in_benchmark
    from leaderboard.site import Site

    coll = collect(boot_results, use_registry=False)
    figs = (Published("kendall", 0.741, "nb201-c10", "all 15,625 cells", "a notebook",
                      "one GPU seed"),
            Published("spearman", 0.9, "nb201-c100", "a sample", "an abstract"))
    coll.registry = {"random": Current(version="1", kind="baseline", published=figs)}
    site = Site(coll=coll, results_label="results")
    res = coll.of_estimator("random")[SPLIT]
    text = published_section(site, "random", coll.of_estimator("random"))
    rows = [line for line in text.splitlines() if line.startswith("| Kendall")
            or line.startswith("| Spearman")]
    assert len(rows) == 2
    lo, hi = ci(res, "kendall")
    assert "0.741" in rows[0] and f"{res.mean('kendall'):.3f}" in rows[0]
    assert f"[{lo:.3f}, {hi:.3f}]" in rows[0] and "3 seeds" in rows[0]
    assert "; published " + ("inside" if lo <= 0.741 <= hi else "outside") in rows[0]
    assert "one GPU seed" in rows[0]
    # nb201-c10-smoke is not a CIFAR-100 split: no number of ours is put beside that figure
    assert "not scored on a nb201-c100 split yet" in rows[1]
    assert in_benchmark("nb201-c10-1k", "nb201-c10") and in_benchmark("nb201-c10", "nb201-c10")
    assert not in_benchmark("nb201-c100", "nb201-c10")
    # an estimator without published figures gets no section
    coll.registry = {"random": Current(version="1", kind="baseline")}
    assert published_section(site, "random", coll.of_estimator("random")) == ""
    with pytest.raises(ValueError, match="criterion"):
        Published("p_top_5", 0.5, "nb201-c10", "x", "y")
    with pytest.raises(ValueError, match="not a correlation"):
        Published("kendall", 1.5, "nb201-c10", "x", "y")


def test_published_figures_gathered_with_interval_gap_and_finding(boot_results):
    """Every cited figure beside our result: inside or outside our interval, the signed gap,
    none where we have no split of its benchmark; the home finding counts them."""
    from harness.api import Published
    from leaderboard import home, published
    from leaderboard.cells import ci
    from leaderboard.collect import Current
    from leaderboard.site import Site

    coll = collect(boot_results, use_registry=False)
    res = coll.of_estimator("params")[SPLIT]
    mean, (lo, hi) = res.mean("kendall"), ci(res, "kendall")
    assert lo < mean < hi
    figs = (Published("kendall", round(mean, 3), "nb201-c10", "all cells", "paper A", "why A"),
            Published("kendall", round(mean - 0.5, 3), "nb201-c10", "unique cells", "paper B"),
            Published("spearman", 0.9, "nb201-c100", "a sample", "paper C"))
    coll.registry = {"params": Current(version="1", kind="baseline", published=figs),
                     "random": Current(version="1", kind="baseline")}
    site = Site(coll=coll, results_label="results")
    found = published.comparisons(site)
    assert [(c.estimator, c.split, c.inside) for c in found] == [
        ("params", SPLIT, True), ("params", SPLIT, False), ("params", None, None)]
    assert found[1].delta == pytest.approx(mean - round(mean - 0.5, 3))  # ours − published > 0
    assert found[2].ours is None and found[2].delta is None
    n, inside, median_gap, worst = published.summary(found)
    assert (n, inside, worst) == (2, 1, found[1])
    assert median_gap == pytest.approx((abs(found[0].delta) + abs(found[1].delta)) / 2)
    (sentence,) = published.finding(site, "index.md")
    assert sentence.startswith("Of the 2 [published figures](estimators/index.md"
                               "#against-published-figures)")
    assert "1 lie inside our 95 % interval" in sentence and "(Kendall τ of params: ours" in sentence
    rows = published.table_model(site).rows_plain()
    assert [r[-1] for r in rows] == ["yes", "no", "—"]
    assert rows[0][7] == f"[{lo:.3f}, {hi:.3f}]" and rows[2][5] == "—"
    text = published.section(site, "estimators/index.md")
    assert text.startswith("## Against published figures") and "1 of the 2 figures" in text
    assert 'title="why they may differ: why A"' in text
    assert sentence in home.render(site)  # one of the home page's findings
    assert "(../downloads/published.csv)" in text
    table = list(csv.DictReader(io.StringIO(published.to_data_csv(site))))
    assert [r["published_in_ci"] for r in table] == ["1", "0", ""]
    assert float(table[0]["ci_low"]) == lo and float(table[0]["ci_high"]) == hi  # every digit
    assert float(table[1]["ours_minus_published"]) == found[1].delta
    assert table[0]["n_seeds"] == str(len(res.seeds)) and table[0]["note"] == "why A"
    assert table[2]["our_split"] == table[2]["ours"] == ""
    coll.registry = {"params": Current(version="1", kind="baseline")}
    assert published.comparisons(site) == [] and published.section(site, "x.md") == ""
    assert published.finding(site, "index.md") == []


def test_published_compares_on_the_full_benchmark_first_and_only_usable_results(boot_results):
    """The full benchmark split (the population most figures rank) before a sample of it; a
    result that cannot be ranked (here: contract failed) is not compared; the smoke split is
    indicative once a larger split has a result."""
    from harness.api import Published
    from leaderboard import published
    from leaderboard.collect import Collection, Current, Result
    from leaderboard.site import Site

    base = collect(boot_results, use_registry=False).of_estimator("params")[SPLIT]

    def relabel(split: str) -> Result:
        obj = copy.deepcopy(base.obj)
        sp = load_split(split)
        obj["split"] = dict(obj["split"], name=split, sha256=sp.sha256, n_archs=len(sp))
        return Result(obj=obj, path=Path(f"params/{split}.json"), scores=None)

    fig = Published("kendall", 0.5, "nb201-c10", "all cells", "paper")
    coll = Collection(results_dir=Path("."), registry={
        "params": Current(version=str(base.obj["estimator"]["version"]), kind="baseline",
                          published=(fig,))})
    coll.results = {("params", s): relabel(s) for s in ("nb201-c10-1k", "nb201-c10")}
    coll.results[("params", SPLIT)] = base
    site = Site(coll=coll, results_label="results")
    assert SPLIT in coll.indicative_splits()
    assert published.our_split(site, "params", "nb201-c10") == "nb201-c10"
    coll.results[("params", "nb201-c10")].obj["contract_ok"] = False
    assert published.our_split(site, "params", "nb201-c10") == "nb201-c10-1k"
    del coll.results[("params", "nb201-c10-1k")]
    assert published.our_split(site, "params", "nb201-c10") is None  # smoke: indicative
    assert published.our_split(site, "params", "nb201-c100") is None


def test_new_estimators_declare_their_published_figures():
    from harness import registry

    found = registry.discover()
    assert {(p.criterion, p.value) for p in found["az_nas"].info.published} >= {
        ("kendall", 0.741), ("spearman", 0.913)}
    assert {(p.criterion, p.value) for p in found["vkdnw_agg"].info.published} == {
        ("kendall", 0.750), ("spearman", 0.919)}
    assert [p.benchmark for p in found["swap"].info.published] == ["nb201-c100"]


def test_submitted_metadata_cannot_reach_a_page_as_code():
    from leaderboard import fmt

    assert fmt.safe_url("https://arxiv.org/abs/2101.08134") == "https://arxiv.org/abs/2101.08134"
    for bad in ("javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,x", "", None,
                "//evil.example", "https://a b"):
        assert fmt.safe_url(bad) is None, bad
    assert fmt.safe_url("https://x.org/a(b)<c>") == "https://x.org/a%28b%29%3Cc%3E"
    link = fmt.paper_link({"title": "<script>x</script>", "url": "javascript:alert(1)"}, "-")
    assert link == "&lt;script&gt;x&lt;/script&gt;" and "javascript" not in link
    assert fmt.paper_link(None, "none") == "none"
    # A BibTeX entry cannot close its code fence (and so cannot reach the page as HTML).
    block = fmt.fenced("@a{x}\n```\n<script>alert(1)</script>\n````", "bibtex")
    fence = block.split("bibtex", 1)[0]
    assert fence == "`" * 5 and block.rstrip().endswith(fence)
    assert block.count(fence) == 2


def test_a_failed_contract_is_reported_as_such_not_as_malformed(results_dir, tmp_path):
    clean = tmp_path / "pr"
    (clean / "random").mkdir(parents=True)
    for f in (results_dir / "random").glob(f"{SPLIT}*"):
        (clean / "random" / f.name).write_bytes(f.read_bytes())
    obj = json.loads((clean / "random" / f"{SPLIT}.json").read_text())
    # What the harness writes when the contract fails: no metrics at all.
    obj.update(contract_ok=False, contract_problems=["2 non-finite score(s)"], metrics=None)
    (clean / "random" / f"{SPLIT}.json").write_text(json.dumps(obj))
    text, ok = summarize(clean, split=SPLIT, expect=["random"])
    assert not ok and "❌ failed" in text and "2 non-finite score(s)" in text
    assert "malformed" not in text
    report = build(clean, tmp_path / "docs", make_plots=False)
    assert not any("malformed" in w for w in report.warnings), report.warnings
    page = (tmp_path / "docs" / "estimators" / "random.md").read_text()
    assert "Estimator contract failed" in page and "2 non-finite score(s)" in page


def test_the_findings_box_is_computed_from_the_results(site, results_dir):
    project, _ = site
    home = (project / "docs" / "index.md").read_text()
    assert "Findings (computed from the results at build time)" in home
    board = collect(results_dir, use_registry=False)
    taus = {e: r.mean("kendall") for (e, s), r in board.results.items() if s == SPLIT
            and r.mean("kendall") is not None}
    best = max(taus, key=taus.get)
    assert f"the best mean Kendall τ is **{best}**" in home
    assert home.index("Findings") < home.index("## Ranking")


def _finding_row(name: str, kind: str, taus: dict[str, float], seeds=(20, 2020, 202020),
                 seed_sd: float = 0.0, samples: list[float] | None = None):
    """A home-table row whose results hold only what the findings read."""
    from leaderboard.collect import Result, Row

    cells = {}
    for split, tau in taus.items():
        metrics = {"mean": {"kendall": tau}, "std": {"kendall": seed_sd}, "per_seed": {},
                   "bootstrap": {"kendall": {"lo": tau - 0.1, "hi": tau + 0.1},
                                 "kendall_samples": samples or [tau, tau]}}
        obj = {"estimator": {"name": name, "kind": kind}, "split": {"name": split},
               "protocol": {"seeds": list(seeds)}, "metrics": metrics}
        cells[split] = Result(obj=obj, path=Path(f"{name}/{split}.json"), scores=None)
    return Row(name, kind, cells, {}, [])


def test_the_transfer_finding_names_the_first_splits_best_and_its_rank_elsewhere():
    """Hand-made case: ``a`` is best on the first split (0.8) but has the lowest mean τ
    ((0.8 - 0.1) / 2 = 0.35, against 0.5 and 0.45), with its worst τ on ``s2``."""
    from leaderboard.home import transfer_finding

    rows = [_finding_row("a", "zero-shot", {"s1": 0.8, "s2": -0.1}),
            _finding_row("b", "zero-shot", {"s1": 0.5, "s2": 0.5}),
            _finding_row("c", "baseline", {"s1": 0.3, "s2": 0.6})]
    full = {r.name: (r, sum(c.mean("kendall") for c in r.cells.values()) / 2) for r in rows}
    (line,) = transfer_finding(full, ["s1", "s2"])
    assert "On s1 alone the best of them is **a** (τ 0.800)" in line
    assert "it ranks 3 of 3" in line and "its τ on s2 is -0.100" in line
    # When the first split's best is also best on average, the sentence says so instead.
    del full["a"]
    (line,) = transfer_finding(full, ["s1", "s2"])
    assert "**b** (τ 0.500); it is also the best across the benchmarks" in line
    assert "lowest τ 0.500, on s1" in line
    assert transfer_finding(full, ["s1"]) == []


def test_the_variance_finding_compares_the_seed_with_resampling_the_architectures():
    """Seed std against the std of the bootstrap replicates, medians over zero-shot and
    one-shot results with three seeds. Bootstrap replicates [0.1, 0.3] have a sample std of
    0.1414; baselines (``params`` does not depend on the seed) and one-seed results are left
    out, so their large seed std must not move the median."""
    from leaderboard.home import variance_finding
    from leaderboard.site import Site

    rows = [_finding_row("z", "zero-shot", {"s1": 0.2, "s2": 0.2}, seed_sd=0.01,
                         samples=[0.1, 0.3]),
            _finding_row("o", "one-shot", {"s1": 0.2}, seed_sd=0.03, samples=[0.1, 0.3]),
            _finding_row("p", "baseline", {"s1": 0.2}, seed_sd=0.9, samples=[0.1, 0.3]),
            _finding_row("one", "zero-shot", {"s1": 0.2}, seeds=(20,), seed_sd=0.9,
                         samples=[0.1, 0.3])]
    (line,) = variance_finding(Site(coll=None, results_label="r", home_rows=rows), ["s1", "s2"])
    assert line.startswith("Over the 3 zero-shot and one-shot results with 3 or more seeds")
    assert "median std of 0.010" in line and "median std of 0.141" in line
    assert line.endswith("the architectures a split happens to hold, more than the seed, "
                         "limit how sure a τ is.")
    noisy = [_finding_row("z", "zero-shot", {"s1": 0.2}, seed_sd=0.5, samples=[0.1, 0.3])]
    (line,) = variance_finding(Site(coll=None, results_label="r", home_rows=noisy), ["s1"])
    assert "the seed, more than the architectures" in line
    assert variance_finding(Site(coll=None, results_label="r", home_rows=rows[2:]),
                            ["s1"]) == []


def test_a_crafted_estimator_name_never_reaches_a_page(results_dir, tmp_path):
    bad = '<img src=x onerror=alert(1)>'
    res = tmp_path / "res"
    shutil.copytree(results_dir / "random", res / "random")
    obj = json.loads((res / "random" / f"{SPLIT}.json").read_text())
    obj["estimator"]["name"] = bad
    (res / bad).mkdir()
    (res / bad / f"{SPLIT}.json").write_text(json.dumps(obj))
    report = build(res, tmp_path / "docs", make_plots=False)
    assert any("not a valid estimator name" in w for w in report.warnings)
    for page in (tmp_path / "docs").rglob("*.md"):
        assert "<img src=x" not in page.read_text(), page


def test_a_scores_file_that_is_not_the_recorded_one_is_not_plotted(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("edited")
    shutil.copytree(shared_demo_results(demo_base(tmp_path_factory), data_dir), out,
                    dirs_exist_ok=True)
    scores = out / "random" / f"{SPLIT}.scores.csv.gz"
    rows = hres.read_scores(scores)
    hres.write_scores(scores, [(a, s, -v if v is not None else v) for a, s, v in rows])
    coll = collect(out, use_registry=False)
    assert coll.results[("random", SPLIT)].scores is None
    assert coll.results[("params", SPLIT)].scores is not None
    assert any(f"random/{SPLIT}.json" in w and "does not match the SHA-256" in w
               for w in coll.warnings), coll.warnings


def test_a_result_whose_estimator_file_changed_since_is_marked(tmp_path, results_dir):
    res = collect(results_dir, use_registry=False).results[("random", SPLIT)]
    src = tmp_path / "random.py"
    src.write_text("# the file that scored it\n")
    res.obj["estimator"]["source_sha256"] = hres.file_sha256(src)
    res.obj["estimator"]["code_sha256"] = None  # scored before fingerprints: bytes count
    assert not source_changed(res, tmp_path)
    src.write_text("# edited since\n")
    assert source_changed(res, tmp_path)
    res.obj["estimator"]["source_sha256"] = None  # not recorded: nothing to say
    assert not source_changed(res, tmp_path)


def test_a_documentation_edit_is_not_a_code_change(tmp_path, results_dir):
    res = collect(results_dir, use_registry=False).results[("random", SPLIT)]
    src = tmp_path / "random.py"
    src.write_text('"""The file that scored it."""\nSEED_OFFSET = 1\n')
    res.obj["estimator"]["source_sha256"] = hres.file_sha256(src)
    res.obj["estimator"]["code_sha256"] = trust.code_sha256(src)
    src.write_text('"""The file that scored it, better documented."""\n'
                   "SEED_OFFSET = 1  # why it is 1\n")
    assert not source_changed(res, tmp_path)  # the bytes changed, the code did not
    src.write_text('"""The file that scored it."""\nSEED_OFFSET = 2\n')
    assert source_changed(res, tmp_path)


def test_check_says_whether_docs_are_what_the_results_build(tmp_path, results_dir, data_dir):
    from leaderboard.check import check, compare_trees

    project = tmp_path / "site"
    stage_site_project(project)
    docs = project / "docs"
    res = tmp_path / "res"
    shutil.copytree(results_dir, res)
    build(res, docs, data_dir=data_dir)
    before = {p: p.read_bytes() for p in docs.rglob("*") if p.is_file()}
    assert not check(res, docs, data_dir=data_dir)
    assert {p: p.read_bytes() for p in docs.rglob("*") if p.is_file()} == before  # untouched
    shutil.rmtree(res / "params")  # results changed, site not rebuilt
    drift = check(res, docs, data_dir=data_dir)
    assert drift and "index.md" in drift.changed and "estimators/params.md" in drift.removed
    assert any(p.endswith(".svg") for p in drift.removed)

    a, b = tmp_path / "a", tmp_path / "b"
    for root, svg, md in ((a, "<svg>1</svg>", "x"), (b, "<svg>2</svg>", "y")):
        (root / "img").mkdir(parents=True)
        (root / "img" / "p.svg").write_text(svg)  # plot bytes follow matplotlib: not compared
        (root / "page.md").write_text(md)
    assert compare_trees(a, b).lines() == ["changed: page.md"]



def test_check_names_the_missing_data_before_the_drift(tmp_path, results_dir, data_dir, capsys):
    """Without the benchmark data the rebuild drops the plots and changes every page; the check
    says why (the build's warning) before listing the drift."""
    project = tmp_path / "site"
    stage_site_project(project)
    docs = project / "docs"
    build(results_dir, docs, data_dir=data_dir)
    rc = cli(["check", "--results-dir", str(results_dir), "--docs-dir", str(docs),
              "--data-dir", str(tmp_path / "no-data-here")])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.index("warning: ground truth of") < err.index("error: python -m leaderboard build")
    assert "first fix what the warnings above say" in err

def test_home_leads_with_the_ranking_across_benchmarks(tmp_path, results_dir):
    """Only estimators with a usable result on every benchmark are ranked across them (by mean
    τ); the others are listed apart with how many benchmarks they cover."""
    from leaderboard import home
    from leaderboard.site import Site

    res = tmp_path / "res"
    shutil.copytree(results_dir, res)
    other = load_split("nb101-smoke")
    obj = json.loads((res / "random" / f"{SPLIT}.json").read_text())
    obj["split"].update(name=other.name, sha256=other.sha256, benchmark=other.benchmark,
                        dataset=other.dataset, n_archs=len(other))
    obj["metrics"]["mean"]["kendall"] = -0.25
    (res / "random" / "nb101-smoke.json").write_text(json.dumps(obj))
    coll = collect(res, use_registry=False)
    site = Site(coll=coll, results_label="res")
    site.home_rows = rank_rows(coll, coll.splits(), coll.primary_split())
    complete, partial = home.cross_benchmark_rows(site, coll.splits())
    tau_smoke = load_json(res / "random" / f"{SPLIT}.json")["metrics"]["mean"]["kendall"]
    assert [(r.name, t) for r, t in complete] == [("random", (tau_smoke - 0.25) / 2)]
    assert [r.name for r in partial] == ["params"]
    text = home.cross_benchmark_section(site, coll.splits())
    assert text.startswith("## Across the benchmarks") and "(1/2)" in text
    assert home.render(site).index("## Across the benchmarks") < \
        home.render(site).index("## Ranking")
    table = home.cross_benchmark_table_model(site, coll.splits())
    assert [c.header.text for c in table.columns][:6] == ["#", "Estimator", "Kind", "Mean τ",
                                                          "Group", "Worst τ"]
    assert table.rows[0][5].text == f"{-0.25:.3f}"


def _on_two_benchmarks(results_dir: Path, tmp_path: Path) -> Path:
    """A copy of the results in which random and params also have a result on a second
    benchmark (nb101-smoke: the smoke results again, relabelled)."""
    res = tmp_path / "res"
    shutil.copytree(results_dir, res)
    other = load_split("nb101-smoke")
    for name in ("random", "params"):
        obj = json.loads((res / name / f"{SPLIT}.json").read_text())
        obj["split"].update(name=other.name, sha256=other.sha256, benchmark=other.benchmark,
                            dataset=other.dataset, n_archs=len(other))
        (res / name / "nb101-smoke.json").write_text(json.dumps(obj))
    return res


def test_export_across_the_benchmarks(results_dir, tmp_path, capsys):
    """``export --across``: the table across the benchmarks as the site shows it (LaTeX,
    Markdown) or as numbers (CSV, with the mean's interval and group); not with --split, and
    a clear error where no estimator covers every benchmark."""
    res = _on_two_benchmarks(results_dir, tmp_path)
    args = ["export", "--across", "--results-dir", str(res), "--no-registry"]
    assert cli([*args, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["estimator"] for r in rows] == ["params", "random"]
    assert [r["group"] for r in rows] == ["1", "2"]
    for r in rows:
        taus = [float(r[f"kendall_{s}"]) for s in (SPLIT, "nb101-smoke")]
        assert float(r["mean_kendall"]) == pytest.approx(sum(taus) / 2)
        assert float(r["mean_kendall_ci_low"]) <= float(r["mean_kendall"]) \
            <= float(r["mean_kendall_ci_high"])
        assert float(r["worst_kendall"]) == min(taus)
    assert cli([*args, "--format", "markdown"]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert "Mean τ" in head and "Group" in head and "Worst τ" in head
    assert cli([*args, "--format", "latex", "--split", SPLIT]) == 1
    assert "leave out --split" in capsys.readouterr().err
    assert cli(["export", "--across", "--results-dir", str(results_dir), "--no-registry",
                "--format", "csv"]) == 1
    assert "the table across the benchmarks needs two" in capsys.readouterr().err
    (res / "params" / f"{SPLIT}.json").unlink()  # params now on nb101-smoke only
    (res / "params" / f"{SPLIT}.scores.csv.gz").unlink(missing_ok=True)
    (res / "random" / "nb101-smoke.json").unlink()
    assert cli([*args, "--format", "csv"]) == 1
    assert "no estimator" in capsys.readouterr().err


def test_mean_tau_across_benchmarks_has_an_interval_and_rank_groups(tmp_path, results_dir):
    """The table across the benchmarks states how sure its order is: each mean τ has a 95 %
    interval on hover (stratified bootstrap, the splits' stored samples combined) and a rank
    group from the paired samples; the findings say whether the lead is clear. A row whose
    result lacks bootstrap samples on one split gets neither."""
    from leaderboard import home
    from leaderboard.site import Site

    res = _on_two_benchmarks(results_dir, tmp_path)

    def table_for(res_dir):
        coll = collect(res_dir, use_registry=False)
        site = Site(coll=coll, results_label="res")
        site.home_rows = rank_rows(coll, coll.splits(), coll.primary_split())
        return site, home.cross_benchmark_table_model(site, coll.splits())

    site, table = table_for(res)
    by_name = {row[1].text: row for row in table.rows}
    assert [row[1].text for row in table.rows] == ["params", "random"]
    # params ranks the smoke split far better than random: the paired bootstrap separates them.
    assert by_name["params"][4].text == "1" and by_name["random"][4].text == "2"
    ci = re.search(r"95 % CI \[(-?[\d.]+), (-?[\d.]+)\]", by_name["params"][3].title)
    assert ci and float(ci[1]) <= float(by_name["params"][3].text) <= float(ci[2])
    lead = home.findings(site, site.coll.splits())[0]
    assert "**params**" in lead and "95 % CI" in lead and "ahead of every other one" in lead
    ranking = home.home_table_model(site, site.coll.splits())
    mean_col = [c.header.text for c in ranking.columns].index("Mean τ")
    params_row = next(r for r in ranking.rows if r[1].text == "params")
    assert ci[0] in params_row[mean_col].title  # the same interval in the ranking table
    from leaderboard import estimator_page
    about = estimator_page.render(site, "random")
    assert re.search(r"\| Across the benchmarks +\| rank 2 of 2 by \[mean Kendall τ\]"
                     r"\(\.\./index\.md#across-the-benchmarks\) over "
                     r"nb[\w-]+, nb[\w-]+: -?[\d.]+ \(95 % CI \[", about)
    assert "rank group 2; worst τ" in about

    # Without random's samples on one split there is nothing to pair it with there.
    obj = json.loads((res / "random" / "nb101-smoke.json").read_text())
    del obj["metrics"]["bootstrap"]["kendall_samples"]
    (res / "random" / "nb101-smoke.json").write_text(json.dumps(obj))
    _, table = table_for(res)
    by_name = {row[1].text: row for row in table.rows}
    assert by_name["random"][4].text == "—" and "CI" not in by_name["random"][3].title
    assert by_name["params"][4].text == "1"


def test_smoke_results_beside_a_full_board_place_a_preview_but_are_no_column(results_dir,
                                                                             tmp_path):
    """Committed smoke results (100 cells) are there to rank a new estimator's smoke run in
    minutes: not a board column while full splits have results, yet a preview on the smoke
    split is ranked among them, labelled indicative."""
    from leaderboard.collect import collect
    from leaderboard.preview import preview

    committed = tmp_path / "committed" / "leaderboard" / "results"
    shutil.copytree(results_dir / "random", committed / "random")
    real = ROOT / "leaderboard" / "results" / "params"
    (committed / "params").mkdir()
    for name in ("nb201-c10-1k.json", "nb201-c10-1k.scores.csv.gz"):
        shutil.copy2(real / name, committed / "params" / name)
    board = collect(committed, use_registry=False)
    assert board.splits() == ["nb201-c10-1k"] and board.indicative_splits() == [SPLIT]
    mine = tmp_path / "mine"
    shutil.copytree(results_dir / "params", mine / "params")
    out = preview(mine, tmp_path / "out", committed, make_plots=False)
    assert out.merged == [] and out.off_board == []
    (placed,) = out.placements
    assert (placed.split, placed.n_ranked, placed.n_archs) == (SPLIT, 2, 100)
    assert placed.indicative and "indicative: 100 cells" in placed.line()
    header, _rows = _board_rows((out.docs_dir / "index.md").read_text())
    assert SPLIT not in "".join(header)


def test_published_magnitudes_are_compared_with_the_magnitude_of_ours(boot_results):
    """A source that prints |ρ| is set beside |ours| and the interval of the magnitude; a
    negative correlation of ours is named, never hidden behind a match."""
    import dataclasses

    from harness.api import Published
    from leaderboard import published
    from leaderboard.cells import ci
    from leaderboard.collect import Current
    from leaderboard.site import Site

    assert published.magnitude_interval(0.2, 0.4) == (0.2, 0.4)
    assert published.magnitude_interval(-0.4, -0.2) == (0.2, 0.4)
    assert published.magnitude_interval(-0.1, 0.3) == (0.0, 0.3)
    assert published.magnitude_interval(-0.3, 0.1) == (0.0, 0.3)
    with pytest.raises(ValueError, match="absolute but negative"):
        Published("spearman", -0.2, "nb201-c10", "x", "y", absolute=True)

    coll = collect(boot_results, use_registry=False)
    res = coll.of_estimator("params")[SPLIT]
    mean, (lo, hi) = res.mean("spearman"), ci(res, "spearman")
    assert 0 < lo < mean < hi
    # The same result, its correlation negated: the estimator ranks the split backwards.
    obj = copy.deepcopy(res.obj)
    obj["metrics"]["mean"]["spearman"] = -mean
    obj["metrics"]["bootstrap"]["spearman"] = {"lo": -hi, "hi": -lo}
    backwards = dataclasses.replace(res, obj=obj)
    fig = Published("spearman", round(mean, 3), "nb201-c10", "all cells", "a notebook",
                    absolute=True)
    c = published.Comparison("params", fig, SPLIT, backwards)
    assert c.ours == -mean and c.compared == mean and c.sign_hidden
    assert c.interval == (lo, hi) and c.inside
    assert c.delta == pytest.approx(mean - round(mean, 3))
    # Signed, the same figure would be far outside: the flag is what makes it a match.
    signed = published.Comparison("params", dataclasses.replace(fig, absolute=False), SPLIT,
                                  backwards)
    assert not signed.inside and not signed.sign_hidden
    # A positive correlation of ours: nothing is hidden.
    assert not published.Comparison("params", fig, SPLIT, res).sign_hidden

    coll.results[("params", SPLIT)] = backwards
    coll.registry = {"params": Current(version="1", kind="baseline", published=(fig,))}
    site = Site(coll=coll, results_label="results")
    text = published.section(site, "estimators/index.md")
    assert "&#124;Spearman ρ&#124;" in text  # the pipes escaped: the table stays a table
    assert "1 of these figures is a magnitude (|Spearman ρ|)" in text
    assert f"params on {SPLIT} ({-mean:.3f})" in text
    (row,) = list(csv.DictReader(io.StringIO(published.to_data_csv(site))))
    assert row["published_absolute"] == "1" and float(row["ours"]) == -mean
    assert float(row["ours_compared"]) == mean and row["published_in_ci"] == "1"
    assert (float(row["ci_low"]), float(row["ci_high"])) == (lo, hi)
