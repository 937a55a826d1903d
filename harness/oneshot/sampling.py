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

On NAS-Bench-101 (NAS-Bench-1shot1 search space 3) ``uniform`` draws from every cell of the
space that needs no pruning (:func:`harness.spaces.nb101_cells.enumerate_ss3`, 108,135 encodings,
the population the benchmark table was drawn from) and ``deiso`` from one representative per
isomorphism class of those (the first in enumeration order; classes by the benchmark's graph
hash). On NAS-Bench-301, whose DARTS space is far too large to list, ``uniform``
(:class:`GenotypeSampler`) draws each intermediate node's two distinct inputs uniformly among
the pairs of earlier nodes and each edge's operation uniformly among the seven, in the normal
and the reduction cell independently, as DARTS's random search does. On the NDS spaces the
population is the benchmark table's architectures.

Sampling is stateless: the cell of global step ``t`` of a run with seed ``s`` is drawn from a
generator seeded with ``(s, t)``, so a resumed run draws exactly the cells of an uninterrupted
one without checkpointing any RNG state.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np

from harness import data
from harness.spaces import get_space, nb101_cells, nb201, nb301

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


class ArchSampler(Protocol):
    """What training needs of a sampler: the architecture of each global step."""

    name: str

    def cell_at(self, seed: int, step: int) -> Cell | str: ...


@dataclass(frozen=True)
class GenotypeSampler:
    """Uniform sampling from the DARTS space (NAS-Bench-301), drawn afresh at every step.

    Attributes:
        name: ``"uniform"``.
    """

    name: str = "uniform"

    def cell_at(self, seed: int, step: int) -> str:
        """The genotype (a spec) trained at global step ``step`` of a run with seed ``seed``."""
        rng = np.random.default_rng([seed, step, _SAMPLER_STREAM])
        return nb301.format_spec((_random_darts_cell(rng), _random_darts_cell(rng)))


def _random_darts_cell(rng: np.random.Generator) -> nb301.Cell:
    edges = []
    for k in range(nb301.STEPS):
        sources = sorted(int(s) for s in rng.choice(k + 2, size=2, replace=False))
        ops = rng.integers(0, len(nb301.OPS), size=2)
        edges += [(nb301.OPS[int(o)], src) for o, src in zip(ops, sources)]
    return tuple(edges)


@lru_cache(maxsize=1)
def _nb101_classes() -> tuple[tuple[str, ...], dict[str, str]]:
    """NAS-Bench-101's de-isomorphic representatives, and canonical hash -> representative."""
    reps: dict[str, str] = {}
    for spec in nb101_cells.enumerate_ss3():
        reps.setdefault(nb101_cells.canonical(spec), spec)
    return tuple(reps.values()), reps


def space_representative(space: str, spec: str) -> str:
    """The representative that de-isomorphic sampling trains for ``spec``'s class.

    Raises:
        ValueError: for a space without de-isomorphic sampling by spec (NAS-Bench-101 only;
            NAS-Bench-201 cells use :func:`representative`), or a cell outside the sampled
            space.
    """
    if space != "nb101":
        raise ValueError(f"{space} has no de-isomorphic sampler over specs")
    key = nb101_cells.canonical(spec)
    reps = _nb101_classes()[1]
    if key not in reps:
        raise ValueError(f"{spec!r} is not isomorphic to a cell of NAS-Bench-1shot1 search "
                         "space 3 (7 vertices, none pruned)")
    return reps[key]


def make_sampler(name: str, data_dir: str | os.PathLike | None = None,
                 space: str = "nb201") -> ArchSampler:
    """The sampler called ``name`` (``"uniform"`` or ``"deiso"``) over ``space`` (module
    docstring).

    Raises:
        ValueError: for an unknown name, or ``deiso`` where the space has no classes to list.
    """
    if space == "nb101":
        if name == "uniform":
            return Sampler(name, nb101_cells.enumerate_ss3())
        if name == "deiso":
            return Sampler(name, _nb101_classes()[0])
        raise ValueError(f"Unknown sampler {name!r}; expected 'uniform' or 'deiso'")
    if space == "nb301":
        if name != "uniform":
            raise ValueError("the DARTS space is too large to list its isomorphism classes: "
                             "sample nb301 'uniform'")
        return GenotypeSampler()
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
