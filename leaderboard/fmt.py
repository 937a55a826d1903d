"""Formatting helpers shared by the page writers: numbers, Markdown tables, headers, labels."""

from __future__ import annotations

import html
import re
import urllib.parse
from collections.abc import Sequence

from tabulate import tabulate

from leaderboard import GENERATED_BY

MISSING = "—"


def generated_header(title: str, source: str = "leaderboard/results",
                     hide: Sequence[str] = ()) -> str:
    """YAML front matter that opens every generated page: the generated-file note (as YAML
    comments, so it shows in the source but not on the site), the page title, and Material's
    ``hide`` list."""
    lines = [
        "---",
        f"# GENERATED FILE: written by `{GENERATED_BY}` from {source}.",
        "# Do not edit it by hand; change leaderboard/ (or the results) and rebuild.",
        f"title: {_yaml_str(title)}",
    ]
    if hide:
        lines.append("hide:")
        lines += [f"  - {h}" for h in hide]
    lines.append("---")
    return "\n".join(lines) + "\n"


def _yaml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def num(x: float | None, digits: int = 3) -> str:
    """``x`` with ``digits`` decimals, ``—`` for ``None``; never prints ``-0.000``."""
    if x is None:
        return MISSING
    text = f"{x:.{digits}f}"
    if re.fullmatch(r"-0\.?0*", text):
        text = text[1:]
    return text


def pm(mean: float | None, std: float | None, digits: int = 3) -> str:
    """``mean ± std`` (just the mean when the std is undefined)."""
    if mean is None:
        return MISSING
    if std is None:
        return num(mean, digits)
    return f"{num(mean, digits)} ± {num(std, digits)}"


def seconds(x: float | None) -> str:
    """A duration in seconds with three significant digits."""
    if x is None:
        return MISSING
    if x == 0:
        return "0"
    return f"{x:.3g}" if x < 1000 else f"{x:.0f}"


def esc(text: object) -> str:
    """Text safe inside a Markdown table cell (HTML-escaped, pipes escaped, one line)."""
    out = html.escape(str(text), quote=True).replace("|", "&#124;")
    return " ".join(out.split())


def safe_url(url: object) -> str | None:
    """``url`` if it is a plain http(s) address (percent-encoding what Markdown or HTML would
    read as syntax), else ``None``: a ``javascript:`` or ``data:`` link from a submission's
    metadata must never reach a page."""
    text = str(url or "").strip()
    if not re.fullmatch(r"https?://[^\s]+", text, flags=re.IGNORECASE):
        return None
    return urllib.parse.quote(text, safe=":/?#[]@!$&'*+,;=%~-._")


def paper_link(paper: dict | None, missing: str) -> str:
    """``[title](url)`` of a results file's paper (title escaped; a URL that is not plain
    http(s) is left out), or ``missing``."""
    if not paper:
        return missing
    url = safe_url(paper.get("url"))
    title = esc(paper.get("title", ""))
    return f"[{title}]({url})" if url else title


def fenced(text: str, lang: str = "") -> str:
    """``text`` as a fenced code block whose fence is longer than any backtick run inside,
    so that the text cannot close it and reach the page as Markdown or HTML."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}\n"


def code(text: object) -> str:
    """Inline code that survives a table cell (``|`` would split the cell)."""
    return f"<code>{esc(text)}</code>"


def tip(text: str, title: str) -> str:
    """``text`` with a hover tooltip (``title`` is escaped)."""
    return f'<span title="{esc(title)}">{text}</span>'


def small(text: str) -> str:
    return f"<small>{text}</small>"


def nowrap(text: str) -> str:
    """Markdown ``text`` kept on one line by the stylesheet: a short name such as a kind
    (``zero-shot``) or a split (``nb201-c10-1k``), which a narrow table column would otherwise
    break at its hyphens."""
    return f'<span class="lb-nowrap">{text}</span>'


def table(headers: Sequence[str], rows: Sequence[Sequence[str]],
          align: Sequence[str] | None = None) -> str:
    """A pipe (GitHub-flavoured) Markdown table; cells are used verbatim.

    Args:
        headers: column titles.
        rows: cell strings (already formatted and escaped).
        align: ``"left"``, ``"right"`` or ``"center"`` per column (default: left).
    """
    if not rows:
        rows = [[MISSING] * len(headers)]
    return tabulate([list(r) for r in rows], headers=list(headers), tablefmt="pipe",
                    disable_numparse=True,
                    colalign=list(align) if align else None) + "\n"


# --------------------------------------------------------------------------------------------
# metric labels and order
# --------------------------------------------------------------------------------------------

_PCT = re.compile(r"^(p_top|p_bottom|kendall_top|br|wr|ndcg_exp|ndcg)_(\d+(?:_\d+)?)$")
_FAMILY_ORDER = ("p_top", "p_bottom", "kendall_top", "br", "wr", "ndcg_exp", "ndcg")
_FAMILY_LABEL = {
    "p_top": "P@top {p} %",
    "p_bottom": "P@bottom {p} %",
    "kendall_top": "Kendall τ in predicted top {p} %",
    "br": "BR@{p} %",
    "wr": "WR@{p} %",
    "ndcg_exp": "nDCG@{p} % (gain 2^acc − 1)",
    "ndcg": "nDCG@{p} % (linear gain)",
}
_PLAIN = {"pearson": "Pearson r", "kendall": "Kendall τ", "spearman": "Spearman ρ"}
LOWER_IS_BETTER = ("br", "wr")


def metric_label(key: str) -> str:
    """Human label of a metric key of :func:`harness.metrics.all_metrics`."""
    if key in _PLAIN:
        return _PLAIN[key]
    m = _PCT.match(key)
    if m:
        return _FAMILY_LABEL[m.group(1)].format(p=m.group(2).replace("_", "."))
    return key


def _percent(key: str) -> float:
    m = _PCT.match(key)
    return float(m.group(2).replace("_", ".")) if m else 0.0


def metric_order(keys: Sequence[str]) -> list[str]:
    """Correlations first, then each top-K family by increasing K, then anything unknown."""
    plain = [k for k in _PLAIN if k in keys]
    fam = []
    for family in _FAMILY_ORDER:
        members = [k for k in keys if (m := _PCT.match(k)) and m.group(1) == family]
        fam += sorted(members, key=_percent)
    rest = sorted(k for k in keys if k not in plain and k not in fam)
    return plain + fam + rest


def lower_is_better(key: str) -> bool:
    m = _PCT.match(key)
    return bool(m) and m.group(1) in LOWER_IS_BETTER
