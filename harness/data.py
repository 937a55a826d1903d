"""Access to the benchmark data directory: checksums, ground-truth tables and CIFAR-10 images.

The repository never contains the data. The user names a data directory with ``--data-dir`` or
the ``ESTBENCH_DATA`` environment variable; every file is checked against the directory's
``SHA256SUMS`` before it is parsed, so a truncated download or a stale copy produces one clear
:class:`DataError` naming the file, instead of a pandas traceback or silently wrong numbers.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

ENV_VAR = "ESTBENCH_DATA"
CACHE_ENV_VAR = "ESTBENCH_CACHE"

# NAS-Bench-201 (and most NAS code) normalises CIFAR-10 with these per-channel statistics.
CIFAR10_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
CIFAR10_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)


class DataError(RuntimeError):
    """Missing, corrupt or malformed benchmark data. The message says which file and what to do."""


_HOW_TO_FIX = (
    "Point estbench at the benchmark data directory with --data-dir=PATH or "
    f"{ENV_VAR}=PATH (a checkout's CI uses ../shared/data); see README.md, section 'Data'."
)


def resolve_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Return the data directory named by ``explicit`` or ``$ESTBENCH_DATA``.

    Raises:
        DataError: if neither is set, or the directory or its ``SHA256SUMS`` is missing.
    """
    raw = explicit if explicit not in (None, "") else os.environ.get(ENV_VAR)
    if not raw:
        raise DataError(f"No benchmark data directory was given. {_HOW_TO_FIX}")
    path = Path(raw).expanduser().resolve()
    if not path.is_dir():
        raise DataError(f"Benchmark data directory {path} does not exist. {_HOW_TO_FIX}")
    if not (path / "SHA256SUMS").is_file():
        raise DataError(
            f"{path} has no SHA256SUMS file, so it is not an estbench data directory. {_HOW_TO_FIX}"
        )
    return path


@lru_cache(maxsize=8)
def _read_sums(sums_path: Path, mtime_ns: int) -> dict[str, str]:
    sums: dict[str, str] = {}
    for line in sums_path.read_text().splitlines():
        if not line.strip():
            continue
        digest, name = line.split(maxsplit=1)
        sums[name.strip().lstrip("*")] = digest.lower()
    return sums


