"""Architecture samplers for supernet training, and the isomorphism classes they rely on.

* ``uniform``: each step trains a cell drawn uniformly from all 15,625 cells.
* ``deiso`` (de-isomorphic sampling, Ning et al. 2021): each step trains a cell drawn
  uniformly from one fixed *representative* per isomorphism class (6,466 classes under the
  benchmark's rule, :func:`harness.spaces.nb201.canonical`), so every function is trained
  equally often instead of in proportion to its number of encodings.

The representative of a class is its member with the lowest NAS-Bench-201 index when the
benchmark table is available (the same representatives as the ``nb201-c10-deiso`` split, so a
de-isomorphic supernet is scored on exactly the cells it was trained on); without the table,
the first member in :func:`harness.spaces.nb201.enumerate_cells` order. Only architecture
strings are read from the table, never accuracies.

Sampling is stateless: the cell of global step ``t`` of a run with seed ``s`` is drawn from a
generator seeded with ``(s, t)``, so a resumed run draws exactly the cells of an uninterrupted
one without checkpointing any RNG state.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from harness import data
from harness.spaces import get_space, nb201

Cell = tuple[str, ...]
_SAMPLER_STREAM = 1  # distinguishes the sampling stream from the data / dropout streams


@lru_cache(maxsize=4)
def cell_order(data_dir: str | None = None) -> tuple[Cell, ...]:
    """All cells in NAS-Bench-201 index order (enumeration order if the table is missing)."""

    try:
        specs = get_space("nb201").specs(data_dir)
    except data.DataError:
        return tuple(nb201.enumerate_cells())
    return tuple(nb201.parse(s) for s in specs)


def _resolve(data_dir: str | os.PathLike | None) -> str | None:
    try:
        return str(data.resolve_data_dir(data_dir))
    except data.DataError:
        return None


@lru_cache(maxsize=4)
def _classes(data_dir: str | None) -> tuple[dict[str, tuple[Cell, ...]], tuple[Cell, ...]]:
    members: dict[str, list[Cell]] = {}
    for cell in cell_order(data_dir):
        members.setdefault(nb201.canonical(cell), []).append(cell)
    reps = tuple(m[0] for m in members.values())
    return {k: tuple(sorted(v)) for k, v in members.items()}, reps


def class_members(data_dir: str | os.PathLike | None = None) -> dict[str, tuple[Cell, ...]]:
    """Canonical string -> the cells of that isomorphism class (sorted)."""
    return _classes(_resolve(data_dir))[0]


def deiso_representatives(data_dir: str | os.PathLike | None = None) -> tuple[Cell, ...]:
    """One representative per isomorphism class (6,466), in order of first appearance."""
    return _classes(_resolve(data_dir))[1]


def representative(cell: Sequence[str], data_dir: str | os.PathLike | None = None) -> Cell:
    """The representative of ``cell``'s isomorphism class."""
    return _representative_map(_resolve(data_dir))[nb201.canonical(cell)]


@lru_cache(maxsize=4)
def _representative_map(data_dir: str | None) -> dict[str, Cell]:
    return {nb201.canonical(r): r for r in _classes(data_dir)[1]}


@lru_cache(maxsize=1)
def _all_cells() -> tuple[Cell, ...]:
    return tuple(nb201.enumerate_cells())


@lru_cache(maxsize=4)
def _table_specs(space: str, data_dir: str | None) -> tuple[str, ...]:
    """Every architecture of ``space``'s benchmark table, as specs, in table order."""
    sp = get_space(space)
    return tuple(sp.spec_of_row(row) for row in data.load_table(sp.table, data_dir)
                 .to_dict("records"))


@dataclass(frozen=True)
class Sampler:
    """Uniform sampling from a fixed population of cells.

    Attributes:
        name: ``"uniform"`` or ``"deiso"``.
        population: the cells it draws from, each with probability ``1 / len(population)``.
    """

    name: str
    population: tuple[Cell, ...]

    def sample_indices(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` indices into :attr:`population` (vectorised, for tests and statistics)."""
        return rng.integers(0, len(self.population), size=n)

    def cell_at(self, seed: int, step: int) -> Cell:
        """The cell trained at global step ``step`` of a run with seed ``seed``."""
        rng = np.random.default_rng([seed, step, _SAMPLER_STREAM])
        return self.population[int(rng.integers(0, len(self.population)))]


def make_sampler(name: str, data_dir: str | os.PathLike | None = None,
                 space: str = "nb201") -> Sampler:
    """The sampler called ``name`` (``"uniform"`` or ``"deiso"``) over ``space``.

    On an NDS space the population is the benchmark table's architectures, in table order
    (every one a distinct network, so only ``uniform`` exists there).
    """
    if space != "nb201":
        if name != "uniform":
            raise ValueError(f"{space} has no isomorphic duplicates: sample it 'uniform'")
        return Sampler(name, _table_specs(space, _resolve(data_dir)))
    if name == "uniform":
        # Enumeration order, so that the cells drawn never depend on the data directory.
        return Sampler(name, _all_cells())
    if name == "deiso":
        return Sampler(name, deiso_representatives(data_dir))
    raise ValueError(f"Unknown sampler {name!r}; expected 'uniform' or 'deiso'")
