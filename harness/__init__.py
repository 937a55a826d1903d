"""estbench's harness: score efficient performance estimators on NAS benchmarks.

``harness.evaluate(name, split=..., seeds=...)`` is the Python API (see
:mod:`harness.notebook`); ``pytest harness/ --estimator=NAME`` is the command line.
"""

from __future__ import annotations

from typing import Any

__all__ = ["evaluate"]


def __getattr__(name: str) -> Any:
    if name == "evaluate":
        # lazy: `import harness` stays cheap (no torch) for the command-line tools
        from harness.notebook import evaluate

        return evaluate
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
