"""oneshot_uniform: one-shot accuracy with a supernet trained by uniform architecture sampling.

The NAS-Bench-201 supernet (:mod:`harness.oneshot.supernet`) is trained with one architecture
per step drawn uniformly from all 15,625 cells, on 80 % of the CIFAR-10 training images
(:mod:`harness.oneshot.training`). An architecture's score is its accuracy with the supernet's
weights on fixed batches of the other 20 % (BatchNorm with batch statistics), as in Ning et
al. (2021). ``prepare`` loads the checkpoint of the run's seed from the cache
(``<cache>/oneshot/<hash>/epoch_<k>.pt``, trained with ``python -m harness.oneshot train``);
see ``docs/oneshot.md`` for the options (``epochs``, ``checkpoint_epoch``, ``post_deiso``,
``iso_eval``, ``sharing``, ``train``, ...). On NDS ResNet and ResNeXt-A the supernet is the
slimmable network of :mod:`harness.oneshot.nds_supernet` (first blocks and leading channels of
the space's largest architecture), trained on the benchmark table's architectures drawn
uniformly; on NAS-Bench-101 the supernet of :mod:`harness.oneshot.nb101_supernet` (every op at
every vertex, leading channels), trained on all 108,135 cells of NAS-Bench-1shot1 search space
3; on NAS-Bench-301 the DARTS supernet of :mod:`harness.oneshot.nb301_supernet`, trained on
random genotypes. Higher is predicted better.
"""

from harness.api import ArchContext, PrepareContext, estimator
from harness.oneshot.scoring import (
    ONESHOT_SPACES,
    OPTIONS,
    PAPER,
    SKIP_REASON,
    OneShotState,
    prepare_oneshot,
)


def prepare(pctx: PrepareContext) -> OneShotState:
    return prepare_oneshot(pctx, "uniform")


@estimator(
    name="oneshot_uniform",
    kind="one-shot",
    idea="Validation accuracy with the weights of a supernet trained by uniform sampling.",
    paper=PAPER,
    version="1",
    needs_images=True,
    data_independent=True,  # scored on its own validation batches, not the harness's batch
    spaces=ONESHOT_SPACES,
    skip_reason=SKIP_REASON,
    prepare=prepare,
    options=OPTIONS,
)
def score(ctx: ArchContext) -> float:
    return ctx.state.score(ctx, "acc")
