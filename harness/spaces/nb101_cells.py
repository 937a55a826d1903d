"""NAS-Bench-101 cells: spec encoding, pruning, graph hashing and isomorphism classes (no torch).

Kept apart from :mod:`harness.spaces.nb101` (the benchmark's network) so that what only needs
cells, such as the data converter that checks the release's own module hashes against
:func:`graph_hash`, does not import torch; it is the one implementation of the benchmark's
pruning and hashing.

A cell is a DAG on at most 7 vertices given by an upper-triangular adjacency matrix and one
label per vertex: vertex 0 is ``input``, the last vertex is ``output`` and every interior
vertex carries one of :data:`OPS`. The table stores the matrix and labels as the benchmark
queried them, *before* pruning; as in the benchmark, vertices that are not on some
input → output path are removed before a network is built or a cell is hashed.

Spec format (a plain string, so it is hashable and survives a JSON round trip)::

    "0100000,0010000,0001110,0000101,0000010,0000001,0000000|conv3x3-bn-relu,...,maxpool3x3"

i.e. the matrix rows as bit strings joined by ``","``, then ``"|"``, then the interior
vertices' ops (vertices ``1 .. V-2``) joined by ``","``.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Sequence

# The order is the benchmark's ``config['available_ops']``: graph hashes label ops by index.
OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
INPUT, OUTPUT = "input", "output"
MAX_VERTICES = 7

Matrix = tuple[tuple[int, ...], ...]


def format_spec(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> str:
    """Encode a matrix and its full label list (``input``, ops..., ``output``) as a spec."""
    n = len(matrix)
    if len(ops) != n or ops[0] != INPUT or ops[-1] != OUTPUT:
        raise ValueError(f"ops must be [input, ..., output] of length {n}, got {list(ops)}")
    rows = ",".join("".join(str(int(bool(v))) for v in row) for row in matrix)
    return rows + "|" + ",".join(ops[1:-1])


def parse(spec: str) -> tuple[Matrix, tuple[str, ...]]:
    """Decode a spec into ``(matrix, ops)`` with ``ops`` including ``input`` and ``output``.

    Raises:
        ValueError: if the spec is malformed, not upper triangular or uses unknown ops.
    """
    try:
        rows_part, ops_part = spec.split("|")
    except ValueError:
        raise ValueError(f"NB101 spec needs exactly one '|': {spec!r}") from None
    rows = rows_part.split(",")
    n = len(rows)
    if not 2 <= n <= MAX_VERTICES or any(len(r) != n or set(r) - {"0", "1"} for r in rows):
        raise ValueError(f"NB101 spec needs a square 0/1 matrix of 2..7 rows: {spec!r}")
    matrix = tuple(tuple(int(c) for c in r) for r in rows)
    if any(matrix[i][j] for i in range(n) for j in range(i + 1)):
        raise ValueError(f"NB101 matrix must be strictly upper triangular: {spec!r}")
    inner = tuple(ops_part.split(",")) if ops_part else ()
    if len(inner) != n - 2 or any(op not in OPS for op in inner):
        raise ValueError(f"NB101 spec needs {n - 2} ops from {OPS}: {spec!r}")
    return matrix, (INPUT, *inner, OUTPUT)


def spec_of_row(row: dict) -> str:
    """The spec of a row of the ``nb101`` table (``adjacency`` and ``operations`` columns)."""
    return format_spec(row["adjacency"], row["operations"])


def prune(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> tuple[Matrix, tuple[str, ...]]:
    """Drop vertices that are not on an input → output path (the benchmark's ``_prune``).

    Such vertices never influence the output, and the benchmark builds and hashes the pruned
    graph, so two cells that differ only in dangling vertices are the same network.

    Raises:
        ValueError: if the input is not connected to the output.
    """
    keep = kept_vertices(matrix)
    pruned = tuple(tuple(int(bool(matrix[i][j])) for j in keep) for i in keep)
    return pruned, tuple(ops[i] for i in keep)


def kept_vertices(matrix: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """The vertices :func:`prune` keeps (those on an input → output path), ascending.

    Raises:
        ValueError: if the input is not connected to the output.
    """
    n = len(matrix)
    fwd, stack = {0}, [0]
    while stack:
        u = stack.pop()
        for v in range(u + 1, n):
            if matrix[u][v] and v not in fwd:
                fwd.add(v)
                stack.append(v)
    bwd, stack = {n - 1}, [n - 1]
    while stack:
        v = stack.pop()
        for u in range(v):
            if matrix[u][v] and u not in bwd:
                bwd.add(u)
                stack.append(u)
    keep = sorted(fwd & bwd)
    if len(keep) < 2 or keep[0] != 0 or keep[-1] != n - 1:
        raise ValueError("NB101 cell: the input is not connected to the output")
    return tuple(keep)


def hash_module(matrix: Sequence[Sequence[int]], labels: Sequence[int]) -> str:
    """Isomorphism-invariant hash of a labelled directed graph (NAS-Bench-101's scheme).

    Each vertex starts from the MD5 of ``(out-degree, in-degree, label)``; then, once per
    vertex, every vertex's hash becomes the MD5 of its sorted in-neighbour hashes, its sorted
    out-neighbour hashes and its own hash (Weisfeiler-Lehman refinement). The fingerprint is
    the MD5 of the sorted final hashes. We keep the benchmark's byte layout (``str`` of Python
    ints and lists, MD5 hex digests), so for a pruned cell this should reproduce the official
    ``module_hash`` and let anyone cross-reference the official dataset; estbench does not
    ship that dataset, so the tests check the benchmark's own invariance cases instead.
    """
    n = len(matrix)
    in_deg = [sum(int(matrix[u][v]) for u in range(n)) for v in range(n)]
    out_deg = [sum(int(x) for x in matrix[v]) for v in range(n)]
    hashes = [
        hashlib.md5(str((out_deg[v], in_deg[v], int(labels[v]))).encode()).hexdigest()
        for v in range(n)
    ]
    for _ in range(n):
        hashes = [
            hashlib.md5(
                (
                    "".join(sorted(hashes[u] for u in range(n) if matrix[u][v]))
                    + "|"
                    + "".join(sorted(hashes[w] for w in range(n) if matrix[v][w]))
                    + "|"
                    + hashes[v]
                ).encode()
            ).hexdigest()
            for v in range(n)
        ]
    return hashlib.md5(str(sorted(hashes)).encode()).hexdigest()


def graph_hash(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> str:
    """:func:`hash_module` of a cell with the benchmark's labels: input -1, output -2, and
    the op's index in :data:`OPS` (the benchmark's ``available_ops`` order)."""
    return hash_module(matrix, [-1] + [OPS.index(op) for op in ops[1:-1]] + [-2])


def canonical(spec: str) -> str:
    """Canonical string of the cell's isomorphism class: the hash of the pruned graph."""
    return graph_hash(*prune(*parse(spec)))


