"""Discovery of estimator submissions: every module in ``estimators/`` registers itself.

There is no hand-edited list: adding ``estimators/<name>.py`` is the whole submission.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from functools import lru_cache

from harness import api


class UnknownEstimatorError(KeyError):
    """An estimator name that no module registers."""

    def __str__(self) -> str:
        return self.args[0]


class DuplicateEstimatorError(RuntimeError):
    """Two modules register the same name (or one module registers twice)."""


@lru_cache(maxsize=1)
def discover(package: str = "estimators") -> dict[str, api.Estimator]:
    """Import every module of ``package`` and collect the estimators they register.

    Raises:
        DuplicateEstimatorError: if a name is registered twice.
        ValueError: if a module registers no estimator, or one whose name differs from its file.
    """
    pkg = importlib.import_module(package)
    found: dict[str, api.Estimator] = {}
    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if mod.name.startswith("_") or mod.ispkg:
            continue
        start = len(api._PENDING)
        full = f"{package}.{mod.name}"
        already = [e for e in api._PENDING if e.module == full]
        module = importlib.import_module(full)
        new = api._PENDING[start:] or already
        if not new:
            raise ValueError(f"{module.__file__} registers no estimator (use @estimator).")
        for est in new:
            if est.name in found:
                raise DuplicateEstimatorError(
                    f"Estimator {est.name!r} is registered twice ({found[est.name].module} and "
                    f"{est.module})."
                )
            found[est.name] = est
    return dict(sorted(found.items()))


def names() -> list[str]:
    """All registered estimator names, sorted."""
    return list(discover())


def get(name: str) -> api.Estimator:
    """The estimator registered as ``name``.

    Raises:
        UnknownEstimatorError: listing close matches.
    """
    found = discover()
    if name not in found:
        raise UnknownEstimatorError(unknown_message("estimator", name, list(found)))
    return found[name]


def unknown_message(what: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"Unknown {what} {name!r}.{hint} Known: {', '.join(known)}"


def resolve(spec: str) -> list[api.Estimator]:
    """``"a,b"`` or ``"all"`` → estimators, in the given order (``all``: sorted by name)."""
    if spec.strip() == "all":
        return list(discover().values())
    items = [s.strip() for s in spec.split(",") if s.strip()]
    if not items:
        raise UnknownEstimatorError("No estimator given; use --estimator=NAME[,NAME...] or all")
    return [get(n) for n in dict.fromkeys(items)]
