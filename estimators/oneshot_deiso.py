"""oneshot_deiso: one-shot accuracy with a supernet trained by de-isomorphic sampling.

As ``oneshot_uniform``, but each training step draws uniformly from one representative of each
of the 6,466 isomorphism classes (Ning et al., 2021), so every function is trained equally
often. By default an architecture is scored as its class representative (the cells the
supernet was trained on; isomorphic cells get equal scores); ``post_deiso=true`` averages
over all cells of the class instead, ``iso_eval=self`` scores the cell as given. The option
``sharing=partition-op`` (or ``partition-convs``) trains several supernets that each own a part
of the space at the same total budget (less weight sharing). On NAS-Bench-101 the classes are
the 49,032 of NAS-Bench-1shot1 search space 3, and a cell is scored as its representative. On
the NDS spaces, which have no isomorphic duplicates, and on NAS-Bench-301, whose classes are too
many to list, the uniform run is scored, each architecture as itself. See ``docs/oneshot.md``.
Higher is predicted better.
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
    name="oneshot_deiso",
    kind="one-shot",
    idea="Validation accuracy with the weights of a supernet trained by de-isomorphic sampling.",
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
