"""Our results beside every figure from the literature that the estimators' registrations cite.

Each estimator's page already sets its own published figures beside ours. This module gathers
them into one table, on the estimators index, so that a reader can see at once whether the
harness reproduces the field's numbers: for each figure, our mean over seeds on the split of
the same benchmark, its 95 % bootstrap interval over architectures, the gap, and whether the
published value lies inside our interval. A home-page finding counts them.

The interval resamples the split's architectures, so it is the uncertainty of estimating the
benchmark's criterion from our sample; a published value outside it differs by more than our
sample explains. The figure's own note (another batch size, ground-truth column or population)
says why that may be; the table shows it on hover.

Some sources print only the magnitude of a correlation (``Published.absolute``). Such a figure
is compared with the magnitude of ours, its interval mapped through ``|x|``, and our sign is
shown beside it: a proxy that ranks a space backwards would otherwise look like a match.
"""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import dataclass

from harness.published import Published
from leaderboard import fmt
from leaderboard.cells import ci
from leaderboard.collect import Result, result_issues
from leaderboard.data_export import data_cell
from leaderboard.site import Site, estimator_page, link
from leaderboard.tables import Cell, Column, Table, to_site

#: The anchor of the section on the estimators index (MkDocs' slug of its heading).
ANCHOR = "against-published-figures"
HEADING = "Against published figures"
#: The comparisons as numeric data (under docs/; written by the build, linked from the section).
CSV = "downloads/published.csv"
#: Its columns: the figure, then our result beside it (empty where there is none).
#: ``published_absolute`` is 1 where the source prints only the magnitude; ``ours_compared``
#: (|ours| there, else ours), the interval and the gap are then on the magnitude.
CSV_COLUMNS = ("estimator", "criterion", "published", "published_absolute", "benchmark",
               "population", "source", "note", "our_split", "ours", "ours_seed_std", "n_seeds",
               "ours_compared", "ci_low", "ci_high", "ours_minus_published", "published_in_ci")


def magnitude_interval(lo: float, hi: float) -> tuple[float, float]:
    """The interval of ``|x|`` for ``x`` in ``[lo, hi]``: the same bounds mirrored when the
    interval lies on one side of zero (``|x|`` is monotone there, so percentiles map to
    percentiles), and ``[0, max(-lo, hi)]`` when it straddles zero (wider than the percentile
    interval of the magnitudes would be, never narrower)."""
    if lo >= 0:
        return lo, hi
    if hi <= 0:
        return -hi, -lo
    return 0.0, max(-lo, hi)


def criterion_label(fig: Published) -> str:
    """``ρ``, or ``|ρ|`` for a figure that is a magnitude."""
    label = fmt.metric_label(fig.criterion)
    return f"|{label}|" if fig.absolute else label


def in_benchmark(split: str, benchmark: str) -> bool:
    """Whether ``split`` samples ``benchmark`` (``nb201-c10-1k`` does ``nb201-c10``; ``nb201-c100``
    does not)."""
    return split == benchmark or split.startswith(benchmark + "-")


@dataclass(frozen=True)
class Comparison:
    """One published figure beside our result on the same benchmark.

    Attributes:
        estimator: the estimator that cites the figure.
        figure: the published figure.
        split: our split it is compared on (``None``: no usable result on that benchmark).
        result: our result on ``split``.
    """

    estimator: str
    figure: Published
    split: str | None = None
    result: Result | None = None

    @property
    def ours(self) -> float | None:
        """Our mean over seeds of the figure's criterion, with its sign."""
        return None if self.result is None else self.result.mean(self.figure.criterion)

    @property
    def compared(self) -> float | None:
        """What is set beside the figure: :attr:`ours`, or its magnitude where the figure is
        one."""
        ours = self.ours
        if ours is None:
            return None
        return abs(float(ours)) if self.figure.absolute else float(ours)

    @property
    def interval(self) -> tuple[float, float] | None:
        """Our 95 % bootstrap interval of the compared value, when the result stores one (of
        the magnitude where the figure is one: :func:`magnitude_interval`)."""
        found = None if self.result is None else ci(self.result, self.figure.criterion)
        if found is None or not self.figure.absolute:
            return found
        return magnitude_interval(*found)

    @property
    def delta(self) -> float | None:
        """Compared minus published (positive: we rank better than published, or, for a
        magnitude, more strongly in either direction)."""
        compared = self.compared
        return None if compared is None else compared - self.figure.value

    @property
    def sign_hidden(self) -> bool:
        """The figure is a magnitude and our correlation is negative: it ranks backwards."""
        ours = self.ours
        return self.figure.absolute and ours is not None and float(ours) < 0

    @property
    def inside(self) -> bool | None:
        """Whether the published value lies in our interval (``None``: no interval)."""
        interval = self.interval
        if interval is None:
            return None
        return interval[0] <= self.figure.value <= interval[1]


