"""The leaderboard build: real (small) results → pages, plots, warnings, a strict MkDocs site.

The results are produced by the real harness (``random`` with three seeds, ``params`` with one)
on ``nb201-c10-smoke``; two deliberately unusable files sit beside them.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.results import load_json
from harness.splits import load_split
from leaderboard import analysis
from leaderboard.__main__ import main as cli
from leaderboard.build import build
from leaderboard.collect import collect, rank_rows
from leaderboard.demo import DEMO_SPLIT, shared_demo_results, stage_site_project
from leaderboard.summary import summarize

SPLIT = DEMO_SPLIT
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
    assert len(report.images) == 7


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
    assert f"stale/{SPLIT}.json: schema_version 0 is not the current 1" in joined
    assert f"garbage/{SPLIT}.json: unreadable" in joined
    home = (project / "docs" / "index.md").read_text()
    assert f"<code>stale/{SPLIT}.json</code>" in home
    assert f"<code>garbage/{SPLIT}.json</code>" in home


def test_home_table_ranks_only_complete_rows(site):
    home = (site[0] / "docs" / "index.md").read_text()
    assert f"Ranked by **mean Kendall τ on [{SPLIT}](splits/{SPLIT}.md)**" in home
    assert "mean over each result's seeds" in home  # ranked rows have 1 and 3 seeds
    rows = [ln for ln in home.splitlines() if ln.startswith("|") and "](estimators/" in ln]
    assert len(rows) == 2
    cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
    # params (1 seed) outranks random on τ but its rank is marked provisional.
    assert cells[0][0] == "1" and "[params]" in cells[0][1] and cells[0][2] == "baseline"
    assert "provisional" in cells[0][3] and "1 of 3 seeds" in cells[0][3]
    assert cells[1][0] == "2" and "[random]" in cells[1][1]
    assert "✓ complete" in cells[1][3]


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
                               ("index.md", "estimators", "splits")):
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
    obj["curve"] = {"x": "checkpoint (training epoch)", "points": [
        {"checkpoint": 1, "seed": 20, "kendall": -0.25, "spearman": -0.3, "p_top_5": 0.0},
        {"checkpoint": 2, "seed": 20, "kendall": 0.125, "spearman": 0.2, "p_top_5": 0.1}]}
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


def test_cost_cell_marks_a_joint_run(results_dir):
    """A joint run's seconds leave out the passes charged to a partner: the cell must say so."""
    from leaderboard.collect import Result
    from leaderboard.home import cost_cell

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
    from leaderboard.collect import Result, describe_environment
    from leaderboard.estimator_page import _contract
    from leaderboard.home import cost_cell

    here = "cpu:Intel(R) Xeon(R) Processor:AVX512:flags fc7df03f53:torch 2.13.0+cpu"
    other = "cpu:AMD EPYC 7B13:AVX2:flags 0123456789:torch 2.13.0+cpu"
    assert describe_environment(here) == "Intel(R) Xeon(R) Processor (cpu, AVX512, flags fc7df03f53)"
    assert describe_environment("cuda:NVIDIA H200:torch 2.13.0") == "NVIDIA H200 (cuda)"
    assert describe_environment("unrecorded") == "environment not recorded"

    obj = load_json(results_dir / "random" / f"{SPLIT}.json")
    env = dict(obj["environment"], device_name="Intel(R) Xeon(R) Processor")
    cross = [{"arch_id": 3, "seed": 20, "recorded": 1.0, "recorded_env": other,
              "rescored": 1.0001, "rescored_env": here, "rel_diff": 1.0e-4}]
    mixed = dict(obj, environment=env, determinism={
        "checked": 3, "equal": 2, "cross_environment": cross,
        "environments": {here: 600, other: 400}})
    res = Result(obj=mixed, path=Path("m.json"), scores=None)
    text = res.scored_in()
    assert text.index("Intel(R) Xeon(R) Processor (cpu, AVX512") < text.index("AMD EPYC 7B13")
    assert ": 600 score(s)" in text and ": 400 score(s)" in text
    assert "results file written on Intel(R) Xeon(R) Processor (cpu)" in text
    assert "AMD EPYC 7B13" in cost_cell(res)
    line = _contract(res)
    assert "2 of 3 cell(s) re-scored alone matched" in line
    assert "1 scored in another numeric environment differ by at most 1.0e-04" in line
    assert "the determinism re-check matched" not in line

    single = dict(obj, environment=env, determinism={
        "checked": 3, "equal": 3, "cross_environment": [], "environments": {here: 1000}})
    res = Result(obj=single, path=Path("s.json"), scores=None)
    assert res.scored_in() == "Intel(R) Xeon(R) Processor (cpu, AVX512, flags fc7df03f53): " \
        "1000 score(s)"
    assert "3 of 3 cell(s) re-scored alone matched" in _contract(res)
    legacy = dict(obj, environment=env)
    legacy.pop("determinism", None)
    res = Result(obj=legacy, path=Path("l.json"), scores=None)
    assert res.scored_in() == "Intel(R) Xeon(R) Processor (cpu)"


def test_svg_ids_do_not_depend_on_float_hashes():
    """Two renders whose hashed ids differ (as on two machines) give the same bytes."""
    from leaderboard.plots import _renumber_ids

    def svg(clip: str, marker: str) -> str:
        return (f'<use xlink:href="#{marker}"/><g clip-path="url(#{clip})"/>'
                f'<g clip-path="url(#p0123456789)"/><defs><path id="{marker}"/>'
                f'<clipPath id="{clip}"/><clipPath id="p0123456789"/></defs>')

    a = _renumber_ids(svg("pdfdb612729", "m346c86ed93"))
    assert a == _renumber_ids(svg("pf1ccefa4bd", "m0a1b2c3d4e"))
    assert 'id="p0"' in a and 'id="p1"' in a and 'href="#m0"' in a and "url(#p1)" in a
    assert "dfdb6" not in a
