"""NAS-Bench-201 cells: encoding, enumeration and isomorphism classes (no torch).

Kept apart from :mod:`harness.spaces.nb201` (the benchmark's network) so that what only needs
cells, such as the ground truth of the de-isomorphic split and the site built from it, does not
import torch.

A cell is a DAG on 4 nodes; each of the 6 edges ``i -> j`` (``i < j``) carries one of five
operations. The official string lists, for each node ``j = 1..3``, the incoming edges
``op~i`` in increasing ``i``::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|

Internally a cell is a tuple of 6 op names in edge order ``(1,0), (2,0), (2,1), (3,0), (3,1),
(3,2)``.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator, Sequence

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_CELLS = 15625
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120}

Cell = tuple[str, ...]


def parse(arch_str: str) -> Cell:
    """Parse an official NAS-Bench-201 arch string into a 6-tuple of op names.

    Raises:
        ValueError: on any deviation from the official form.
    """
    nodes = arch_str.split("+")
    if len(nodes) != 3:
        raise ValueError(f"NB201 arch string needs 3 node groups joined by '+': {arch_str!r}")
    ops: list[str] = []
    for j, group in enumerate(nodes, start=1):
        if not (group.startswith("|") and group.endswith("|")):
            raise ValueError(f"Node group {group!r} must be wrapped in '|' in {arch_str!r}")
        items = group[1:-1].split("|")
        if len(items) != j:
            raise ValueError(f"Node {j} must have {j} inputs in {arch_str!r}")
        for i, item in enumerate(items):
            op, _, src = item.partition("~")
            if op not in OPS or src != str(i):
                raise ValueError(f"Bad edge {item!r} (expected 'op~{i}') in {arch_str!r}")
            ops.append(op)
    return tuple(ops)


def format_cell(cell: Sequence[str]) -> str:
    """Format a 6-tuple of op names as the official arch string (inverse of :func:`parse`)."""
    if len(cell) != 6 or any(op not in OPS for op in cell):
        raise ValueError(f"A NB201 cell is 6 ops from {OPS}, got {cell!r}")
    groups, k = [], 0
    for j in (1, 2, 3):
        groups.append("|" + "|".join(f"{cell[k + i]}~{i}" for i in range(j)) + "|")
        k += j
    return "+".join(groups)


def enumerate_cells() -> Iterator[Cell]:
    """All 15,625 cells in lexicographic order of :data:`OPS` over :data:`EDGES`.

    The benchmark's own index order is a fixed permutation of this set that only the benchmark
    file defines; :func:`harness.spaces.nb201.official_cells` reads it from the table.
    """
    return itertools.product(OPS, repeat=6)


def canonical(cell: Sequence[str]) -> str:
    """Canonical string of a cell's isomorphism class (NAS-Bench-201's convention).

    The rule (the benchmark's ``to_unique_str(consider_zero=True)``; it yields 6,466 classes and
    is the one the paper's de-isomorphic set uses). Each node gets a string, node 0 is ``"0"``.
    For node ``j``, each incoming edge ``i -> j`` contributes one term:

    * ``"#"`` (zero) if the op is ``none`` or node ``i``'s string is exactly ``"#"``;
    * node ``i``'s string itself if the op is ``skip_connect`` (identity);
    * ``"(" + s_i + ")@" + op`` otherwise.

    Node ``j``'s string is its terms sorted and joined by ``"+"`` (sums commute); the class is
    node 3's string. Note that the convention is deliberately shallow: zero terms stay in the
    sum and only an *exactly* zero node propagates zero, so a few functionally equal cells (for
    example ones whose output is zero through two paths) stay in separate classes. A stricter
    functional rule (drop zero terms, flatten identity sums) merges them into 4,930 classes;
    we keep the benchmark's rule because published de-isomorphic results use it.
    """
    nodes = ["0"]
    k = 0
    for j in (1, 2, 3):
        terms = []
        for i in range(j):
            op = cell[k + i]
            if op == "none" or nodes[i] == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(nodes[i])
            else:
                terms.append(f"({nodes[i]})@{op}")
        k += j
        nodes.append("+".join(sorted(terms)))
    return nodes[3]


def op_counts(cell: Sequence[str]) -> dict[str, int]:
    """Number of edges carrying each operation (all five keys present)."""
    c = Counter(cell)
    return {op: c.get(op, 0) for op in OPS}
