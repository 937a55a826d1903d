"""The scoring key: everything that determines one estimator's scores on one split, the seed aside.

Four places decide whether scores made earlier may stand in for scores made now: the
checkpoint journal's header (resume), a results file's protocol (taking over stored seeds,
the replacement rule, campaign status), the curve store (one one-shot checkpoint's scores) and
the take-over of a stored checkpoint's scores. Each of them stores a :class:`ScoringKey`
verbatim and compares it by equality, so a setting added here is seen by all four at once.

What the key does not hold, and who holds it:

* the seed: records, curve-store files and results list their seeds themselves;
* a prepared state's own description (a supernet's hash, its epoch) and the per-seed record
  of trained weights: they exist only once a state is prepared, per seed, and the curve store
  and the checkpoint take-over compare them beside the key;
* the numeric environment (CPU kind, torch): scores of another environment are compared with a
  tolerance (:mod:`harness.run.stored`), not refused.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from harness import schema

#: ``weights`` of a run on randomly initialised networks.
INIT = "init"

#: Options with which a prepared (one-shot) estimator only chooses which checkpoint of its
#: training run it loads, or whether ``prepare`` may train a missing one. They do not change
#: what a score means, so a result of the same run scored at another checkpoint is replaced by
#: a later run; every other option (the run's sampler, sharing, budget, shape; evaluation
#: batches, post-de-isomorphism) is part of the protocol, and a result with another value is
#: never replaced silently (:func:`harness.run.stored.check_replacement`).
CHECKPOINT_CHOICE_OPTIONS: tuple[str, ...] = ("checkpoint_epoch", "train")


@dataclass(frozen=True)
class ScoringKey:
    """What determines an estimator's scores on a split (for every seed alike).

    Attributes:
        estimator: the estimator's name.
        estimator_version: its version (a change of definition bumps it).
        split: the split's name.
        split_sha256: the SHA-256 of the split's architecture list.
        n_batches: batches per architecture.
        batch_size: images per batch.
        device_type: ``"cpu"`` or ``"cuda"``.
        options: the ``--estimator-option`` values the estimator (and a trained-weights
            source) declares, sorted by name.
        weights: ``"init"`` (random initialisation) or the one-shot estimator whose supernet
            supplies the weights.
    """

    estimator: str
    estimator_version: str
    split: str
    split_sha256: str
    n_batches: int
    batch_size: int
    device_type: str
    options: dict[str, Any]
    weights: str = INIT

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored in all four places (every field, options sorted by name)."""
        out = schema.dump(self)
        out["options"] = dict(sorted(self.options.items()))
        return out

    @classmethod
    def from_dict(cls, obj: Any) -> ScoringKey:
        """Read a stored key.

        Also reads a checkpoint header written before the key existed: the same fields, with
        ``weights`` left out for a run on random initialisation.

        Raises:
            ValueError: ``obj`` is not a scoring key (a missing, unknown or mistyped field).
        """
        try:
            return schema.parse(cls, obj, "scoring key")
        except schema.SchemaError as exc:
            raise ValueError(str(exc)) from None

    def differences(self, other: ScoringKey) -> dict[str, tuple[Any, Any]]:
        """Fields in which ``self`` and ``other`` differ: name → (self's, other's)."""
        names = [f.name for f in dataclasses.fields(self)]
        names += [f.name for f in dataclasses.fields(other) if f.name not in names]
        out = {}
        for name in names:
            a, b = getattr(self, name, None), getattr(other, name, None)
            if a != b:
                out[name] = (a, b)
        return out

    def replace(self, **changes: Any) -> ScoringKey:
        """A copy with ``changes`` (for example options without the checkpoint choice)."""
        return dataclasses.replace(self, **changes)
