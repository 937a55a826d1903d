"""Discovery of estimator submissions: every module in ``estimators/`` registers itself.

There is no hand-edited list: adding ``estimators/<name>.py`` is the whole submission. Importing
the module runs its ``@estimator`` decorator, which registers it in
:data:`harness.api.ESTIMATORS` at definition time.

Only *trusted* files are imported in this process: those whose SHA-256 the committed catalog
records (:mod:`harness.trust`). Every other file (a new or changed submission) is imported
in a guarded worker process that reports what it registers (:func:`harness.sandbox.
describe_module`); here it is registered as a stand-in that carries its metadata and runs no
code of it (``Estimator.untrusted``). The harness scores such estimators in workers of their
own (:mod:`harness.run.isolation`), so untrusted code never runs where ground truth is read.

A broken submission (a syntax or import error, a registered name that differs from the file
name, a file that registers nothing, a file that changes process-wide torch settings when
imported) is reported and skipped: it never blocks the other
estimators. Asking for it by name raises with the file's own error.
"""

from __future__ import annotations

import importlib
import pkgutil
import traceback
from dataclasses import dataclass
from functools import cache

from harness import api, sandbox, torch_state, trust
from harness.api import DuplicateEstimatorError, UnknownEstimatorError
from harness.registration import unknown_message

__all__ = ["DuplicateEstimatorError", "UnknownEstimatorError", "BrokenEstimator", "discover",
           "broken", "get", "names", "resolve", "ESTIMATORS"]

ESTIMATORS = api.ESTIMATORS


@dataclass(frozen=True)
class BrokenEstimator:
    """A submission file that could not be registered.

    Attributes:
        module: ``estimators.<name>``.
        message: one line: what is wrong.
        detail: the traceback's last lines, for the curious.
    """

    module: str
    message: str
    detail: str = ""

    @property
    def name(self) -> str:
        return self.module.rsplit(".", 1)[-1]


@cache
def _scan(package: str) -> tuple[dict[str, api.Estimator], tuple[BrokenEstimator, ...]]:
    pkg = importlib.import_module(package)
    bad: list[BrokenEstimator] = []
    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if mod.name.startswith("_") or mod.ispkg:
            continue
        full = f"{package}.{mod.name}"
        path = getattr(mod.module_finder, "path", "")
        if not trust.is_trusted(package, mod.name, f"{path}/{mod.name}.py"):
            problem = _register_described(full)
            if problem is not None:
                bad.append(problem)
            continue
        before = set(api.ESTIMATORS.names())
        settings = torch_state.snapshot()
        try:
            importlib.import_module(full)
        except Exception as exc:  # a submission's own bug: report it, keep the others
            for name in set(api.ESTIMATORS.names()) - before:
                api.ESTIMATORS.unregister(name)  # nothing half-registered stays behind
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            msg = str(exc) if isinstance(exc, DuplicateEstimatorError) else \
                f"{full} could not be imported: {last}"
            bad.append(BrokenEstimator(full, msg, traceback.format_exc(limit=-3)))
            continue
        changed = torch_state.changes(settings, torch_state.snapshot())
        if changed:
            # A file that changes process-wide settings at import would change every run's
            # scores, its neighbours' included: it is refused, and the settings put back.
            torch_state.restore(settings)
            for name in set(api.ESTIMATORS.names()) - before:
                api.ESTIMATORS.unregister(name)
            bad.append(BrokenEstimator(
                full, f"{full} changed global torch state when imported ({changed}); the "
                "harness restored it. A submission must leave process-wide settings as it "
                "found them"))
            continue
        if not api.ESTIMATORS.select(lambda origin, _e, full=full:
                                     origin.split(":", 1)[0] == full):
            bad.append(BrokenEstimator(full, f"{full} registers no estimator (use @estimator)"))
    found = api.ESTIMATORS.select(
        lambda origin, _e: origin.split(":", 1)[0].rsplit(".", 1)[0] == package)
    return found, tuple(bad)


def _register_described(full: str) -> BrokenEstimator | None:
    """Register the stand-ins of untrusted module ``full``, described in a worker; the
    problem if it is broken."""
    described = sandbox.describe_module(full)
    if isinstance(described, sandbox.DescribeFailure):
        return BrokenEstimator(full, described.message, described.detail)
    if not described:
        return BrokenEstimator(full, f"{full} registers no estimator (use @estimator)")
    done = []
    for d in described:
        try:
            api.ESTIMATORS.register(d.info.name, sandbox.stand_in(d), origin=d.origin)
        except DuplicateEstimatorError as exc:
            for name in done:
                api.ESTIMATORS.unregister(name)
            return BrokenEstimator(full, str(exc))
        done.append(d.info.name)
    return None


def discover(package: str = "estimators") -> dict[str, api.Estimator]:
    """Import every module of ``package``; the estimators they register, by name.

    Broken modules are skipped (see :func:`broken`).
    """
    return dict(_scan(package)[0])


def broken(package: str = "estimators") -> tuple[BrokenEstimator, ...]:
    """The submission files of ``package`` that could not be registered."""
    return _scan(package)[1]


def rescan() -> None:
    """Forget what was discovered, and which files are trusted (tests that add submission
    files; after ``catalog --write``)."""
    _scan.cache_clear()
    trust.forget()


def names() -> list[str]:
    """All registered estimator names, sorted."""
    return list(discover())


def get(name: str) -> api.Estimator:
    """The estimator registered as ``name``.

    Raises:
        UnknownEstimatorError: listing close matches, or the error of a broken file of that
            name.
    """
    found = discover()
    if name not in found:
        for b in broken():
            if b.name == name:
                raise UnknownEstimatorError(f"estimator {name!r} is broken: {b.message}")
        raise UnknownEstimatorError(unknown_message("estimator", name, list(found)))
    return found[name]


def resolve(spec: str) -> list[api.Estimator]:
    """``"a,b"`` or ``"all"`` → estimators, in the given order (``all``: sorted by name)."""
    if spec.strip() == "all":
        return list(discover().values())
    items = [s.strip() for s in spec.split(",") if s.strip()]
    if not items:
        raise UnknownEstimatorError("No estimator given; use --estimator=NAME[,NAME...] or all")
    return [get(n) for n in dict.fromkeys(items)]
