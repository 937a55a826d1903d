"""Configuration of supernet training, and the hash that names a training run.

A run is fully described by a :class:`TrainConfig`; its :meth:`TrainConfig.config_hash` names
the directory ``<cache_dir>/oneshot/<hash>/`` that holds the run's ``config.json`` and its
checkpoints ``epoch_<k>.pt``. Everything that changes the weights is part of the hash (sampler,
sharing, epoch budget -- the cosine schedule depends on it --, seed, optimiser settings, data
fractions, supernet shape); nothing that does not (device, threads, which epochs are saved).

The defaults follow the brief of this harness (SGD lr 0.05, momentum 0.9, weight decay 5e-4,
batch 128, cosine schedule over the budget). The paper's own runs (Ning et al., NeurIPS 2021,
aw_nas ``examples/research/surgery/nb201/deiso_plateaulr.yaml``) used batch 512,
``ReduceLROnPlateau(patience=30, factor=0.5)`` and 1000 epochs with the same SGD settings,
gradient-norm clipping at 5, dropout 0.1 before the classifier and the same 80/20 split of the
CIFAR-10 training images; clipping, dropout and the split are reproduced here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from harness.oneshot.sharing import parse_sharing

FORMAT_VERSION = 1  # bump when the training code changes the weights a config produces
SAMPLERS: tuple[str, ...] = ("uniform", "deiso")
#: Search spaces with a one-shot supernet: NAS-Bench-201 (:mod:`harness.oneshot.supernet`),
#: NAS-Bench-101 (:mod:`harness.oneshot.nb101_supernet`), NAS-Bench-301
#: (:mod:`harness.oneshot.nb301_supernet`) and the NDS spaces
#: (:mod:`harness.oneshot.nds_supernet`).
ONESHOT_SPACES: tuple[str, ...] = ("nb201", "nds_resnet", "nds_resnexta", "nb101", "nb301")
#: Spaces whose sampler can be de-isomorphic: their isomorphism classes can be listed.
DEISO_SPACES: tuple[str, ...] = ("nb201", "nb101")
SCHEDULES: tuple[str, ...] = ("cosine", "constant")
MEMORY_FORMATS: tuple[str, ...] = ("channels_last", "contiguous")


@dataclass(frozen=True)
class Cli:
    """How a training-run field is offered on ``python -m harness.oneshot``'s command line
    (``--<name-with-dashes>``, the field's default): declared on the field, so the command
    line cannot drift from the config."""

    type: Any
    help: str
    choices: tuple[Any, ...] | None = None


def cli_field(default: Any, type: Any, help: str,
              choices: tuple[Any, ...] | None = None) -> Any:
    """A config field offered on the command line (see :class:`Cli`)."""
    return field(default=default, metadata={"cli": Cli(type, help, choices)})


def cli_fields(cls: type) -> list[tuple[str, Any, Cli]]:
    """``(name, default, Cli)`` of each field of dataclass ``cls`` offered on the command line."""
    return [(f.name, f.default, f.metadata["cli"]) for f in fields(cls) if "cli" in f.metadata]


@dataclass(frozen=True)
class SupernetConfig:
    """Shape of the supernet.

    The two shape fields mean, per space: NAS-Bench-201 as named (16 and 5 in the benchmark);
    NAS-Bench-101 the stem channels (128) and cells per stack (3), with the benchmark's 3
    stacks; NAS-Bench-301 the initial channels ``C`` (32) and ``n`` normal cells per stage, so
    ``3n + 2`` cells in all (the benchmark's 8 are ``n = 2``); the NDS spaces use only
    ``channels``, as 16 × the width multiplier (16: the benchmark's widths).

    Attributes:
        channels: stem / first-stage channels (16 in NAS-Bench-201).
        cells_per_stage: cells per stage (5 in NAS-Bench-201); tests use 1.
        num_classes: classifier outputs.
        cell_bn_affine: whether the BatchNorms inside cell operations have affine parameters.
            ``False`` as in the paper's supernet (aw_nas ``cell_bn_affine=False``): an affine
            shift would be shared by every architecture using the op, while the stem, the
            reduction blocks and the final BN keep their affine parameters.
        dropout: dropout before the classifier during training (0.1 in the paper's code).
        memory_format: ``"channels_last"`` (NHWC, the default: measured 1.7x faster training
            steps on this project's CPUs for both the 1-cell/8-channel and the paper's shape)
            or ``"contiguous"`` (NCHW, the format of runs before it existed). The same
            computation in another summation order: it changes the last bits, not what is
            learned, but a run's bits depend on it, so it is part of the run's hash.
    """

    channels: int = cli_field(16, int, "supernet stem / first-stage channels")
    cells_per_stage: int = cli_field(5, int, "supernet cells per stage")
    num_classes: int = 10
    cell_bn_affine: bool = False
    dropout: float = 0.1
    memory_format: str = cli_field("channels_last", str, "supernet memory format (part of the "
                                   "run's identity)", MEMORY_FORMATS)

    def __post_init__(self) -> None:
        if self.memory_format not in MEMORY_FORMATS:
            raise ValueError(f"memory_format must be one of {MEMORY_FORMATS}, not "
                             f"{self.memory_format!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained supernet.

    Attributes:
        sampler: ``"uniform"`` (all 15,625 cells) or ``"deiso"`` (one representative of each of
            the 6,466 isomorphism classes).
        epochs: epoch budget (the cosine schedule spans it).
        seed: initialisation, sampling, batch order, augmentation and dropout all derive from it.
        sharing: ``"full"`` (one supernet) or a partition rule of :mod:`harness.oneshot.sharing`
            (several supernets, each owning a part of the space, trained at equal total budget).
        lr, momentum, weight_decay: SGD settings.
        batch_size: training images per step.
        schedule: ``"cosine"`` (per-epoch cosine annealing to 0) or ``"constant"``.
        max_grad_norm: gradient-norm clipping (``None`` disables it).
        train_fraction: share of the (sub)set of CIFAR-10 training images used for training; the
            rest are the validation images that one-shot scores are computed on.
        split_seed: seed of the fixed permutation that defines the train/validation split (kept
            separate from ``seed`` so that runs with different seeds share the validation set).
        subset: use only the first ``subset`` images of that permutation (tests and quick
            experiments); ``None`` uses all 50,000.
        supernet: the supernet's shape.
    """

    sampler: str = cli_field("deiso", str, "architectures a step draws from", SAMPLERS)
    epochs: int = cli_field(200, int, "epoch budget (the schedule spans it)")
    seed: int = cli_field(20, int, "training seed")
    sharing: str = cli_field("full", str,
                             "full | partition-op | partition-op<k> | partition-convs")
    lr: float = cli_field(0.05, float, "SGD learning rate")
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = cli_field(128, int, "training images per step")
    schedule: str = "cosine"
    max_grad_norm: float | None = 5.0
    train_fraction: float = 0.8
    split_seed: int = 0
    subset: int | None = cli_field(None, int, "use only this many CIFAR-10 training images "
                                   "(quick experiments)")
    supernet: SupernetConfig = field(default_factory=SupernetConfig)
    space: str = cli_field("nb201", str, "the search space whose supernet is trained",
                           ONESHOT_SPACES)

    def __post_init__(self) -> None:
        if self.space not in ONESHOT_SPACES:
            raise ValueError(f"space must be one of {ONESHOT_SPACES}, not {self.space!r}")
        # The NDS spaces have no isomorphic duplicates (distinct configurations are distinct
        # networks), so de-isomorphic sampling would be uniform sampling and runs are named by
        # one sampler; the DARTS space is too large to list its classes. Partitions are
        # defined on NAS-Bench-201 cells.
        if self.space != "nb201" and self.sharing != "full":
            raise ValueError(f"a {self.space} supernet is trained with sharing='full', not "
                             f"{self.sharing!r}")
        if self.space not in DEISO_SPACES and self.sampler != "uniform":
            raise ValueError(f"a {self.space} supernet is trained with sampler='uniform', not "
                             f"{self.sampler!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, not {self.sampler!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, not {self.schedule!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        if not 0.0 < self.train_fraction < 1.0:
            raise ValueError("train_fraction must be strictly between 0 and 1")
        if self.subset is not None and self.subset < 2:
            raise ValueError("subset must be None or >= 2 images")
        parse_sharing(self.sharing)  # raises on an unknown rule

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (nested ``supernet``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (a config from a newer format)."""
        d = dict(d)
        # A config written before memory_format existed describes a contiguous (NCHW) run.
        net = SupernetConfig(**{"memory_format": "contiguous", **d.pop("supernet", {})})
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"Unknown TrainConfig field(s) {sorted(unknown)}")
        return cls(supernet=net, **d)

    def identity(self) -> dict[str, Any]:
        """What the hash covers: the config plus the format version, space and dataset."""
        config = self.to_dict()
        if config["supernet"]["memory_format"] == "contiguous":
            # Runs from before the field existed keep their hash (and their checkpoints).
            del config["supernet"]["memory_format"]
        # The space was always part of the identity, outside the config: NAS-Bench-201 runs
        # keep their hashes.
        space = config.pop("space")
        return {"format": FORMAT_VERSION, "space": space, "dataset": "cifar10",
                "config": config}

    def config_hash(self) -> str:
        """16 hex digits of the SHA-256 of :meth:`identity` as canonical JSON."""
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def with_epochs(self, epochs: int) -> TrainConfig:
        return replace(self, epochs=epochs)


@dataclass(frozen=True)
class EvalConfig:
    """How one-shot scores are computed on the validation images.

    Attributes:
        n_batches: validation batches per architecture.
        batch_size: images per validation batch (BN uses each batch's own statistics).
        eval_seed: seed of the fixed permutation of the validation images the batches are cut
            from (the same batches for every architecture, seed and checkpoint).
    """

    n_batches: int = 5
    batch_size: int = 128
    eval_seed: int = 0

    def __post_init__(self) -> None:
        if self.n_batches < 1 or self.batch_size < 1:
            raise ValueError("n_batches and batch_size must be >= 1")
