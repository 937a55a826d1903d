"""The estimator API: what a submission receives and what it returns.

A submission is one file ``estimators/<name>.py`` that decorates one scoring function::

    from harness.api import ArchContext, Paper, estimator

    @estimator(
        name="grad_norm",                     # must equal the file name
        kind="zero-shot",                     # "zero-shot" | "one-shot" | "baseline"
        idea="Sum of the L2 norms of the loss gradients of all weights at initialisation.",
        paper=Paper(title="...", url="https://...", bibtex="@inproceedings{...}"),
        version="1",
    )
    def score(ctx: ArchContext) -> float:
        net = ctx.build()                     # fresh network, seeded init, on ctx.device
        x, y = ctx.batch                      # one deterministic CIFAR-10 batch
        ...
        return value                          # one finite float, higher = predicted better

The harness calls ``score`` once per (architecture, seed, batch) and averages over batches
(``EstimatorInfo.data_independent`` estimators are called once per seed). Estimators never see
ground-truth accuracies: nothing in this module can reach them.

One-shot estimators also pass ``prepare=``: a function called once per (split, seed) before
scoring that returns a state object (e.g. a trained supernet); it arrives as ``ctx.state``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from harness.published import PUBLISHED_CRITERIA as PUBLISHED_CRITERIA
from harness.published import Published
from harness.registration import NAME_RE, DuplicateNameError, Registry, UnknownNameError

Kind = Literal["zero-shot", "one-shot", "baseline"]
KINDS: tuple[str, ...] = ("zero-shot", "one-shot", "baseline")


@dataclass(frozen=True)
class Paper:
    """Where an estimator comes from."""

    title: str
    url: str
    bibtex: str


@dataclass(frozen=True)
class EstimatorOption:
    """An ``--estimator-option`` key an estimator accepts.

    Attributes:
        help: one line for ``docs`` and error messages.
        type: the accepted value type(s) after command-line parsing (``int``, ``float``,
            ``bool``, ``str``); an ``int`` is accepted where ``float`` is.
        choices: allowed values, if restricted.
    """

    help: str
    type: type | tuple[type, ...] = str
    choices: tuple[Any, ...] | None = None

    def check(self, value: Any) -> None:
        """Raises ``ValueError`` when ``value`` has the wrong type or is not a choice."""
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        if float in types:
            types = (*types, int)
        ok = False if isinstance(value, bool) and bool not in types else isinstance(value, types)
        if not ok:
            raise ValueError(f"{value!r} is not a {' or '.join(t.__name__ for t in types)}")
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{value!r} is not one of {', '.join(map(str, self.choices))}")


@dataclass(frozen=True)
class EstimatorInfo:
    """An estimator's metadata (shown on the leaderboard).

    Attributes:
        name: registry name, equal to the module's file name.
        kind: ``zero-shot``, ``one-shot`` or ``baseline``.
        idea: one line saying what the score measures.
        paper: the paper that defines it (``None`` only for trivial baselines).
        version: bump when the scoring changes, so old results are recognisably stale.
        needs_images: False if the score never looks at image data (``params``, ``synflow``).
        data_independent: True if the score does not depend on the batch, so the harness
            calls it once per seed instead of once per batch.
        spaces: search spaces the estimator applies to (``None`` = all); the harness skips
            others with ``skip_reason``.
        skip_reason: why it does not apply elsewhere.
        uses: keys of shared passes (``ctx.shared``) the estimator will request on every
            context. A hint only: other passes of the same joint run may then derive their
            result from that pass instead of running their own (see ``ArchContext.planned``);
            it never changes a score.
        components: for a population-level estimator, the names of the per-architecture
            component scores its ``score`` function returns (as a ``dict``); empty for an
            ordinary estimator, whose ``score`` returns one float.
        options: the ``--estimator-option`` keys it accepts; an unknown key is a usage
            error, and the run's fingerprint covers only these.
        published: figures published for it elsewhere, shown beside ours (display only).
    """

    name: str
    kind: Kind
    idea: str
    paper: Paper | None
    version: str
    needs_images: bool = True
    data_independent: bool = False
    spaces: tuple[str, ...] | None = None
    skip_reason: str = ""
    uses: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    options: Mapping[str, EstimatorOption] = field(default_factory=dict)
    published: tuple[Published, ...] = ()

    @property
    def population_level(self) -> bool:
        """Whether the final score is an aggregation over the split's population."""
        return bool(self.components)

    def applies_to(self, space: str) -> bool:
        return self.spaces is None or space in self.spaces


