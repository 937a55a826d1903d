"""A seeded random score: the floor every ranking must beat (τ ≈ 0 in expectation)."""

import hashlib
import json

from harness.api import ArchContext, estimator


@estimator(
    name="random",
    kind="baseline",
    idea="Uniform random number per (architecture, seed): the chance-level floor.",
    paper=None,
    version="1",
    needs_images=False,
    data_independent=True,
)
def score(ctx: ArchContext) -> float:
    # Derived from a hash of (spec, seed) rather than a global RNG, so the value is the same
    # whatever order, process or shard scores the architecture.
    key = json.dumps([ctx.space, ctx.spec, ctx.seed], sort_keys=True).encode()
    digest = hashlib.sha256(key).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64
