"""A figure published for an estimator, shown on its leaderboard page beside ours.

Kept out of :mod:`harness.api` (which imports torch) so that the site, which reads these
figures from the estimator catalog, uses the same type and the same validation without torch.
:mod:`harness.api` re-exports both names for submissions.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Criteria a published figure may report (the results files' metric names).
PUBLISHED_CRITERIA: tuple[str, ...] = ("kendall", "spearman")


@dataclass(frozen=True)
class Published:
    """A figure published for the estimator, shown on its leaderboard page beside ours.

    The leaderboard puts it next to our mean over seeds on every split of ``benchmark`` (a
    split belongs to it when its name is ``benchmark`` or starts with ``benchmark-``), so a
    reader sees at once whether we reproduce it. It is display only: nothing in the harness
    reads it, and no estimator may be tuned towards it.

    Attributes:
        criterion: ``kendall`` or ``spearman``.
        value: the published number.
        benchmark: the estbench benchmark it is comparable with (``nb201-c10``, ``nb201-c100``).
        population: which architectures the published figure ranks, in words.
        source: where it is published (paper table, repository file).
        note: what differs from our protocol (sample, seeds, batch size), if anything.
        absolute: the source reports only the magnitude of the correlation (it drops the
            sign, as the zero-cost-nas notebooks do): the leaderboard compares it with the
            magnitude of ours and shows our sign, since a proxy that ranks backwards is not
            the same finding as one that ranks forwards.
    """

    criterion: str
    value: float
    benchmark: str
    population: str
    source: str
    note: str = ""
    absolute: bool = False

    def __post_init__(self) -> None:
        if self.criterion not in PUBLISHED_CRITERIA:
            raise ValueError(f"Published.criterion must be one of {PUBLISHED_CRITERIA}, "
                             f"not {self.criterion!r}")
        if not -1.0 <= self.value <= 1.0:
            raise ValueError(f"Published.value {self.value!r} is not a correlation")
        if self.absolute and self.value < 0:
            raise ValueError(f"Published.value {self.value!r} is marked absolute but negative")


@dataclass(frozen=True)
class PublishedTable:
    """A published table that reports several estimators under one protocol.

    Defined once (in :mod:`harness.papers`) and cited by each estimator it reports, so the
    source, population and protocol notes are written once.

    Attributes:
        source: where the table is (paper table, repository file).
        population: which architectures its figures rank, in words.
        note: what differs from our protocol, for every figure of the table.
        absolute: the table reports magnitudes only (see :attr:`Published.absolute`).
    """

    source: str
    population: str
    note: str
    absolute: bool = False

    def figure(self, criterion: str, value: float, benchmark: str, *, method: str = "",
               note: str | None = None) -> Published:
        """The table's figure for one estimator: ``method`` names the estimator as the table
        does (when it is not our name); ``note`` replaces the table's note."""
        source = f"{self.source}, row {method}" if method else self.source
        return Published(criterion, value, benchmark, self.population, source,
                         self.note if note is None else note, absolute=self.absolute)
