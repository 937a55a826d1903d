"""Fixed, versioned benchmark splits.

A split is a committed JSON file in this directory: which architectures of which benchmark are
scored, and which ground-truth column they are ranked against. Its ``content_sha256`` covers
everything else in the file, so a results file can name exactly the split it was computed on,
and an edited split file is detected at load time.

Regenerate (only when deliberately releasing a new split version) with
``python -m harness.splits.generate``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from harness import data
from harness.spaces import get_space

SPLIT_DIR = Path(__file__).parent
SCHEMA_VERSION = 1


class UnknownSplitError(KeyError):
    """A split name that no committed split file defines."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


def content_hash(payload: dict) -> str:
    """SHA-256 of the split's canonical JSON without its ``content_sha256`` field."""
    body = {k: v for k, v in payload.items() if k != "content_sha256"}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class Split:
    """One benchmark split.

    Attributes:
        name: e.g. ``"nb201-c10-1k"``.
        version: bumped whenever the selection or ground truth changes.
        benchmark: search-space name (``"nb201"``).
        dataset: image dataset the estimators see (``"cifar10"``).
        truth_table / truth_column: where the ground truth lives.
        truth_aggregate: ``"none"`` or ``"isomorphism_class_mean"`` (de-isomorphic splits).
        arch_ids: architecture ids (rows of the benchmark table), in split order.
        description: one paragraph for people.
        sha256: the file's content hash.
    """

    name: str
    version: int
    benchmark: str
    dataset: str
    truth_table: str
    truth_column: str
    truth_aggregate: str
    arch_ids: tuple[int, ...]
    description: str
    sha256: str

    @property
    def images_available(self) -> bool:
        """Whether the image data of this split's dataset ships with estbench (CIFAR-10 only)."""
        return self.dataset == "cifar10"

    def __len__(self) -> int:
        return len(self.arch_ids)

    def specs(self, data_dir: str | os.PathLike | None = None) -> list:
        """Architecture specs of the split, in split order."""
        all_specs = get_space(self.benchmark).specs(data_dir)
        return [all_specs[i] for i in self.arch_ids]

    def ground_truth(self, data_dir: str | os.PathLike | None = None) -> np.ndarray:
        """True accuracies in split order. Only the harness calls this, after scoring."""
        df = data.load_table(self.truth_table, data_dir)
        col = df[self.truth_column].to_numpy(dtype=np.float64)
        if self.truth_aggregate == "none":
            return col[list(self.arch_ids)]
        if self.truth_aggregate == "isomorphism_class_mean":
            space = get_space(self.benchmark)
            specs = space.specs(data_dir)
            sums: dict[str, list[float]] = {}
            for spec, value in zip(specs, col):
                sums.setdefault(space.canonical(spec), []).append(value)
            return np.array([np.mean(sums[space.canonical(specs[i])]) for i in self.arch_ids])
        raise ValueError(f"Split {self.name}: unknown truth_aggregate {self.truth_aggregate!r}")


def split_names() -> list[str]:
    """Names of all committed splits."""
    return sorted(p.stem for p in SPLIT_DIR.glob("*.json"))


@lru_cache(maxsize=64)
def load_split(name: str) -> Split:
    """Load and verify a committed split.

    Raises:
        UnknownSplitError: with close matches, if no such split exists.
        ValueError: if the file's content hash does not match (it was edited by hand).
    """
    path = SPLIT_DIR / f"{name}.json"
    if not path.is_file():
        close = difflib.get_close_matches(name, split_names(), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownSplitError(
            f"Unknown split {name!r}.{hint} Known splits: {', '.join(split_names())}"
        )
    payload = json.loads(path.read_text())
    if payload.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"{path}: unsupported split schema_version {payload.get('schema_version')}"
        )
    digest = content_hash(payload)
    if digest != payload.get("content_sha256"):
        raise ValueError(
            f"{path}: content hash mismatch (file says {payload.get('content_sha256')}, content "
            f"is {digest}). Split files are generated; regenerate instead of editing."
        )
    gt = payload["ground_truth"]
    return Split(
        name=payload["name"],
        version=int(payload["version"]),
        benchmark=payload["benchmark"],
        dataset=payload["dataset"],
        truth_table=gt["table"],
        truth_column=gt["column"],
        truth_aggregate=gt.get("aggregate", "none"),
        arch_ids=tuple(int(i) for i in payload["arch_ids"]),
        description=payload["description"],
        sha256=digest,
    )


def write_split(payload: dict) -> Path:
    """Write a split file (with its hash) atomically; used by the generator only."""
    payload = dict(payload, schema_version=SCHEMA_VERSION)
    payload["content_sha256"] = content_hash(payload)
    path = SPLIT_DIR / f"{payload['name']}.json"
    text = json.dumps(payload, indent=1, sort_keys=True) + "\n"
    data.atomic_write_bytes(path, lambda fh: fh.write(text.encode()))
    load_split.cache_clear()
    return path