@lru_cache(maxsize=64)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verified_path(relpath: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Return ``data_dir/relpath`` after checking it exists and matches ``SHA256SUMS``.

    The digest is computed once per process per (file, size, mtime).
    """
    root = resolve_data_dir(data_dir)
    sums_path = root / "SHA256SUMS"
    sums = _read_sums(sums_path, sums_path.stat().st_mtime_ns)
    path = root / relpath
    if relpath not in sums:
        raise DataError(f"{relpath} is not listed in {sums_path}; the data directory is not the "
                        f"expected version. {_HOW_TO_FIX}")
    if not path.is_file():
        raise DataError(f"Missing data file {path}. {_HOW_TO_FIX}")
    st = path.stat()
    digest = _sha256(path, st.st_size, st.st_mtime_ns)
    if digest != sums[relpath]:
        raise DataError(
            f"SHA-256 mismatch for {path}: expected {sums[relpath]}, found {digest}. The file is "
            f"corrupt or from another version; replace it with the original. {_HOW_TO_FIX}"
        )
    return path


# --------------------------------------------------------------------------------------------
# Ground-truth tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableSpec:
    """What a table must look like before anything downstream may trust it."""

    relpath: str
    rows: int
    columns: tuple[str, ...]
    id_column: str
    json_columns: tuple[str, ...] = ()
    numeric_columns: tuple[str, ...] = ()
    # True: the id column is exactly 0..rows-1; False: ids are unique keys into another table.
    contiguous_ids: bool = True


NB201_ACC_COLUMNS = (
    "cifar10_test_200ep",
    "cifar100_test_200ep",
    "imagenet16_120_test_200ep",
    "cifar10_valid_12ep",
    "cifar10_test_12ep",
    "cifar100_valid_12ep",
    "cifar100_test_12ep",
    "imagenet16_120_valid_12ep",
    "imagenet16_120_test_12ep",
)

TABLES: dict[str, TableSpec] = {
    "nb201": TableSpec(
        "nasbench201/nb201_accuracies.csv", 15625,
        ("index", "arch_str", *NB201_ACC_COLUMNS), "index",
        numeric_columns=NB201_ACC_COLUMNS,
    ),
    "nb201_cost_c10": TableSpec(
        "nasbench201/nb201_official_cost_c10.csv", 9445,
        ("index", "arch_str", "params_m", "flops_m"), "index",
        numeric_columns=("params_m", "flops_m"), contiguous_ids=False,
    ),
    "nb101": TableSpec(
        "nasbench101/nb101_ss3_5k.csv", 5000,
        ("arch_id", "adjacency", "operations", "trainable_parameters", "train_accuracy",
         "validation_accuracy", "test_accuracy", "training_time_s"), "arch_id",
        json_columns=("adjacency", "operations"),
        numeric_columns=("trainable_parameters", "train_accuracy", "validation_accuracy",
                         "test_accuracy", "training_time_s"),
    ),
    "nb301": TableSpec(
        "nasbench301/nb301_surrogate_5896.csv", 5896,
        ("arch_id", "normal", "reduce", "surrogate_val_accuracy"), "arch_id",
        json_columns=("normal", "reduce"), numeric_columns=("surrogate_val_accuracy",),
    ),
    "nds_resnet": TableSpec(
        "nds/resnet_5k.csv", 5000,
        ("arch_id", "depths", "widths", "ref_params", "ref_flops", "test_accuracy"), "arch_id",
        json_columns=("depths", "widths"),
        numeric_columns=("ref_params", "ref_flops", "test_accuracy"),
    ),
    "nds_resnexta": TableSpec(
        "nds/resnexta_5k.csv", 5000,
        ("arch_id", "depths", "widths", "bot_muls", "num_groups", "ref_params", "ref_flops",
         "test_accuracy"), "arch_id",
        json_columns=("depths", "widths", "bot_muls", "num_groups"),
        numeric_columns=("ref_params", "ref_flops", "test_accuracy"),
    ),
}


def _parse_table(spec: TableSpec, path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except Exception as exc:  # pandas raises many types; the user needs the file name
        raise DataError(f"Could not parse {path} as CSV: {exc}") from exc
    missing = [c for c in spec.columns if c not in df.columns]
    if missing:
        raise DataError(f"{path} lacks column(s) {missing}; expected {list(spec.columns)}.")
    if len(df) != spec.rows:
        raise DataError(f"{path} has {len(df)} rows; expected {spec.rows}.")
    ids = df[spec.id_column].to_numpy()
    if spec.contiguous_ids and not np.array_equal(ids, np.arange(spec.rows)):
        raise DataError(f"{path}: column {spec.id_column!r} is not 0..{spec.rows - 1} in order.")
    if not spec.contiguous_ids and len(np.unique(ids)) != len(ids):
        raise DataError(f"{path}: column {spec.id_column!r} has duplicate ids.")
    for col in spec.numeric_columns:
        if not pd.api.types.is_numeric_dtype(df[col]) or not np.isfinite(df[col]).all():
            raise DataError(f"{path}: column {col!r} must be finite numbers.")
    for col in spec.json_columns:
        try:
            df[col] = [json.loads(v) for v in df[col]]
        except (TypeError, ValueError) as exc:
            raise DataError(f"{path}: column {col!r} holds invalid JSON ({exc}).") from exc
    return df


def check_table(name: str, path: str | os.PathLike) -> pd.DataFrame:
    """Parse ``path`` as table ``name`` and run its checks (columns, rows, ids, finite numbers),
    without the checksum step: for tools that verify or convert data directories.

    Raises:
        KeyError: unknown table name.
        DataError: the file does not satisfy the table's spec.
    """
    return _parse_table(TABLES[name], Path(path))


@lru_cache(maxsize=16)
def _load_table_cached(name: str, root: Path) -> pd.DataFrame:
    spec = TABLES[name]
    return _parse_table(spec, verified_path(spec.relpath, root))


def load_table(name: str, data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Load a checked ground-truth table by name (see :data:`TABLES`).

    The returned frame is shared between callers in a process; copy it before mutating.
    """
    if name not in TABLES:
        raise KeyError(f"Unknown table {name!r}; known: {sorted(TABLES)}")
    return _load_table_cached(name, resolve_data_dir(data_dir))


# --------------------------------------------------------------------------------------------
# CIFAR-10 images
# --------------------------------------------------------------------------------------------

CIFAR10_FILES = {"train": "cifar10/cifar10_train_jpeg.npz", "test": "cifar10/cifar10_test_jpeg.npz"}


def default_cache_dir() -> Path:
    """The harness cache: ``$ESTBENCH_CACHE``, else ``$XDG_CACHE_HOME/estbench`` or
    ``~/.cache/estbench`` (decoded images, complexity tables, one-shot checkpoints)."""
    raw = os.environ.get(CACHE_ENV_VAR)
    base = Path(raw) if raw else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return (base / "estbench") if not raw else base


def atomic_write_bytes(path: Path, writer: Callable[[io.BufferedWriter], None]) -> None:
    """Write a file atomically: to a temporary file in the same directory, then ``os.replace``.

    A reader never sees a half-written file, and a crash leaves the old content in place.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results and caches are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Cifar10:
    """CIFAR-10 images of one split, decoded from the JPEG archive.

    Individual batches decode only the images they need (a few milliseconds); :meth:`all_images`
    decodes the whole split once and caches the uint8 array on disk (atomically), keyed by the
    archive's SHA-256, for uses that need every image (supernet training).
    """

    def __init__(self, split: str = "train", data_dir: str | os.PathLike | None = None):
        if split not in CIFAR10_FILES:
            raise ValueError(
                f"CIFAR-10 split must be one of {sorted(CIFAR10_FILES)}, not {split!r}"
            )
        self.split = split
        self.path = verified_path(CIFAR10_FILES[split], data_dir)
        with np.load(self.path, allow_pickle=False) as z:
            self._jpeg = z["jpeg"]
            self._offsets = z["offsets"]
            self.labels = z["labels"].astype(np.int64)
            self.classes = [str(c) for c in z["classes"]]
        if len(self._offsets) != len(self.labels) + 1:
            raise DataError(f"{self.path}: offsets/labels lengths disagree.")
        self._all: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def decode(self, indices: np.ndarray) -> np.ndarray:
        """Decode the given images to a uint8 array of shape (n, 32, 32, 3)."""
        if self._all is not None:
            return self._all[indices]
        out = np.empty((len(indices), 32, 32, 3), dtype=np.uint8)
        for k, i in enumerate(indices):
            raw = self._jpeg[self._offsets[i] : self._offsets[i + 1]].tobytes()
            with Image.open(io.BytesIO(raw)) as im:
                out[k] = np.asarray(im.convert("RGB"))
        return out

    def all_images(self) -> np.ndarray:
        """Every image of the split as uint8 (n, 32, 32, 3), decoded once and cached on disk."""
        if self._all is not None:
            return self._all
        digest = verified_digest(self.path)
        cache = default_cache_dir() / f"cifar10_{self.split}_{digest[:16]}.npy"
        if cache.is_file():
            try:
                arr = np.load(cache, allow_pickle=False)
                if arr.shape == (len(self), 32, 32, 3):
                    self._all = arr
                    return arr
            except (OSError, ValueError):
                pass  # a damaged cache is rebuilt below
        arr = self.decode(np.arange(len(self)))
        try:
            atomic_write_bytes(cache, lambda fh: np.save(fh, arr, allow_pickle=False))
        except OSError:
            pass  # an unwritable cache directory only costs time
        self._all = arr
        return arr


def verified_digest(path: Path) -> str:
    st = path.stat()
    return _sha256(path, st.st_size, st.st_mtime_ns)


def normalize(images: np.ndarray):
    """uint8 NHWC images → float32 NCHW tensor normalised with the CIFAR-10 mean/std."""
    # lazy: harness.data is read by the site, which must build without torch
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


@lru_cache(maxsize=2)
def _cifar(split: str, root: Path) -> Cifar10:
    return Cifar10(split, root)


def batch_indices(n_images: int, batch_size: int, batch_index: int, seed: int) -> np.ndarray:
    """The image indices of batch ``batch_index``: a seeded permutation, cut into batches.

    Batches of one seed never overlap (until the permutation is exhausted) and depend only on
    ``(n_images, batch_size, batch_index, seed)``.
    """
    if batch_size < 1 or batch_index < 0:
        raise ValueError("batch_size must be >= 1 and batch_index >= 0")
    perm = np.random.Generator(np.random.PCG64(seed)).permutation(n_images)
    start = (batch_index * batch_size) % n_images
    idx = perm[start : start + batch_size]
    if len(idx) < batch_size:  # wrap around rather than return a short batch
        idx = np.concatenate([idx, perm[: batch_size - len(idx)]])
    return idx


def cifar10_batch(
    batch_size: int,
    batch_index: int,
    seed: int,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
):
    """A deterministic normalised CIFAR-10 batch ``(x, y)`` as CPU tensors.

    Args:
        batch_size: images per batch.
        batch_index: which batch of the seeded permutation (0, 1, ...).
        seed: permutation seed; the harness passes the run's seed.
        split: ``"train"`` (the default for zero-shot estimators) or ``"test"``.
        data_dir: the data directory (default ``$ESTBENCH_DATA``).
    """
    # lazy: harness.data is read by the site, which must build without torch
    import torch

    ds = _cifar(split, resolve_data_dir(data_dir))
    idx = batch_indices(len(ds), batch_size, batch_index, seed)
    return normalize(ds.decode(idx)), torch.from_numpy(ds.labels[idx].copy())


def cifar10_dataset(split: str = "train", data_dir: str | os.PathLike | None = None) -> Cifar10:
    """The (process-cached) :class:`Cifar10` object of a split."""
    return _cifar(split, resolve_data_dir(data_dir))
