"""NAS-Bench-201 / NATS-Bench topology (``NATS-tss-v1_0-3ffb9-simple``) → the two NB201 tables.

The fast-mode archive of the official ``nats_bench`` package is a directory holding
``meta.pickle.pbz2`` (a dict whose ``meta_archs`` lists the 15,625 architecture strings in index
order) and one ``{index:06d}.pickle.pbz2`` per architecture. Each per-architecture file is a dict
``{hp: ArchResults state}``, ``hp`` being ``"12"`` or ``"200"`` (training epochs); an ArchResults
state has ``dataset_seed`` (dataset → list of seeds) and ``all_results`` ((dataset, seed) →
ResultsCount state with ``epochs``, ``eval_acc1es`` keyed ``"<set>@<epoch>"``, ``params``,
``flop``). All are bz2-compressed pickles of plain containers, so they are read here with a
restricted unpickler, one file at a time (memory stays bounded; the package itself is not needed).

Values are what the official API returns with ``is_random=False`` (mean over the seeds present)
at the last epoch, rounded to 4 decimals; costs follow ``ArchResults.get_compute_costs`` on
CIFAR-10, including its fix for seeds that disagree (the seed-888 run is used), rounded to 6.
"""

from __future__ import annotations

import bz2
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.data import NB201_ACC_COLUMNS, TABLES, DataError
from harness.datatools.convert.common import read_reference, safe_pickle_load, write_table

# (column, hp, dataset, eval set) — the NATS-Bench names behind each column of nb201_accuracies.
COLUMN_SOURCES: tuple[tuple[str, str, str, str], ...] = (
    ("cifar10_test_200ep", "200", "cifar10", "ori-test"),
    ("cifar100_test_200ep", "200", "cifar100", "x-test"),
    ("imagenet16_120_test_200ep", "200", "ImageNet16-120", "x-test"),
    ("cifar10_valid_12ep", "12", "cifar10-valid", "x-valid"),
    ("cifar10_test_12ep", "12", "cifar10", "ori-test"),
    ("cifar100_valid_12ep", "12", "cifar100", "x-valid"),
    ("cifar100_test_12ep", "12", "cifar100", "x-test"),
    ("imagenet16_120_valid_12ep", "12", "ImageNet16-120", "x-valid"),
    ("imagenet16_120_test_12ep", "12", "ImageNet16-120", "x-test"),
)
assert tuple(c for c, *_ in COLUMN_SOURCES) == NB201_ACC_COLUMNS
COST_HP = "12"  # the official get_cost_info's default


def _load(path: Path) -> Any:
    try:
        with bz2.open(path, "rb") as fh:
            return safe_pickle_load(fh, what=str(path))
    except OSError as exc:  # bz2 raises OSError on a damaged stream
        raise DataError(f"{path} is not a valid .pickle.pbz2 file: {exc}") from exc


def _arch_file(archive: Path, index: int) -> Path:
    for name in (f"{index:06d}.pickle.pbz2", f"{index}.pickle.pbz2"):
        if (archive / name).is_file():
            return archive / name
    raise DataError(f"{archive} lacks {index:06d}.pickle.pbz2; the archive is incomplete.")


def meta_archs(archive: Path) -> list[str]:
    """The architecture strings of the archive, in index order."""
    meta_path = archive / "meta.pickle.pbz2"
    if not meta_path.is_file():
        raise DataError(f"{archive} has no meta.pickle.pbz2: not a NATS-Bench fast-mode archive "
                        "(use the NATS-tss-v1_0-3ffb9-simple directory).")
    meta = _load(meta_path)
    if not isinstance(meta, dict) or "meta_archs" not in meta:
        raise DataError(f"{meta_path} has no 'meta_archs' list.")
    return list(meta["meta_archs"])


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)  # the order of the official mean(), so the float is the same


