"""Names to objects that the core and every front end share: which one-shot estimator
supplies a run's weights, and why an estimator does not apply to a split.

Kept apart from :mod:`harness.run.frontend` (command-line values to a run) so that the session
can resolve its weights source without importing the front-end layer.
"""

from __future__ import annotations

from harness import api, registry
from harness.run.config import UsageError
from harness.splits import Split


def skip_reason(est: api.Estimator, split: Split) -> str | None:
    """Why ``est`` cannot be scored on ``split`` (``None`` if it can)."""
    if not est.info.applies_to(split.benchmark):
        return (f"{est.name} does not apply to {split.benchmark}: "
                f"{est.info.skip_reason or 'not supported by the estimator'}")
    if est.info.needs_images and not split.images_available:
        return (f"{est.name} needs {split.dataset} images, which do not ship with estbench "
                "(only CIFAR-10 does); the split's ground truth is available for image-free "
                "estimators.")
    return None


def weights_source(name: str) -> api.Estimator:
    """The one-shot estimator whose supernet supplies ``RunConfig.weights``.

    Raises:
        UsageError: if ``name`` is not a registered one-shot estimator with a supernet.
    """
    est = registry.ESTIMATORS.find(name)
    if est is None or est.info.kind != "one-shot" or est.prepare is None:
        known = [e.name for e in registry.ESTIMATORS.values() if e.info.kind == "one-shot"]
        raise UsageError(f"--weights must be 'init' or a one-shot estimator "
                         f"({', '.join(known)}), not {name!r}")
    return est
