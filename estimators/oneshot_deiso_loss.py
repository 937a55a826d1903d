"""oneshot_deiso_loss: negative one-shot validation loss, de-isomorphic supernet.

The same supernet and validation batches as ``oneshot_deiso`` (the same checkpoint is loaded),
but the score is minus the mean cross-entropy over the validation images, which Ning et al.
(2021) compare with the one-shot accuracy as the OSE's output. Accuracy and loss come from one
forward pass, shared when both estimators run together. Higher is predicted better.
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
    return prepare_oneshot(pctx, "deiso")


@estimator(
    name="oneshot_deiso_loss",
    kind="one-shot",
    idea="Negative validation loss with the weights of a de-isomorphically trained supernet.",
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
    return ctx.state.score(ctx, "loss")
