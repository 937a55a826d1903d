"""Shared pieces of the converters: exact CSV formatting, safe unpickling, reference rows.

The data directory's CSV files are written by Python's :mod:`csv` module with ``\\n`` line ends,
integers as plain digits and floats as ``repr(round(x, ndigits))`` (``17.0``, ``85.8633``); JSON
cells use :func:`json.dumps` defaults (``[12, 12, 16]``) except NAS-Bench-101 adjacency
matrices, which are compact (``[[0,1],[0,0]]``). Writing the same way makes a converted table
byte-identical to the published one when the values agree.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import pickle
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from harness.data import DataError, atomic_write_bytes

SUMS_NAME = "SHA256SUMS"

# Globals that the official pickles (NATS-Bench archives, CIFAR-10 batches) legitimately need.
# Anything else is refused: unpickling runs code, and these files come from the internet.
_SAFE_GLOBALS = {
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
    ("builtins", "complex"),
    ("_codecs", "encode"),
    ("copy_reg", "_reconstructor"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
    ("__builtin__", "object"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray"  # numpy 2 moved it; old pickles use the old name
        elif module in ("copy_reg", "__builtin__"):
            module = {"copy_reg": "copyreg", "__builtin__": "builtins"}[module]
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return super().find_class(module.replace("._core", ".core"), name)


def safe_pickle_load(fh: BinaryIO, *, encoding: str = "ASCII", what: str = "file") -> Any:
    """Unpickle ``fh`` allowing only plain containers and numpy arrays.

    Raises:
        DataError: the stream is not such a pickle (corrupt, or it references other code).
    """
    try:
        return _SafeUnpickler(fh, encoding=encoding).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, OSError) as exc:
        raise DataError(f"{what} is not a readable pickle of plain data: {exc}") from exc


def fmt(value: Any) -> str:
    """Format one CSV cell the way the data directory's tables are written."""
    if isinstance(value, bool):
        raise TypeError("booleans have no place in the tables")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def jdump(obj: Any) -> str:
    """JSON with :func:`json.dumps` defaults (``[1, 2]``), as the list columns are written."""
    return json.dumps(obj)


def jdump_compact(obj: Any) -> str:
    """Compact JSON (``[[0,1],[0,0]]``), as NAS-Bench-101 adjacency matrices are written."""
    return json.dumps(obj, separators=(",", ":"))


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def update_sums(out_dir: Path, relpath: str) -> str:
    """Record ``relpath``'s SHA-256 in ``out_dir/SHA256SUMS`` (kept sorted); return the digest.

    A converted directory thus stays usable by the harness, which checks every file it reads.
    """
    digest = sha256_file(out_dir / relpath)
    sums_path = out_dir / SUMS_NAME
    entries: dict[str, str] = {}
    if sums_path.is_file():
        for line in sums_path.read_text().splitlines():
            if line.strip():
                d, name = line.split(maxsplit=1)
                entries[name.strip().lstrip("*")] = d
    entries[relpath] = digest
    text = "".join(f"{entries[k]}  {k}\n" for k in sorted(entries))
    atomic_write_bytes(sums_path, lambda fh: fh.write(text.encode()))
    return digest


def write_table(out_dir: str | os.PathLike, relpath: str, header: Sequence[str],
                rows: Iterable[Sequence[Any]]) -> Path:
    """Write a CSV table atomically at ``out_dir/relpath`` and update ``SHA256SUMS``.

    ``rows`` may be a generator: rows are written as they come, so memory stays bounded.
    """
    out = Path(out_dir)
    path = out / relpath

    def writer(fh: io.BufferedWriter) -> None:
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        w = csv.writer(text, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([fmt(v) for v in row])
        text.flush()
        text.detach()  # leave the binary handle open for atomic_write_bytes to fsync

    atomic_write_bytes(path, writer)
    update_sums(out, relpath)
    return path


def read_reference(path: str | os.PathLike, required: Sequence[str]) -> list[dict[str, str]]:
    """Rows of a reference table (e.g. the data release's) as dicts of raw strings.

    Raises:
        DataError: missing file or columns.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"Reference table {p} does not exist.")
    with open(p, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    missing = [c for c in required if rows and c not in rows[0]]
    if not rows or missing:
        raise DataError(f"Reference table {p} is empty or lacks column(s) {missing}.")
    return rows


def percent(fraction: float, ndigits: int = 4) -> float:
    """A fraction in [0, 1] as a percentage rounded to the published precision."""
    return round(100.0 * float(fraction), ndigits)
