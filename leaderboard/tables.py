"""A leaderboard table as data, and its renderings: the site's Markdown, CSV, LaTeX, Markdown.

The home and split pages build a :class:`Table` once; the site and ``python -m leaderboard
export`` render that same object, so an export holds exactly the cells the site shows (the
visible text; tooltips and links exist only on the site).
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from tabulate import tabulate

from leaderboard import fmt
from leaderboard.site import link

FORMATS = ("csv", "latex", "markdown")


@dataclass(frozen=True)
class Cell:
    """One table cell.

    Attributes:
        text: the value shown (plain text, not escaped).
        note: secondary text shown after the value in small print (part of the visible text).
        title: hover tooltip (site only).
        href: link target, a path under ``docs/`` (site only).
        nowrap: a short name kept on one line (site only; see :func:`fmt.nowrap`).
    """

    text: str
    note: str = ""
    title: str = ""
    href: str | None = None
    nowrap: bool = False

    @property
    def plain(self) -> str:
        """The visible text: value and note."""
        return f"{self.text} {self.note}" if self.note else self.text


@dataclass(frozen=True)
class Column:
    """One column: its header (a :class:`Cell`, so it can link and have a tooltip) and
    alignment (``"left"``, ``"right"`` or ``"center"``)."""

    header: Cell
    align: str = "right"


@dataclass
class Table:
    """Columns and rows of cells (each row has one cell per column), and a plain-text legend
    that a standalone rendering (LaTeX, Markdown) prints under the table; the site explains
    its tables in the page text instead."""

    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    legend: str = ""

    def headers_plain(self) -> list[str]:
        return [c.header.plain for c in self.columns]

    def rows_plain(self) -> list[list[str]]:
        return [[cell.plain for cell in row] for row in self.rows]


def site_cell(cell: Cell, page: str) -> str:
    """A cell as Markdown/HTML for a page at ``page`` (links made relative to it)."""
    text = fmt.esc(cell.text)
    if cell.href is not None:
        text = f"[{text}]({link(page, cell.href)})"
    if cell.nowrap:
        text = fmt.nowrap(text)
    if cell.note:
        text += " " + fmt.small(fmt.esc(cell.note))
    if cell.title:
        text = fmt.tip(text, cell.title)
    return text


def to_site(table: Table, page: str) -> str:
    """The pipe table the MkDocs site renders (cells escaped, tooltips as ``title``)."""
    headers = [site_cell(c.header, page) for c in table.columns]
    body = [[site_cell(cell, page) for cell in row] for row in table.rows]
    return fmt.table(headers, body, [c.align for c in table.columns])


def to_csv(table: Table) -> str:
    """CSV (RFC 4180, ``\\n`` line ends) of the visible header and cell texts."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.headers_plain())
    writer.writerows(table.rows_plain())
    return buf.getvalue()


def to_markdown(table: Table) -> str:
    """A plain GitHub-flavoured Markdown table (no HTML), e.g. for a README or an issue."""
    def md(text: str) -> str:
        return text.replace("|", "\\|")

    rows = [[md(c) for c in r] for r in table.rows_plain()] or [[fmt.MISSING] * len(table.columns)]
    text = tabulate(rows, headers=[md(h) for h in table.headers_plain()], tablefmt="pipe",
                    disable_numparse=True,
                    colalign=[c.align for c in table.columns]) + "\n"
    return text + (f"\n{table.legend}\n" if table.legend else "")


# Characters of the site's cells that pdflatex cannot typeset from UTF-8 without extra
# packages, and their plain-LaTeX forms (so the output compiles in a minimal document).
_LATEX_SYMBOLS = {
    "τ": r"$\tau$", "ρ": r"$\rho$", "±": r"$\pm$", "—": "---", "–": "--", "↓": r"$\downarrow$",
    "↑": r"$\uparrow$", "†": r"$\dagger$", "‡": r"$\ddagger$", "✓": r"$\surd$",
    "◐": r"($\surd$)", "⚠": r"$\times$", "×": r"$\times$", "≈": r"$\approx$", "·": r"$\cdot$",
    "≤": r"$\leq$", "≥": r"$\geq$",
}
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}"}


def latex_escape(text: str) -> str:
    """``text`` safe in a LaTeX tabular cell: specials escaped, known symbols as math, other
    non-ASCII letters reduced to ASCII (accents dropped), anything else as ``?``."""
    out = []
    for ch in text:
        if ch in _LATEX_SPECIAL:
            out.append(_LATEX_SPECIAL[ch])
        elif ch in _LATEX_SYMBOLS:
            out.append(_LATEX_SYMBOLS[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            ascii_form = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(ascii_form or "?")
    return "".join(out)


def to_latex(table: Table, caption: str | None = None) -> str:
    """A ``tabular`` (with a ``table`` float when ``caption`` is given) that compiles with
    plain pdflatex: no packages needed, rules drawn with ``\\hline``."""
    spec = "".join({"left": "l", "right": "r", "center": "c"}.get(c.align, "l")
                   for c in table.columns)
    lines = [f"\\begin{{tabular}}{{{spec}}}", "\\hline",
             " & ".join(latex_escape(h) for h in table.headers_plain()) + r" \\", "\\hline"]
    lines += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in table.rows_plain()]
    lines += ["\\hline", "\\end{tabular}"]
    if table.legend:
        # Under the tabular, as wide as the text: what the marks and columns mean.
        lines += ["", "\\par\\smallskip", f"{{\\footnotesize {latex_escape(table.legend)}\\par}}"]
    if caption is None:
        return "\n".join(lines) + "\n"
    return "\n".join(["\\begin{table}[ht]", "\\centering", "\\small", *lines,
                      f"\\caption{{{latex_escape(caption)}}}", "\\end{table}"]) + "\n"


def render(table: Table, fmt_name: str, caption: str | None = None) -> str:
    """``table`` in one of :data:`FORMATS`."""
    if fmt_name == "csv":
        return to_csv(table)
    if fmt_name == "latex":
        return to_latex(table, caption)
    if fmt_name == "markdown":
        return to_markdown(table)
    raise ValueError(f"unknown format {fmt_name!r}; choose from {', '.join(FORMATS)}")


def columns(specs: Sequence[tuple[str, str, str]]) -> list[Column]:
    """Columns from ``(title, tooltip, align)`` triples."""
    return [Column(Cell(title, title=tip), align) for title, tip, align in specs]
