"""Data layer: directory resolution, checksums, table schemas, CIFAR-10 batches."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from harness import data


def test_missing_data_dir_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    with pytest.raises(data.DataError, match="ESTBENCH_DATA"):
        data.resolve_data_dir(None)
    with pytest.raises(data.DataError, match="does not exist"):
        data.resolve_data_dir(tmp_path / "nope")
    with pytest.raises(data.DataError, match="SHA256SUMS"):
        data.resolve_data_dir(tmp_path)


def _copy_subset(src: Path, dst: Path, relpaths: list[str]) -> None:
    (dst).mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "SHA256SUMS", dst / "SHA256SUMS")
    for rel in relpaths:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / rel, dst / rel)


def test_missing_file_names_the_file(data_dir, tmp_path):
    _copy_subset(Path(data_dir), tmp_path, [])
    with pytest.raises(data.DataError, match="nb201_accuracies.csv"):
        data.load_table("nb201", tmp_path)


def test_checksum_mismatch_names_the_file(data_dir, tmp_path):
    rel = "nds/resnet_5k.csv"
    _copy_subset(Path(data_dir), tmp_path, [rel])
    target = tmp_path / rel
    target.chmod(0o644)
    with open(target, "a") as fh:
        fh.write("\n")
    with pytest.raises(data.DataError, match=r"SHA-256 mismatch for .*resnet_5k\.csv"):
        data.load_table("nds_resnet", tmp_path)


def test_malformed_table_is_a_data_error_not_a_pandas_traceback(data_dir, tmp_path):
    rel = "nds/resnet_5k.csv"
    _copy_subset(Path(data_dir), tmp_path, [rel])
    target = tmp_path / rel
    target.chmod(0o644)
    target.write_text("arch_id,depths\n0,[1]\n")
    # Re-sign the file so the checksum passes and the schema check is what fails.
    import hashlib

    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    sums = (tmp_path / "SHA256SUMS")
    sums.chmod(0o644)
    lines = [ln for ln in sums.read_text().splitlines() if not ln.endswith(rel)]
    sums.write_text("\n".join(lines + [f"{digest}  {rel}"]) + "\n")
    with pytest.raises(data.DataError, match="lacks column"):
        data.load_table("nds_resnet", tmp_path)


@pytest.mark.parametrize("name", sorted(data.TABLES))
def test_every_table_loads_with_its_schema(data_dir, name):
    spec = data.TABLES[name]
    df = data.load_table(name, data_dir)
    assert len(df) == spec.rows
    for col in spec.json_columns:
        assert isinstance(df[col].iloc[0], list)


def test_nb201_table_facts(data_dir):
    df = data.load_table("nb201", data_dir)
    assert df["cifar10_test_200ep"].max() == pytest.approx(94.3733, abs=1e-4)
    cost = data.load_table("nb201_cost_c10", data_dir)
    assert cost["params_m"].min() == pytest.approx(0.073306)
    assert cost["params_m"].max() == pytest.approx(1.531546)


def test_batches_are_deterministic_and_normalised(data_dir):
    x1, y1 = data.cifar10_batch(64, 0, 20, data_dir=data_dir)
    x2, y2 = data.cifar10_batch(64, 0, 20, data_dir=data_dir)
    assert x1.shape == (64, 3, 32, 32) and x1.dtype == torch.float32
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    x3, _ = data.cifar10_batch(64, 1, 20, data_dir=data_dir)
    x4, _ = data.cifar10_batch(64, 0, 2020, data_dir=data_dir)
    assert not torch.equal(x1, x3) and not torch.equal(x1, x4)
    # Normalised: roughly zero mean, unit std over a batch.
    assert abs(float(x1.mean())) < 0.5 and 0.5 < float(x1.std()) < 1.5
    assert int(y1.min()) >= 0 and int(y1.max()) <= 9


def test_batches_of_one_seed_do_not_overlap():
    a = data.batch_indices(50000, 64, 0, 7)
    b = data.batch_indices(50000, 64, 1, 7)
    assert len(set(a) & set(b)) == 0
    assert len(data.batch_indices(10, 4, 2, 0)) == 4  # wraps around instead of shrinking


def test_decoded_pixels_match_pillow_and_labels(data_dir):
    ds = data.cifar10_dataset("test", data_dir)
    img = ds.decode(np.array([0]))[0]
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    assert ds.classes[int(ds.labels[0])] in ds.classes
    assert len(ds) == 10000


def test_full_decode_cache_is_atomic_and_reused(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENV_VAR, str(tmp_path))
    ds = data.Cifar10("test", data_dir)
    arr = ds.all_images()
    files = list(tmp_path.glob("*.npy"))
    assert len(files) == 1 and not list(tmp_path.glob("*.partial"))
    ds2 = data.Cifar10("test", data_dir)
    assert np.array_equal(ds2.all_images(), arr)
    assert np.array_equal(ds2.decode(np.array([5, 9])), arr[[5, 9]])
