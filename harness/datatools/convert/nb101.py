"""NAS-Bench-101 ``nasbench_only108.tfrecord`` → ``nasbench101/nb101_ss3_5k.csv``.

Each TFRecord payload is a UTF-8 JSON list ``[module_hash, epochs, adjacency, operations,
metrics]``: ``adjacency`` is the row-major 0/1 string of the V×V matrix, ``operations`` a
comma-separated label list and ``metrics`` the base64 of a ``nasbench.ModelMetrics`` protobuf
(field 1: repeated ``EvaluationData`` — at start, halfway and end of training; 2:
``trainable_parameters``; 3: ``total_time``). ``EvaluationData`` fields: 1 ``current_epoch``,
2 ``training_time``, 3 ``train_accuracy``, 4 ``validation_accuracy``, 5 ``test_accuracy``
(fractions). A cell trained 3 times appears in 3 records (repeats 0, 1, 2, in file order).

The release's table holds 5,000 cells of NAS-Bench-1shot1 search space 3 and *one randomly
sampled repeat* per cell (``nasbench.api.NASBench.query``), which the official file cannot tell.
So ``rows_like`` (the release's table) selects and orders the cells, matched by the official
isomorphism-invariant graph hash, and ``run="like"`` takes, for each cell, the repeat whose values
equal the reference row — an error if none does, which makes the conversion a check that every
published value is an official one. Without a reference every cell is written, in file order,
with the chosen repeat (``0``, ``1``, ``2``) or the mean of the three (``"mean"``).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.data import TABLES, DataError
from harness.datatools.convert.common import (
    jdump,
    jdump_compact,
    percent,
    read_reference,
    write_table,
)
from harness.datatools.convert.tfrecord import parse_message, read_records
from harness.spaces import nb101_cells

# nasbench's config['available_ops']; the index of an op is its label in the graph hash.
AVAILABLE_OPS = nb101_cells.OPS
VALUE_COLUMNS = ("train_accuracy", "validation_accuracy", "test_accuracy", "training_time_s")


def graph_hash(matrix: Sequence[Sequence[int]] | np.ndarray, ops: Sequence[str]) -> str:
    """The official NAS-Bench-101 module hash of a cell: prune, then iterated MD5 vertex hashing
    (:func:`harness.spaces.nb101_cells.graph_hash`, the one implementation, which the
    conversion checks against the release's own stored hashes).

    Raises:
        DataError: the cell's input is not connected to its output.
    """
    rows = [[int(v) for v in row] for row in np.asarray(matrix, dtype=np.int64).tolist()]
    try:
        return nb101_cells.graph_hash(*nb101_cells.prune(rows, list(ops)))
    except ValueError as exc:
        raise DataError(str(exc)) from None


def parse_record(payload: bytes) -> tuple[str, int, list[list[int]], list[str], dict[str, Any]]:
    """One tfrecord payload → (hash, epochs, adjacency, operations, final metrics)."""
    try:
        module_hash, epochs, raw_adj, raw_ops, raw_metrics = json.loads(payload.decode("utf-8"))
        dim = int(round(len(raw_adj) ** 0.5))
        bits = [int(c) for c in raw_adj]
        adjacency = [bits[i * dim:(i + 1) * dim] for i in range(dim)]
        metrics = parse_message(base64.b64decode(raw_metrics))
        final = parse_message(metrics[1][2])  # evaluation_data[2]: the end of training
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise DataError(f"not a NAS-Bench-101 record: {exc!r}") from exc
    values = {
        "trainable_parameters": int(metrics.get(2, [0])[-1]),
        "training_time_s": float(final.get(2, [0.0])[-1]),
        "train_accuracy": float(final.get(3, [0.0])[-1]),
        "validation_accuracy": float(final.get(4, [0.0])[-1]),
        "test_accuracy": float(final.get(5, [0.0])[-1]),
    }
    return module_hash, int(epochs), adjacency, raw_ops.split(","), values


def _published(v: dict[str, float]) -> tuple[float, float, float, float]:
    return (percent(v["train_accuracy"]), percent(v["validation_accuracy"]),
            percent(v["test_accuracy"]), round(v["training_time_s"], 2))


def _row_values(runs: list[dict[str, float]], run: str, ref: dict[str, str] | None,
                where: str) -> tuple[float, ...]:
    if run == "like":
        want = tuple(float(ref[c]) for c in VALUE_COLUMNS)
        for r in runs:
            if _published(r) == want:
                return want
        raise DataError(f"{where}: no repeat of this cell has the reference values {want}; "
                        f"official repeats: {[_published(r) for r in runs]}")
    if run == "mean":
        mean = {k: sum(r[k] for r in runs) / len(runs) for k in runs[0]}
        return _published(mean)
    k = int(run)
    if k >= len(runs):
        raise DataError(f"{where}: only {len(runs)} repeat(s), no repeat {k}")
    return _published(runs[k])


def convert(tfrecord: str | os.PathLike, out_dir: str | os.PathLike,
            rows_like: str | os.PathLike | None = None, run: str = "0",
            epochs: int = 108, check_crc: bool | None = None) -> Path:
    """Write ``nasbench101/nb101_ss3_5k.csv`` (or every cell, without ``rows_like``).

    Args:
        tfrecord: ``nasbench_only108.tfrecord`` (``nasbench_full.tfrecord`` works too).
        out_dir: the data directory to write into.
        rows_like: a table with ``adjacency`` and ``operations`` columns choosing the cells.
        run: ``"0"``, ``"1"``, ``"2"``, ``"mean"`` or ``"like"`` (needs ``rows_like``).
        epochs: training budget to keep (108 in the release).
        check_crc: verify each record's CRC-32C; ``None``: only if a fast CRC package is
            installed (pure Python would take minutes for the 500 MB file).
    """
    src = Path(tfrecord)
    if not src.is_file():
        raise DataError(f"NAS-Bench-101 file {src} does not exist.")
    if run not in ("0", "1", "2", "mean", "like"):
        raise DataError(f"--run must be 0, 1, 2, mean or like, not {run!r}")
    if run == "like" and rows_like is None:
        raise DataError("--run like needs --rows-like (the table whose repeats to match).")
    refs: list[dict[str, str]] | None = None
    wanted: set[str] | None = None
    if rows_like is not None:
        refs = read_reference(rows_like, ("adjacency", "operations", *VALUE_COLUMNS))
        for r in refs:
            r["_hash"] = graph_hash(json.loads(r["adjacency"]), json.loads(r["operations"]))
        wanted = {r["_hash"] for r in refs}
    # hash -> [adjacency, operations, params, [per-repeat values]]; only wanted cells are kept.
    cells: dict[str, list[Any]] = {}
    checked = 0
    with open(src, "rb") as fh:
        for payload in read_records(fh, check_crc=check_crc, name=str(src)):
            try:
                h, ep, adj, ops, values = parse_record(payload)
            except DataError as exc:
                raise DataError(f"{src}: {exc}") from exc
            if ep != epochs or (wanted is not None and h not in wanted):
                continue
            if checked < 20:  # our hash must be the file's, or --rows-like would match nothing
                checked += 1
                if graph_hash(adj, ops) != h:
                    raise DataError(f"{src}: the stored hash {h} is not the graph hash of its "
                                    "cell; the file is not the official NAS-Bench-101 release.")
            entry = cells.setdefault(h, [adj, ops, values["trainable_parameters"], []])
            entry[3].append(values)
    if refs is None:
        rows = ([i, jdump_compact(adj), jdump(ops), params,
                 *_row_values(runs, run, None, f"{src} cell {h}")]
                for i, (h, (adj, ops, params, runs)) in enumerate(cells.items()))
    else:
        missing = [r.get("arch_id", "?") for r in refs if r["_hash"] not in cells]
        if missing:
            raise DataError(f"{src} lacks {len(missing)} cell(s) of {rows_like} (e.g. row "
                            f"{missing[0]}) at {epochs} epochs.")
        # The reference's own matrices are kept: they are what the release publishes, and the
        # hash match proves they are the official cell.
        rows = ([i, r["adjacency"], r["operations"], cells[r["_hash"]][2],
                 *_row_values(cells[r["_hash"]][3], run, r, f"row {i}")]
                for i, r in enumerate(refs))
    spec = TABLES["nb101"]
    return write_table(out_dir, spec.relpath, spec.columns, rows)
