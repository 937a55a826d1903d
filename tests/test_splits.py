"""Committed splits: content hashes, sizes, ground truth, unknown names."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness import splits


def test_required_nb201_splits_exist_and_verify():
    for name in ("nb201-c10", "nb201-c10-deiso", "nb201-c10-1k", "nb201-c10-smoke",
                 "nb201-c100", "nb201-in16"):
        s = splits.load_split(name)
        assert s.name == name and s.benchmark == "nb201"
    assert len(splits.load_split("nb201-c10")) == 15625
    assert len(splits.load_split("nb201-c10-deiso")) == 6466
    assert len(splits.load_split("nb201-c10-1k")) == 1000
    assert 90 <= len(splits.load_split("nb201-c10-smoke")) <= 110


def test_subsets_are_subsets_without_duplicates():
    full = set(splits.load_split("nb201-c10").arch_ids)
    for name in ("nb201-c10-1k", "nb201-c10-smoke", "nb201-c10-deiso"):
        ids = splits.load_split(name).arch_ids
        assert len(set(ids)) == len(ids) and set(ids) <= full


def test_generation_is_reproducible(data_dir):
    from harness.splits.generate import nb201_splits

    for payload in nb201_splits(data_dir):
        committed = json.loads((splits.SPLIT_DIR / f"{payload['name']}.json").read_text())
        assert committed["arch_ids"] == payload["arch_ids"], payload["name"]
        assert committed["ground_truth"] == payload["ground_truth"]


def test_edited_split_is_detected(tmp_path, monkeypatch):
    src = splits.SPLIT_DIR / "nb201-c10-smoke.json"
    payload = json.loads(src.read_text())
    payload["arch_ids"][0] += 1
    (tmp_path / "nb201-c10-smoke.json").write_text(json.dumps(payload))
    monkeypatch.setattr(splits, "SPLIT_DIR", tmp_path)
    splits.load_split.cache_clear()
    try:
        with pytest.raises(ValueError, match="content hash mismatch"):
            splits.load_split("nb201-c10-smoke")
    finally:
        splits.load_split.cache_clear()


def test_unknown_split_suggests_close_matches():
    with pytest.raises(splits.UnknownSplitError, match="nb201-c10-1k"):
        splits.load_split("nb201-c10-1K")


def test_ground_truth_and_deiso_class_means(data_dir):
    from harness import data
    from harness.spaces import nb201

    df = data.load_table("nb201", data_dir)
    smoke = splits.load_split("nb201-c10-smoke")
    gt = smoke.ground_truth(data_dir)
    np.testing.assert_array_equal(gt, df["cifar10_test_200ep"].to_numpy()[list(smoke.arch_ids)])
    assert gt.min() < 20 and gt.max() > 94  # spread over the whole range
    deiso = splits.load_split("nb201-c10-deiso")
    gtd = deiso.ground_truth(data_dir)
    rep = deiso.arch_ids[10]
    key = nb201.canonical(nb201.parse(df["arch_str"][rep]))
    members = [i for i, s in enumerate(df["arch_str"]) if nb201.canonical(nb201.parse(s)) == key]
    assert gtd[10] == pytest.approx(df["cifar10_test_200ep"].to_numpy()[members].mean())


def test_image_availability():
    assert splits.load_split("nb201-c10-1k").images_available
    assert not splits.load_split("nb201-c100").images_available