def op_counts(spec: str) -> dict[str, int]:
    """Number of (pruned) interior vertices carrying each op; all three keys present."""
    _, ops = prune(*parse(spec))
    c = Counter(ops[1:-1])
    return {op: c.get(op, 0) for op in OPS}


#: NAS-Bench-1shot1 search space 3: how many inputs each vertex of its 7-vertex cells takes
#: (vertices 1..5 and the output). Every cell of the benchmark table has exactly these
#: in-degrees (``tests/test_more_supernets.py``).
SS3_PARENTS: tuple[int, ...] = (1, 1, 1, 2, 2, 2)


def enumerate_ss3() -> tuple[str, ...]:
    """Every cell of NAS-Bench-1shot1 search space 3 that needs no pruning, as specs.

    A cell picks, for each vertex ``v`` = 1..6, :data:`SS3_PARENTS` inputs among the earlier
    vertices, and an op for each of vertices 1..5; cells with a vertex off every
    input → output path are left out (the benchmark prunes them into smaller cells; the
    table holds none). The order is fixed (parents, then ops, lexicographically): 445 graphs ×
    243 op choices = 108,135 specs, several encodings per isomorphism class.
    """
    choices = [list(itertools.combinations(range(v), k))
               for v, k in zip(range(1, MAX_VERTICES), SS3_PARENTS)]
    out = []
    for parents in itertools.product(*choices):
        matrix = [[0] * MAX_VERTICES for _ in range(MAX_VERTICES)]
        for v, srcs in enumerate(parents, start=1):
            for u in srcs:
                matrix[u][v] = 1
        try:
            if len(kept_vertices(matrix)) != MAX_VERTICES:
                continue
        except ValueError:
            continue
        rows = ",".join("".join(map(str, row)) for row in matrix)
        out.extend(f"{rows}|{','.join(ops)}" for ops in itertools.product(OPS, repeat=5))
    return tuple(out)
