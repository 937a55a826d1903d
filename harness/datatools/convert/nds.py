"""NDS (``ResNet*.json``, ``ResNeXt-A.json``) → ``nds/resnet_5k.csv``, ``nds/resnexta_5k.csv``.

An NDS file is a JSON list of trained models (some files wrap it as ``{"top": [...], "mid":
[...]}``). Each model has ``net`` (the pycls AnyNet config: per-stage lists ``ds`` depths,
``ws`` widths, ``bot_muls``, ``num_gs`` groups, whose element 0 is not a searched stage and is
skipped, as in the benchmark authors' own dump), ``params``, ``flops`` and ``min_test_top1``
(lowest test top-1 error in percent over training).

* ResNet: the release's 5,000 cells are those trained with three seeds, ``ResNet_rng1.json``,
  ``ResNet_rng2.json`` and ``ResNet_rng3.json``; ``test_accuracy`` is the mean over the files of
  ``100 - min_test_top1`` (rounded to 4 decimals), rows in the order of the first file. Passing
  the single-seed ``ResNet.json`` alone gives its 25,000 cells instead.
* ResNeXt-A: ``ResNeXt-A.json`` holds 25,000 single-seed cells; the release keeps 5,000 picked
  at random by the benchmark study's authors, a choice only ``rows_like`` (the release's table)
  can reproduce.

NDS is licensed CC BY-NC 4.0: non-commercial use only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.data import TABLES, DataError
from harness.datatools.convert.common import jdump, read_reference, write_table

RESNET_KEYS = (("depths", "ds"), ("widths", "ws"))
RESNEXTA_KEYS = (("depths", "ds"), ("widths", "ws"), ("bot_muls", "bot_muls"),
                 ("num_groups", "num_gs"))


def load_models(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The list of model records of one NDS JSON file."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"NDS file {p} does not exist.")
    try:
        with open(p, encoding="utf-8") as fh:
            data = json.load(fh)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{p} is not valid JSON ({exc}); the download may be incomplete.") from exc
    if isinstance(data, dict) and "top" in data and "mid" in data:
        data = data["top"] + data["mid"]
    if not isinstance(data, list):
        raise DataError(f"{p} is not an NDS sweep (a JSON list of models).")
    return data


def _key(model: dict[str, Any], keys: Sequence[tuple[str, str]], where: str) -> tuple:
    try:
        net = model["net"]
        return tuple(tuple(net[src][1:4]) for _, src in keys)
    except (KeyError, TypeError) as exc:
        raise DataError(f"{where}: model without net.{exc} — not an NDS ResNet/ResNeXt file") \
            from exc


def _ref_key(row: dict[str, str], keys: Sequence[tuple[str, str]]) -> tuple:
    return tuple(tuple(json.loads(row[col])) for col, _ in keys)


def _convert(files: Sequence[str | os.PathLike], keys: Sequence[tuple[str, str]], table: str,
             ndigits: int, out_dir: str | os.PathLike,
             rows_like: str | os.PathLike | None) -> Path:
    if not files:
        raise DataError("Give at least one NDS JSON file.")
    first: dict[tuple, dict[str, Any]] = {}  # key -> first file's model, in file order
    accs: dict[tuple, list[float]] = {}
    for n, f in enumerate(files):
        for i, model in enumerate(load_models(f)):
            k = _key(model, keys, f"{f} model {i}")
            if n == 0:
                first.setdefault(k, model)
            try:
                accs.setdefault(k, []).append(100.0 - float(model["min_test_top1"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"{f} model {i}: no numeric min_test_top1") from exc
    order = list(first)
    if rows_like is not None:
        ref = read_reference(rows_like, [c for c, _ in keys])
        order = [_ref_key(r, keys) for r in ref]
        missing = [i for i, k in enumerate(order) if k not in first]
        if missing:
            raise DataError(f"{files[0]} lacks {len(missing)} model(s) of {rows_like} "
                            f"(e.g. row {missing[0]}).")
    rows = []
    for i, k in enumerate(order):
        if len(accs[k]) != len(files):
            raise DataError(f"model {dict(zip([c for c, _ in keys], k))} appears "
                            f"{len(accs[k])} times in {len(files)} file(s); expected once each.")
        m = first[k]
        mean = sum(accs[k]) / len(accs[k])
        rows.append([i, *(jdump(list(v)) for v in k), int(m["params"]), int(m["flops"]),
                     round(mean, ndigits)])
    spec = TABLES[table]
    return write_table(out_dir, spec.relpath, spec.columns, rows)


def convert_resnet(files: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                   rows_like: str | os.PathLike | None = None) -> Path:
    """Write ``nds/resnet_5k.csv`` from ``ResNet_rng1/2/3.json`` (or ``ResNet.json``)."""
    return _convert(files, RESNET_KEYS, "nds_resnet", 4, out_dir, rows_like)


def convert_resnexta(file: str | os.PathLike, out_dir: str | os.PathLike,
                     rows_like: str | os.PathLike | None = None) -> Path:
    """Write ``nds/resnexta_5k.csv`` from ``ResNeXt-A.json`` (all 25,000 without rows_like)."""
    return _convert([file], RESNEXTA_KEYS, "nds_resnexta", 4, out_dir, rows_like)