def our_split(site: Site, name: str, benchmark: str) -> str | None:
    """The split to set beside a figure on ``benchmark``: the full benchmark when we scored it
    (the population most figures rank), else the first board split that samples it, among
    the usable results (current version, contract kept, no failed scores; indicative splits
    left out)."""
    indicative = set(site.coll.indicative_splits())
    results = site.coll.of_estimator(name)
    usable = [s for s in site.coll.splits()
              if s in results and s not in indicative and in_benchmark(s, benchmark)
              and not results[s].skipped
              and not result_issues(results[s], site.coll.registry)]
    if benchmark in usable:
        return benchmark
    return usable[0] if usable else None


def comparisons(site: Site) -> list[Comparison]:
    """Every figure that a registered estimator with results cites, in estimator order, each
    with our split and result (or none)."""
    out = []
    for name in site.coll.estimators():
        cur = (site.coll.registry or {}).get(name)
        for fig in (cur.published if cur is not None else ()):
            split = our_split(site, name, fig.benchmark)
            res = site.coll.of_estimator(name).get(split) if split else None
            if res is not None and res.mean(fig.criterion) is None:
                split, res = None, None
            out.append(Comparison(name, fig, split, res))
    return out


def table_model(site: Site) -> Table:
    """The comparisons as a table (site, CSV): one row per figure."""
    table = Table(columns=[
        Column(Cell("Estimator"), "left"), Column(Cell("Criterion"), "left"),
        Column(Cell("Published"), "right"), Column(Cell("Population"), "left"),
        Column(Cell("Source"), "left"), Column(Cell("Our split"), "left"),
        Column(Cell("Ours"), "right"), Column(Cell("95 % CI"), "right"),
        Column(Cell("Ours − published", title="positive: we rank better than published"),
               "right"),
        Column(Cell("In our CI"), "center"),
    ])
    for c in comparisons(site):
        fig = c.figure
        interval, inside = c.interval, c.inside
        seeds = "" if c.result is None else (
            f"{len(c.result.seeds)} seed" + ("s" if len(c.result.seeds) != 1 else ""))
        table.rows.append([
            Cell(c.estimator, href=estimator_page(c.estimator)),
            Cell(criterion_label(fig), nowrap=True,
                 title="the source prints only the magnitude; ours is compared as |ours|"
                 if fig.absolute else ""),
            Cell(fmt.num(fig.value)),
            Cell(fig.population),
            Cell(fig.source, title=f"why they may differ: {fig.note}" if fig.note else ""),
            Cell(c.split or fmt.MISSING, nowrap=c.split is not None,
                 title="" if c.split else f"not scored on a {fig.benchmark} split yet"),
            Cell(fmt.num(c.compared), note=seeds + (
                f"; signed {fmt.num(c.ours)}" if c.sign_hidden else ""),
                 title=f"our {fmt.metric_label(fig.criterion)} is {fmt.num(c.ours)}: this "
                 "estimator ranks the benchmark backwards, which the published magnitude "
                 "does not say" if c.sign_hidden else ""),
            Cell(fmt.MISSING if interval is None else
                 f"[{fmt.num(interval[0])}, {fmt.num(interval[1])}]"),
            Cell(fmt.MISSING if c.delta is None else f"{c.delta:+.3f}"),
            Cell(fmt.MISSING if inside is None else "yes" if inside else "no"),
        ])
    return table


