"""``verify DIR``: every file against ``SHA256SUMS``, then the table and image checks.

One line per file (``ok`` / ``FAIL`` / ``extra``), exit status 0 when all listed files pass.
Beyond what :func:`harness.data.check_table` enforces (columns, row count, ids, finite
numbers), each table's values are checked against the facts of the data directory's README:
accuracies are percentages, NAS-Bench-201 cells are well-formed, official costs lie in the
published ranges, NAS-Bench-101 cells are 7-vertex DAGs, DARTS cells have 8 edges.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
from PIL import Image

from harness.data import CIFAR10_FILES, TABLES, DataError, check_table
from harness.datatools.convert.common import sha256_file
from harness.datatools.convert.nb101 import AVAILABLE_OPS
from harness.datatools.convert.nb301 import DARTS_OPS
from harness.datatools.manifest import load_release

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
_NB201_RE = re.compile(r"^\|{e}\|\+\|{e}\|{e}\|\+\|{e}\|{e}\|{e}\|$".format(
    e=r"(?:" + "|".join(NB201_OPS) + r")~\d"))


def _in_range(df: pd.DataFrame, cols: tuple[str, ...], lo: float, hi: float) -> None:
    for c in cols:
        bad = df[(df[c] < lo) | (df[c] > hi)]
        if len(bad):
            raise DataError(f"column {c!r} has {len(bad)} value(s) outside [{lo}, {hi}] "
                            f"(row {bad.index[0]}: {bad[c].iloc[0]})")


def _nb201(df: pd.DataFrame) -> None:
    _in_range(df, TABLES["nb201"].numeric_columns, 0.0, 100.0)
    bad = [s for s in df["arch_str"] if not _NB201_RE.match(s)]
    if bad:
        raise DataError(f"{len(bad)} malformed arch_str value(s), e.g. {bad[0]!r}")
    if df["arch_str"].duplicated().any():
        raise DataError("duplicate arch_str values")


def _nb201_cost(df: pd.DataFrame) -> None:
    # The README's official CIFAR-10 extremes (cells of pooling/skip only .. all conv3x3).
    _in_range(df, ("params_m",), 0.073306, 1.531546)
    _in_range(df, ("flops_m",), 7.943872, 222.860992)
    if not ((df["index"] >= 0) & (df["index"] < 15625)).all():
        raise DataError("index outside 0..15624")


def _nb101(df: pd.DataFrame) -> None:
    _in_range(df, ("train_accuracy", "validation_accuracy", "test_accuracy"), 0.0, 100.0)
    _in_range(df, ("trainable_parameters",), 4.4e5, 5.0e7)
    _in_range(df, ("training_time_s",), 0.0, 1e5)
    for i, (adj, ops) in enumerate(zip(df["adjacency"], df["operations"])):
        m = np.asarray(adj)
        if m.shape != (7, 7) or np.triu(m, 1).sum() != m.sum() or m.sum() > 9 or \
                not set(np.unique(m)) <= {0, 1}:
            raise DataError(f"row {i}: adjacency is not a 7x7 0/1 upper-triangular matrix "
                            "with at most 9 edges")
        if len(ops) != 7 or ops[0] != "input" or ops[-1] != "output" or \
                not set(ops[1:-1]) <= set(AVAILABLE_OPS):
            raise DataError(f"row {i}: operations {ops} are not NAS-Bench-101 operations")


def _nb301(df: pd.DataFrame) -> None:
    _in_range(df, ("surrogate_val_accuracy",), 0.0, 100.0)
    for i, cells in enumerate(zip(df["normal"], df["reduce"])):
        for cell in cells:
            ok = len(cell) == 8 and all(
                len(e) == 3 and e[0] in DARTS_OPS and 0 <= e[1] < e[2] <= 5 for e in cell)
            if not ok:
                raise DataError(f"row {i}: a cell is not 8 DARTS edges [op, from, to]")


def _nds(cols: tuple[str, ...]) -> Callable[[pd.DataFrame], None]:
    def check(df: pd.DataFrame) -> None:
        _in_range(df, ("test_accuracy",), 0.0, 100.0)
        _in_range(df, ("ref_params", "ref_flops"), 1.0, 1e12)
        for c in cols:
            if not all(len(v) == 3 and all(x > 0 for x in v) for v in df[c]):
                raise DataError(f"column {c!r} must hold 3 positive per-stage values")
    return check


VALUE_CHECKS: dict[str, Callable[[pd.DataFrame], None]] = {
    "nb201": _nb201,
    "nb201_cost_c10": _nb201_cost,
    "nb101": _nb101,
    "nb301": _nb301,
    "nds_resnet": _nds(("depths", "widths")),
    "nds_resnexta": _nds(("depths", "widths", "bot_muls", "num_groups")),
}
CIFAR10_SIZES = {"train": 50000, "test": 10000}


def check_cifar10(path: Path, split: str) -> str:
    """Check an images npz: arrays, sizes, offsets, labels, and that images decode."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("jpeg", "offsets", "labels", "names", "classes")}
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"not an images npz ({exc})") from exc
    n, off, blob = CIFAR10_SIZES[split], arrays["offsets"], arrays["jpeg"]
    if len(arrays["labels"]) != n or len(arrays["names"]) != n or len(off) != n + 1:
        raise DataError(f"expected {n} images with {n + 1} offsets")
    if off[0] != 0 or off[-1] != len(blob) or np.any(np.diff(off) <= 0):
        raise DataError("offsets are not increasing from 0 to the byte count")
    if len(arrays["classes"]) != 10 or arrays["labels"].max() >= 10:
        raise DataError("expected 10 classes and labels below 10")
    for i in (0, n // 2, n - 1):  # decoding a few proves the bytes are images
        try:
            with Image.open(io.BytesIO(blob[off[i]:off[i + 1]].tobytes())) as im:
                if im.size != (32, 32):
                    raise DataError(f"image {i} is {im.size}, not 32x32")
                im.convert("RGB").load()
        except OSError as exc:
            raise DataError(f"image {i} does not decode ({exc})") from exc
    return f"{n} images"


def check_file(root: Path, rel: str) -> str:
    """The content checks of one listed file; returns a short description."""
    for name, spec in TABLES.items():
        if spec.relpath == rel:
            df = check_table(name, root / rel)
            VALUE_CHECKS[name](df)
            return f"{len(df)} rows"
    for split, crel in CIFAR10_FILES.items():
        if crel == rel:
            return check_cifar10(root / rel, split)
    return "checksum only"


def verify(data_dir: str | os.PathLike, *, out: TextIO | None = None,
           against_release: bool = False) -> int:
    """Verify a data directory; print one line per file.

    Args:
        data_dir: the directory.
        out: where to print (default stdout).
        against_release: also require each file to be the pinned release's version.

    Returns:
        0 when every file listed in ``SHA256SUMS`` passes, 1 otherwise.
    """
    out = out if out is not None else sys.stdout
    root = Path(data_dir).expanduser()
    sums_path = root / "SHA256SUMS"
    if not root.is_dir():
        print(f"FAIL  {root}: no such directory", file=out)
        return 1
    if not sums_path.is_file():
        print(f"FAIL  {sums_path}: missing; not an estbench data directory", file=out)
        return 1
    sums: dict[str, str] = {}
    for line in sums_path.read_text(errors="replace").splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) == 2 and re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
            sums[parts[1].strip().lstrip("*")] = parts[0].lower()
        elif line.strip():
            print(f"FAIL  SHA256SUMS: unreadable line {line[:60]!r}", file=out)
            return 1
    release = {f.path: f.sha256 for f in load_release().files} if against_release else {}
    failed = 0
    for rel, digest in sums.items():
        path = root / rel
        try:
            if not path.is_file():
                raise DataError("missing")
            found = sha256_file(path)
            if found != digest:
                raise DataError(f"SHA-256 {found[:12]}… does not match SHA256SUMS "
                                f"({digest[:12]}…): corrupt or another version")
            if against_release and release.get(rel) != digest:
                raise DataError("valid, but not the pinned release's version of this file")
            what = check_file(root, rel)
            print(f"ok    {rel}  ({what})", file=out)
        except DataError as exc:
            failed += 1
            print(f"FAIL  {rel}: {exc}", file=out)
    listed = set(sums) | {"SHA256SUMS"}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel not in listed and not rel.startswith("."):
            print(f"extra {rel}  (not in SHA256SUMS; not checked)", file=out)
    print(f"{len(sums) - failed} of {len(sums)} files ok" + (f", {failed} failed" if failed
                                                             else ""), file=out)
    return 0 if not failed and sums else 1
