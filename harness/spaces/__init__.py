"""Search spaces: how an architecture id of a benchmark becomes a spec and a PyTorch network.

Each benchmark registers a :class:`SearchSpace` here. The harness and the splits only talk to
this interface, so adding a benchmark is one module plus one entry in :data:`SPACES`.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness import data
from harness.registration import DuplicateNameError, Registry, UnknownNameError
from harness.spaces import nb201_cells

if TYPE_CHECKING:  # annotations only: the registry and splits import no torch
    from torch import nn

Spec = Any  # a hashable, JSON-serialisable description of one architecture


@dataclass(frozen=True)
class SearchSpace:
    """Everything the harness needs to know about one benchmark's architectures.

    Attributes:
        name: short id used in split files (``"nb201"``).
        title: human-readable name.
        table: ground-truth table name in :data:`harness.data.TABLES`.
        spec_of_row: turns a table row (a ``pandas`` row as dict) into a spec.
        builder: ``builder(spec, num_classes, seed) -> nn.Module`` (seeded initialisation).
        op_counts: ``op_counts(spec) -> {op: count}`` for the operation-bias analysis.
        canonical: ``canonical(spec) -> str``, equal for isomorphic architectures.
        datasets: dataset → number of classes.
        input_size: image side length per dataset.
        meta_builder: ``meta_builder(spec, num_classes)`` → a shape-only network on the
            ``meta`` device (no memory, no initialisation) for counting parameters and MACs.
        complexity: ``complexity(spec, num_classes)`` → ``(params, flops)`` as the benchmark
            itself reports them, when an exact analytic rule is known.
    """

    name: str
    title: str
    table: str
    spec_of_row: Callable[[dict], Spec]
    builder: Callable[[Spec, int, int | None], nn.Module]
    op_counts: Callable[[Spec], dict[str, int]]
    canonical: Callable[[Spec], str]
    datasets: dict[str, int] = field(default_factory=lambda: {"cifar10": 10})
    input_size: dict[str, int] = field(default_factory=lambda: {"cifar10": 32})
    meta_builder: Callable[[Spec, int], nn.Module] | None = None
    complexity: Callable[[Spec, int], tuple[int, int]] | None = None

    def specs(self, data_dir: str | os.PathLike | None = None) -> list[Spec]:
        """Specs of every architecture of the benchmark, indexed by arch id."""
        df = data.load_table(self.table, data_dir)
        return [self.spec_of_row(row) for row in df.to_dict("records")]

    def build(self, spec: Spec, dataset: str = "cifar10", seed: int | None = None) -> nn.Module:
        return self.builder(spec, self.datasets[dataset], seed)


def _nb201_network(spec: Spec, num_classes: int, seed: int | None) -> nn.Module:
    # lazy: the network needs torch; the registry, splits and canonical forms do not
    from harness.spaces import nb201

    return nb201.build_network(spec, num_classes, seed)


def _nb201() -> SearchSpace:
    return SearchSpace(
        name="nb201",
        title="NAS-Bench-201",
        table="nb201",
        spec_of_row=lambda row: row["arch_str"],
        builder=_nb201_network,
        op_counts=lambda spec: nb201_cells.op_counts(nb201_cells.parse(spec)),
        canonical=lambda spec: nb201_cells.canonical(nb201_cells.parse(spec)),
        # No meta_builder: these networks are small, and a real CPU forward counts faster than
        # the meta device's Python-level shape propagation.
        datasets={"cifar10": 10, "cifar100": 100, "imagenet16-120": 120},
        input_size={"cifar10": 32, "cifar100": 32, "imagenet16-120": 16},
    )


class UnknownSpaceError(UnknownNameError):
    """A search-space name nothing is registered under (the message lists close matches)."""


class DuplicateSpaceError(DuplicateNameError):
    """Two modules register the same search-space name."""


#: Every benchmark's space factory, on the same :class:`~harness.registration.Registry` as the
#: estimators (one rule for names: collisions name both places, unknown names get
#: suggestions). A factory runs once, on first use (:data:`_BUILT`).
SPACES: Registry[Callable[[], SearchSpace]] = Registry(
    "search space", unknown_error=UnknownSpaceError, duplicate_error=DuplicateSpaceError)
_BUILT: dict[str, SearchSpace] = {}


def register_space(name: str, factory: Callable[[], SearchSpace]) -> None:
    """Register a benchmark's space factory (each benchmark module calls this at import).

    Raises:
        DuplicateSpaceError: another factory already registered ``name``.
    """
    SPACES.register(name, factory, origin=f"{factory.__module__}:{factory.__qualname__}")


register_space("nb201", _nb201)


def get_space(name: str) -> SearchSpace:
    """The search space registered as ``name``.

    Raises:
        UnknownSpaceError: no space of that name (a ``KeyError``; close names suggested).
    """
    if name not in SPACES.names():  # the other benchmarks' modules import torch
        _load_optional_spaces()
    factory = SPACES.get(name)
    if name not in _BUILT:
        _BUILT[name] = factory()
    return _BUILT[name]


def space_names() -> Sequence[str]:
    _load_optional_spaces()
    return SPACES.names()


def _load_optional_spaces() -> None:
    """Import the other benchmarks' modules so that they can register themselves."""

    for mod in pkgutil.iter_modules(__path__):
        if mod.name not in ("nb201", "nb201_cells") and not mod.name.startswith("_"):
            importlib.import_module(f"harness.spaces.{mod.name}")