class ArchContext:
    """Everything an estimator may use to score one architecture for one seed and batch.

    Attributes:
        spec: the architecture (for NAS-Bench-201 the official arch string).
        space: search-space name (``"nb201"``).
        dataset: image dataset name (``"cifar10"``).
        num_classes: classifier outputs.
        input_shape: ``(C, H, W)`` of one image.
        seed: the run's seed (network initialisation and batch order).
        device: where to compute.
        batch_index: which of the run's batches ``batch`` is.
        state: what the estimator's ``prepare`` returned (``None`` for zero-shot ones).
    """

    def __init__(
        self,
        *,
        spec: Any,
        space: str,
        dataset: str,
        num_classes: int,
        input_shape: tuple[int, int, int],
        seed: int,
        device: torch.device,
        builder: Callable[[int], nn.Module],
        batch_loader: Callable[[], tuple[torch.Tensor, torch.Tensor]] | None,
        batch_index: int = 0,
        state: Any = None,
        shared: dict | None = None,
        planned: Sequence[str] = (),
        sharing: bool | None = None,
        resolve: Callable[[str], Estimator] | None = None,
    ):
        self.spec = spec
        self.space = space
        self.dataset = dataset
        self.num_classes = num_classes
        self.input_shape = tuple(input_shape)
        self.seed = seed
        self.device = device
        self.batch_index = batch_index
        self.state = state
        self._builder = builder
        self._batch_loader = batch_loader
        self._batch: tuple[torch.Tensor, torch.Tensor] | None = None
        # Results of shared computations, keyed by name; the harness gives several estimators
        # scoring the same (architecture, seed, batch) the same dict so that they share passes.
        self._shared = shared if shared is not None else {}
        # Shared-pass keys that some estimator on this shared store declared (``uses``).
        self._planned = frozenset(planned)
        # Unless told, a context handed a store of its own is assumed to share it.
        self._sharing = shared is not None if sharing is None else sharing
        # How ``estimate`` finds another estimator by name (the harness passes its registry,
        # which imports every submission; by default, those registered so far).
        self._resolve = resolve

    def build(self, seed: int | None = None) -> nn.Module:
        """A freshly built network on ``device``, initialised from ``seed`` (default: the run's).

        Each call returns a new network in training mode, so an estimator may modify it.
        """
        net = self._builder(self.seed if seed is None else seed)
        return net.to(self.device).train()

    @property
    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch ``(images, labels)`` on ``device`` (normalised CIFAR-10 images)."""
        if self._batch is None:
            if self._batch_loader is None:
                raise RuntimeError(
                    "This estimator declared needs_images=False but asked for a batch."
                )
            self._batch = self._batch_loader()
        return self._batch

    def shared(self, key: str, compute: Callable[[], Any]) -> Any:
        """Memoise ``compute()`` under ``key`` for every estimator scoring this context.

        ``compute`` must depend only on the context (never on the calling estimator), build its
        own network with :meth:`build`, and return tensors it does not modify afterwards; then
        scores are bit-identical whether an estimator runs alone or next to others.
        """
        if key not in self._shared:
            self._shared[key] = compute()
        return self._shared[key]

    def has_shared(self, key: str) -> bool:
        """Whether :meth:`shared` already holds ``key`` (to reuse a pass when it exists)."""
        return key in self._shared

    def planned(self, key: str) -> bool:
        """Whether an estimator sharing this context's passes declared it will request ``key``.

        Lets a pass derive its result from a costlier one that will run anyway (e.g. the
        cross-entropy gradients from GraSP's create-graph backward). The result must be the
        same either way; only the work differs.
        """
        return key in self._planned

    def estimate(self, name: str) -> Any:
        """What the zero-shot estimator ``name`` gives this context: its score, or a
        population-level estimator's components (a dict), memoised like a shared pass.

        A submission that builds on another's values (VKDNW_agg on AZ-NAS and VKDNW) reads
        them here instead of importing the other's file: the values are the other estimator's
        own, computed once per context and shared with it when both run, and a broken file
        fails only the estimators that read it, at scoring time, with its own error.

        Raises:
            UnknownEstimatorError: no estimator of that name (with close names).
            ValueError: ``name`` needs a prepared state or options (a one-shot estimator).
        """
        est = (self._resolve or ESTIMATORS.get)(name)
        if est.prepare is not None or est.info.options:
            raise ValueError(f"estimator {name!r} needs a prepared state or options: only a "
                             "zero-shot estimator without options can be read as a shared pass")
        value = self.shared(f"estimate:{name}/v{est.info.version}", lambda: est.score(self))
        return dict(value) if isinstance(value, dict) else value

    @property
    def sharing(self) -> bool:
        """Whether other estimators score on this context's shared passes (a joint run).

        A pass may free its autograd graph as it goes when nobody else will read it: GraSP's
        Hessian backward then holds about a quarter less memory at its peak. Values never
        depend on it.
        """
        return self._sharing


@dataclass(frozen=True)
class PrepareContext:
    """What a one-shot estimator's ``prepare`` receives (once per split and seed)."""

    space: str
    dataset: str
    seed: int
    device: torch.device
    data_dir: str | None
    cache_dir: str
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Population:
    """What a population-level estimator's ``aggregate`` receives, once per seed.

    Only component scores and architecture specs: no accuracies, no split name, nothing from
    which ground truth could be reached (ensembles must not peek).

    Attributes:
        components: component name -> float64 array over the population, in split order
            (read-only). A component that failed for an architecture is NaN there.
        specs: the architectures, in the same order.
        space: search-space name.
        dataset: image dataset name.
        seed: the run's seed.
    """

    components: Mapping[str, np.ndarray]
    specs: tuple[Any, ...]
    space: str
    dataset: str
    seed: int

    def __len__(self) -> int:
        return len(self.specs)


@runtime_checkable
class PreparedState(Protocol):
    """What a one-shot estimator's ``prepare`` returns, as far as the harness is concerned.

    The generic runner talks to a prepared state only through these methods, never through
    its internals (a supernet, an evaluator cache):

    * ``describe()``: JSON-able description of what was prepared (the supernet checkpoint),
      recorded per seed in the results file under ``prepared``;
    * ``checkpoints()`` / ``at_checkpoint(k)``: earlier checkpoints of the same training run,
      scored by ``--curve`` runs into the results' ``curve``;
    * ``fresh()``: an equivalent state with empty caches, for the determinism check (which
      must recompute, not read back a memoised score);
    * ``network_builder(spec)``: ``builder(seed) -> nn.Module``, a stand-alone network of
      ``spec`` carrying the prepared weights (``--weights``: zero-shot estimators on trained
      weights).
    """

    def describe(self) -> dict[str, Any]: ...

    def checkpoints(self) -> list[int]: ...

    def at_checkpoint(self, k: int) -> PreparedState: ...

    def fresh(self) -> PreparedState: ...

    def network_builder(self, spec: Any) -> Callable[[int], nn.Module]: ...


ScoreFn = Callable[[ArchContext], Any]
#: ``aggregate(population) -> array of len(population)``: the final scores, higher = better.
AggregateFn = Callable[[Population], np.ndarray]
#: ``prepare`` returns any object; the harness hands it to ``score`` as ``ctx.state``. When it
#: is a :class:`PreparedState`, the harness records, curves and re-checks it through that
#: protocol.
PrepareFn = Callable[[PrepareContext], Any]

#: The one output of a scalar estimator. The runner treats every estimator alike: named outputs
#: per architecture, then an aggregation over the population; a scalar estimator is the case
#: of one output, ``score``, aggregated by the identity.
SCORE = "score"


def identity_aggregate(pop: Population) -> np.ndarray:
    """A scalar estimator's aggregation: its scores as they are."""
    return pop.components[SCORE]


@dataclass(frozen=True)
class Estimator:
    """A registered estimator: metadata plus its functions.

    ``untrusted``: the file was not imported in this process (it is not the file the committed
    catalog records, :mod:`harness.trust`); ``score`` and ``prepare`` are stand-ins that
    refuse to run here and the aggregation runs in a worker (:mod:`harness.sandbox`). ``path``
    is then its source file.
    """

    info: EstimatorInfo
    score: ScoreFn
    prepare: PrepareFn | None = None
    module: str = ""
    aggregate: AggregateFn | None = None
    untrusted: bool = False
    path: Path | None = None

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def outputs(self) -> tuple[str, ...]:
        """The per-architecture outputs: the declared components, or ``("score",)``."""
        return self.info.components or (SCORE,)

    @property
    def aggregation(self) -> AggregateFn:
        """The population aggregation: the declared one, or the identity (scalar)."""
        return self.aggregate if self.aggregate is not None else identity_aggregate

    @property
    def source_file(self) -> Path | None:
        """The file that defines the scoring function (``None`` for a function without code,
        such as a builtin)."""
        if self.path is not None:
            return self.path
        code = getattr(self.score, "__code__", None)
        return Path(code.co_filename) if code is not None else None


class UnknownEstimatorError(UnknownNameError):
    """An estimator name that no module registers."""


class DuplicateEstimatorError(DuplicateNameError):
    """Two definitions register the same estimator name."""


#: Every estimator, registered by ``@estimator`` when its module is imported
#: (:func:`harness.registry.discover` imports the submissions).
ESTIMATORS: Registry[Estimator] = Registry(
    "estimator", unknown_error=UnknownEstimatorError, duplicate_error=DuplicateEstimatorError)

_NAME_RE = NAME_RE


def estimator(
    *,
    name: str,
    kind: Kind,
    idea: str,
    version: str,
    paper: Paper | None = None,
    needs_images: bool = True,
    data_independent: bool = False,
    spaces: Sequence[str] | None = None,
    skip_reason: str = "",
    prepare: PrepareFn | None = None,
    uses: Sequence[str] = (),
    components: Sequence[str] = (),
    aggregate: AggregateFn | None = None,
    options: Mapping[str, EstimatorOption] | None = None,
    published: Sequence[Published] = (),
) -> Callable[[ScoreFn], ScoreFn]:
    """Register the decorated function as the scoring function of estimator ``name``.

    ``paper`` is optional (a new idea may not have one yet); give it when the estimator comes
    from a paper, so that its page cites it.

    A population-level estimator passes ``components`` (names) and ``aggregate``: its ``score``
    returns ``{component: float}`` per architecture, the harness stores every component, and
    after the whole split is scored (and merged, for sharded runs) calls
    ``aggregate(Population)`` once per seed to obtain the final scores.

    Raises:
        ValueError: on a malformed name or kind, or a name that differs from the file name,
            or ``components`` without ``aggregate`` (or the reverse).
        DuplicateEstimatorError: if another definition registered ``name``.
    """
    if not _NAME_RE.match(name):
        raise ValueError(f"Estimator name {name!r} must be lower_snake_case")
    if kind not in KINDS:
        raise ValueError(f"Estimator {name!r}: kind must be one of {KINDS}, not {kind!r}")
    if bool(components) != (aggregate is not None):
        raise ValueError(f"Estimator {name!r}: components and aggregate go together")
    if len(set(components)) != len(tuple(components)) or not all(
            _NAME_RE.match(c) for c in components):
        raise ValueError(f"Estimator {name!r}: components must be distinct lower_snake_case")
    info = EstimatorInfo(
        name=name, kind=kind, idea=idea, paper=paper, version=str(version),
        needs_images=needs_images, data_independent=data_independent,
        spaces=tuple(spaces) if spaces is not None else None, skip_reason=skip_reason,
        uses=tuple(uses), components=tuple(components), options=dict(options or {}),
        published=tuple(published),
    )

    def wrap(fn: ScoreFn) -> ScoreFn:
        # The name is owned by the file that really defines the function (its code object's
        # file), not by ``__module__``, which a file can set to anything: a submission cannot
        # take over ``params`` by claiming to be ``estimators.params``.
        code = getattr(fn, "__code__", None)
        path = Path(code.co_filename) if code is not None else None
        if path is None or path.stem != name:
            raise ValueError(
                f"Estimator {name!r} is defined in {path or fn!r}; the registered name must "
                "equal the file name (estimators/<name>.py).")
        module = fn.__module__
        if module.rsplit(".", 1)[-1] != name:
            raise ValueError(
                f"Estimator {name!r} is defined in module {module!r}; the registered name must "
                "equal the file name (estimators/<name>.py)."
            )
        # The file and line make the origin: the same definition imported again matches
        # itself, while a second definition of the name (in this file or another) collides.
        ESTIMATORS.register(name, Estimator(info=info, score=fn, prepare=prepare,
                                            module=module, aggregate=aggregate),
                            origin=f"{module}:{fn.__qualname__} ({path.resolve()}, line "
                                   f"{code.co_firstlineno})")
        return fn

    return wrap


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The harness's loss wherever an estimator needs one (mean cross-entropy)."""
    return nn.functional.cross_entropy(logits, labels)