def final_accuracy(arch: dict, hp: str, dataset: str, setname: str) -> float:
    """Mean over seeds of the accuracy on ``setname`` after the last epoch (official API's
    ``get_metrics(dataset, setname, is_random=False)['accuracy']``)."""
    try:
        res = arch[hp]
        seeds = res["dataset_seed"][dataset]
        accs = []
        for seed in seeds:
            rc = res["all_results"][(dataset, seed)]
            accs.append(float(rc["eval_acc1es"][f"{setname}@{rc['epochs'] - 1}"]))
    except (KeyError, TypeError) as exc:
        raise DataError(f"no {dataset}/{setname} result for hp={hp}: missing key {exc}") from exc
    return _mean(accs)


def cifar10_cost(arch: dict) -> tuple[float, float]:
    """(params in M, FLOPs in M) on CIFAR-10, as ``ArchResults.get_compute_costs``."""
    res = arch[COST_HP]
    seeds = res["dataset_seed"]["cifar10"]
    rcs = [res["all_results"][("cifar10", s)] for s in seeds]

    def pick(values: list[float]) -> float:
        # Some runs carry costs from a legacy weight migration; the official API then trusts
        # the seed-888 run.
        if len(values) > 1 and len({f"{v:.5f}" for v in values}) > 1:
            return float(values[list(seeds).index(888)])
        return _mean(values)

    return pick([float(rc["params"]) for rc in rcs]), pick([float(rc["flop"]) for rc in rcs])


def _rows(archive: Path, archs: list[str]) -> Iterator[list[Any]]:
    for index, arch_str in enumerate(archs):
        path = _arch_file(archive, index)
        arch = _load(path)
        try:
            accs = [round(final_accuracy(arch, hp, ds, st), 4) for _, hp, ds, st in COLUMN_SOURCES]
        except DataError as exc:
            raise DataError(f"{path}: {exc}") from exc
        yield [index, arch_str, *accs]


def _cost_rows(archive: Path, archs: list[str], indices: list[int]) -> Iterator[list[Any]]:
    for index in indices:
        path = _arch_file(archive, index)
        try:
            params, flops = cifar10_cost(_load(path))
        except (KeyError, ValueError, TypeError) as exc:
            raise DataError(f"{path}: no usable CIFAR-10 cost ({exc!r})") from exc
        yield [index, archs[index], round(params, 6), round(flops, 6)]


def convert(archive: str | os.PathLike, out_dir: str | os.PathLike,
            cost_rows_like: str | os.PathLike | None = None) -> list[Path]:
    """Write ``nb201_accuracies.csv`` and ``nb201_official_cost_c10.csv`` under ``out_dir``.

    Args:
        archive: the ``NATS-tss-v1_0-3ffb9-simple`` directory.
        out_dir: the data directory to write into (``SHA256SUMS`` is updated).
        cost_rows_like: a cost table whose ``index`` column selects the cells to write (the
            release keeps the 9,445 cells of NAS-Bench-Suite-Zero); default: every cell.
    """
    src = Path(archive)
    if not src.is_dir():
        raise DataError(f"NATS-Bench archive directory {src} does not exist.")
    archs = meta_archs(src)
    acc_spec, cost_spec = TABLES["nb201"], TABLES["nb201_cost_c10"]
    written = [write_table(out_dir, acc_spec.relpath, acc_spec.columns, _rows(src, archs))]
    indices = list(range(len(archs)))
    if cost_rows_like is not None:
        ref = read_reference(cost_rows_like, ("index", "arch_str"))
        indices = [int(r["index"]) for r in ref]
        for r in ref:
            i = int(r["index"])
            if not 0 <= i < len(archs) or archs[i] != r["arch_str"]:
                raise DataError(f"{cost_rows_like}: index {i} ({r['arch_str']}) is not that "
                                f"cell of the archive.")
    written.append(write_table(out_dir, cost_spec.relpath, cost_spec.columns,
                               _cost_rows(src, archs, indices)))
    return written
