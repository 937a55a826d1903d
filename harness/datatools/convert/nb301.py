"""NAS-Bench-301 → ``nasbench301/nb301_surrogate_5896.csv``.

The release's table is *not* in any NAS-Bench-301 file. It takes two inputs:

1. the 5,896 DARTS-space genotypes of the benchmark study (published by its authors as a YAML
   list of genotype strings, ``arch.yaml``);
2. the NAS-Bench-301 surrogate's prediction for each, without noise: ``nasbench301`` package,
   performance model ``xgb_v1.0`` of ``nb_models_1.0``,
   ``predict(config=genotype, representation="genotype", with_noise=False)``.

This module converts genotype strings — the study's ``normal_0=[('op', from, to), ...],
reduce_1=[...]`` form (optionally wrapped in ``CNNGenotype(...)``) or DARTS's
``Genotype(normal=[('op', from), ...], normal_concat=..., reduce=[...], reduce_concat=...)`` —
to the table's ``[op, from, to]`` lists, and joins them with predictions read from a file (one
number per line, or a JSON list) or computed by the ``nasbench301`` package when it and the
model files are installed.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections import namedtuple
from collections.abc import Sequence
from pathlib import Path

from harness.data import TABLES, DataError
from harness.datatools.convert.common import jdump, write_table

DARTS_OPS = {"none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
             "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"}
Edge = list  # [op, from_node, to_node]


def _list_after(text: str, names: Sequence[str]) -> list | None:
    """The Python list literal that follows ``name=`` for the first name present."""
    for name in names:
        m = re.search(rf"(?<![A-Za-z_]){re.escape(name)}\s*=\s*\[", text)
        if not m:
            continue
        start, depth = m.end() - 1, 0
        for i in range(start, len(text)):
            depth += {"[": 1, "]": -1}.get(text[i], 0)
            if depth == 0:
                return ast.literal_eval(text[start:i + 1])
        raise DataError(f"unbalanced brackets after {name}= in genotype {text[:60]!r}...")
    return None


def _cell(raw: list, where: str) -> list[Edge]:
    edges: list[Edge] = []
    for k, e in enumerate(raw):
        if len(e) == 3:
            op, src, dst = e
        elif len(e) == 2:  # DARTS Genotype: two inputs per node, nodes 2, 3, 4, 5 in turn
            (op, src), dst = e, 2 + k // 2
        else:
            raise DataError(f"{where}: edge {e!r} is neither (op, from) nor (op, from, to)")
        if op not in DARTS_OPS or not (0 <= int(src) < int(dst) <= 5):
            raise DataError(f"{where}: edge {e!r} is not a DARTS-space edge")
        edges.append([str(op), int(src), int(dst)])
    if len(edges) != 8:
        raise DataError(f"{where}: a DARTS cell has 8 edges, this one {len(edges)}")
    return edges


def parse_genotype(text: str, where: str = "genotype") -> tuple[list[Edge], list[Edge]]:
    """``(normal, reduce)`` edge lists of one genotype string (either form, see module doc)."""
    try:
        normal = _list_after(text, ("normal_0", "normal"))
        reduce = _list_after(text, ("reduce_1", "reduce"))
    except (ValueError, SyntaxError) as exc:
        raise DataError(f"{where}: unreadable genotype ({exc})") from exc
    if normal is None or reduce is None:
        raise DataError(f"{where}: no normal/reduce cell in {text[:80]!r}")
    return _cell(normal, where), _cell(reduce, where)


def read_genotypes(path: str | os.PathLike) -> list[str]:
    """Genotype strings from a YAML list (``.yaml``/``.yml``), a JSON list or one per line."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"Genotype file {p} does not exist.")
    text = p.read_text(encoding="utf-8")
    if p.suffix in (".yaml", ".yml"):
        try:
            # lazy: optional (PyYAML), needed only for this conversion
            import yaml
        except ImportError as exc:
            raise DataError("Reading a YAML genotype list needs PyYAML (pip install pyyaml).") \
                from exc
        items = yaml.safe_load(text)
    elif p.suffix == ".json":
        items = json.loads(text)
    else:
        items = [line for line in text.splitlines() if line.strip()]
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise DataError(f"{p} is not a list of genotype strings.")
    return items


def read_predictions(path: str | os.PathLike) -> list[float]:
    """Surrogate accuracies (percent) from a JSON list or one number per line."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"Prediction file {p} does not exist.")
    text = p.read_text(encoding="utf-8").strip()
    try:
        values = json.loads(text) if text.startswith("[") else [float(x) for x in text.split()]
        return [float(v) for v in values]
    except (ValueError, TypeError) as exc:
        raise DataError(f"{p} is not a list of numbers ({exc}).") from exc


def surrogate_predictions(cells: list[tuple[list[Edge], list[Edge]]],
                          model_dir: str | os.PathLike) -> list[float]:
    """Noise-free NAS-Bench-301 predictions (needs the ``nasbench301`` package and models).

    Not exercised by the tests: neither the package nor its model files can be installed here.
    """
    try:
        import nasbench301  # lazy: optional, only for computing predictions
    except ImportError as exc:
        raise DataError("Computing predictions needs the nasbench301 package "
                        "(https://github.com/automl/nasbench301) and its nb_models_1.0 files; "
                        "or pass --predictions FILE.") from exc
    genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
    model = nasbench301.load_ensemble(str(model_dir))
    out = []
    for normal, reduce in cells:
        g = genotype(normal=[(op, s) for op, s, _ in normal], normal_concat=[2, 3, 4, 5],
                     reduce=[(op, s) for op, s, _ in reduce], reduce_concat=[2, 3, 4, 5])
        out.append(float(model.predict(config=g, representation="genotype", with_noise=False)))
    return out


def convert(genotypes: str | os.PathLike, out_dir: str | os.PathLike,
            predictions: str | os.PathLike | None = None,
            surrogate_dir: str | os.PathLike | None = None) -> Path:
    """Write the NB301 table: one row per genotype, in file order.

    Args:
        genotypes: the genotype list (see :func:`read_genotypes`).
        out_dir: the data directory to write into.
        predictions: surrogate accuracies aligned with the genotypes; or
        surrogate_dir: the ``xgb_v1.0`` model directory, to compute them.
    """
    texts = read_genotypes(genotypes)
    cells = [parse_genotype(t, f"{genotypes} item {i}") for i, t in enumerate(texts)]
    if (predictions is None) == (surrogate_dir is None):
        raise DataError("Give exactly one of --predictions FILE and --surrogate-dir DIR.")
    preds = (read_predictions(predictions) if predictions is not None
             else surrogate_predictions(cells, surrogate_dir))
    if len(preds) != len(cells):
        raise DataError(f"{len(cells)} genotypes but {len(preds)} predictions.")
    rows = ([i, jdump(n), jdump(r), round(p, 4)] for i, ((n, r), p) in enumerate(zip(cells, preds)))
    spec = TABLES["nb301"]
    return write_table(out_dir, spec.relpath, spec.columns, rows)
