"""The per-space speed table of ``docs/speed.md``, from throughput benchmark summaries.

``pytest benchmarks/test_throughput.py -m bench --bench-split=S`` writes one summary JSON per
split. This collects several (one per space) into one Markdown table: per estimator and split,
the median seconds per cell, the mean's ratio to the estimator's floor, and the peak resident
memory of its sweep. With ``--write docs/speed.md`` it replaces the text between the markers
``<!-- speed-table:start -->`` and ``<!-- speed-table:end -->``::

    python -m benchmarks.speed_table benchmarks/results/cpu-*-2026-12-05.json \\
        --write docs/speed.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.conftest import FLOOR_LABELS, FLOOR_OF

START, END = "<!-- speed-table:start -->", "<!-- speed-table:end -->"


def _floor(name: str, st: dict) -> str:
    return FLOOR_OF.get(name) or st["floor"]


def table(summaries: list[dict]) -> str:
    """One Markdown table over the splits of ``summaries`` (in the order given)."""
    splits = [s["split"] for s in summaries]
    names = sorted({n for s in summaries for n in s["estimators"]})
    head = ["estimator", "floor"] + [f"{sp}: s/cell (× floor), peak MB" for sp in splits]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---", "---"] + ["---:"] * len(splits)) + "|"]
    floor_rows = []
    for floor in FLOOR_LABELS:
        cells = []
        for s in summaries:
            st = s["floors"].get(floor)
            cells.append("—" if st is None else
                         f"{st['per_cell_median_s']:.2f} s, {st['peak_rss_mb']:.0f} MB")
        floor_rows.append(f"| *floor: {FLOOR_LABELS[floor]}* | | " + " | ".join(cells) + " |")
    for name in names:
        cells, floors = [], set()
        for s in summaries:
            st = s["estimators"].get(name)
            if st is None:
                cells.append("—")
                continue
            which = _floor(name, st)
            floors.add(which)
            ref = s["floors"].get(which)
            ratio = (st["per_cell_mean_s"] / ref["per_cell_mean_s"]
                     if ref and ref["per_cell_mean_s"] else None)
            cells.append(f"{st['per_cell_median_s']:.2f} s "
                         f"({'—' if ratio is None else f'{ratio:.2f}×'}), "
                         f"{st['peak_rss_mb']:.0f} MB")
        label = ", ".join(FLOOR_LABELS[f] for f in sorted(floors))
        lines.append(f"| `{name}` | {label} | " + " | ".join(cells) + " |")
    meta = summaries[0]
    caption = (f"Measured {meta['date'][:10]} on {meta['device_name']} ({meta['device']}, "
               f"{meta['threads']} thread), torch {meta['torch']}, batch {meta['batch_size']}, "
               "seed 20; cells per split: "
               + ", ".join(f"{s['split']} {s['cells']}" for s in summaries)
               + " (`random_subset(len(split), N, seed=20)`). The ratio compares mean seconds "
                 "per cell with the floor's on the same cells; peak MB is the sweep's peak "
                 "resident set, interpreter and torch (about 440 MB) included.")
    return caption + "\n\n" + "\n".join(lines[:2] + floor_rows + lines[2:]) + "\n"


def write_into(doc: Path, text: str) -> None:
    """Replace the marked block of ``doc`` with ``text``."""
    body = doc.read_text()
    if START not in body or END not in body:
        raise SystemExit(f"{doc}: no {START} ... {END} block to replace")
    before, rest = body.split(START, 1)
    _, after = rest.split(END, 1)
    doc.write_text(f"{before}{START}\n{text}{END}{after}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.speed_table", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("summaries", nargs="+", type=Path, help="benchmark summary JSON files")
    ap.add_argument("--write", type=Path, default=None,
                    help="replace the marked block of this Markdown file (docs/speed.md)")
    args = ap.parse_args(argv)
    text = table([json.loads(p.read_text()) for p in args.summaries])
    if args.write is None:
        sys.stdout.write(text)
    else:
        write_into(args.write, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