def to_data_csv(site: Site) -> str:
    """The comparisons as CSV (RFC 4180, ``\\n`` line ends), numbers with every digit."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in comparisons(site):
        fig, res, interval = c.figure, c.result, c.interval
        writer.writerow([data_cell(v) for v in (
            c.estimator, fig.criterion, float(fig.value), int(fig.absolute), fig.benchmark,
            fig.population, fig.source, fig.note, c.split, c.ours,
            None if res is None else res.std(fig.criterion),
            None if res is None else len(res.seeds), c.compared,
            None if interval is None else interval[0], None if interval is None else interval[1],
            c.delta, None if c.inside is None else int(c.inside))])
    return buf.getvalue()


def summary(found: list[Comparison]) -> tuple[int, int, float | None, Comparison | None]:
    """How many figures have our interval beside them, how many of those lie inside it, the
    median absolute gap over them, and the figure with the largest gap."""
    with_ci = [c for c in found if c.inside is not None and c.delta is not None]
    if not with_ci:
        return 0, 0, None, None
    gaps = [abs(float(c.delta)) for c in with_ci]
    worst = max(with_ci, key=lambda c: (abs(float(c.delta)), c.estimator))
    return len(with_ci), sum(bool(c.inside) for c in with_ci), statistics.median(gaps), worst


def finding(site: Site, page: str) -> list[str]:
    """One home-page sentence: how many published figures lie inside our intervals (none when
    no figure has an interval beside it)."""
    n, inside, median_gap, worst = summary(comparisons(site))
    if not n or worst is None or median_gap is None:
        return []
    where = f"[published figures]({link(page, 'estimators/index.md')}#{ANCHOR})"
    return [f"Of the {n} {where} that the estimators cite and that our results can be set "
            f"beside, {inside} lie inside our 95 % interval and the median gap is "
            f"{fmt.num(median_gap)}; the largest is {worst.delta:+.3f} "
            f"({criterion_label(worst.figure)} of {fmt.esc(worst.estimator)}: ours "
            f"{fmt.num(worst.compared)} on {worst.split}, published "
            f"{fmt.num(worst.figure.value)}). "
            "Many rank another population or follow another protocol; the table says which."]


def sign_sentence(found: list[Comparison]) -> str:
    """What the magnitudes hide: a paragraph naming the figures printed as |ρ| (or |τ|) whose
    correlation is negative in our results (empty when there are no magnitudes)."""
    absolute = [c for c in found if c.figure.absolute and c.ours is not None]
    if not absolute:
        return ""
    hidden = [c for c in absolute if c.sign_hidden]
    labels = ", ".join(sorted({criterion_label(c.figure) for c in absolute}))
    what = "is a magnitude" if len(absolute) == 1 else "are magnitudes"
    text = (f"\n{len(absolute)} of these figures {what} ({labels}): the source drops the sign, so "
            "each is set beside the magnitude of ours.")
    if hidden:
        names = ", ".join(f"{fmt.esc(c.estimator)} on {c.split} ({fmt.num(c.ours)})"
                          for c in hidden)
        text += (f" For {len(hidden)} of them our correlation is negative, so the estimator "
                 f"ranks that benchmark backwards: {names}.")
    return text + "\n"


def section(site: Site, page: str) -> str:
    """The section of the estimators index: what the table shows, then the table (empty
    when no estimator cites a figure)."""
    found = comparisons(site)
    if not found:
        return ""
    n, inside, _, _ = summary(found)
    head = (f"## {HEADING}\n\n"
            "Every figure from the literature that an estimator's registration cites, beside "
            "our mean over seeds on the same benchmark: the full benchmark when we scored it, "
            "else our sample of it. The interval resamples our split's architectures "
            "(percentile bootstrap, 95 %); a published value outside it differs by more than "
            "our sample explains, and the source's tooltip (and the estimator's page) says "
            "what differs between the protocols. Nothing is tuned towards these numbers. "
            f"{inside} of the {n} figures with an interval beside them lie inside it.\n"
            + sign_sentence(found))
    data = (f"\n[Download the comparison as data (CSV)]({link(page, CSV)}): every digit, the "
            "seed std and the interval's bounds as numbers.\n")
    return head + "\n" + to_site(table_model(site), page) + data
