"""Leaderboard figures, written as deterministic SVG.

Figures are made with :class:`matplotlib.figure.Figure` directly (no pyplot, no GUI backend;
Agg where a backend is needed), with a fixed ``svg.hashsalt``, text kept as text and no date
in the metadata, and hashed element ids renumbered, so the same numbers give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import io  # noqa: E402
import re  # noqa: E402

import numpy as np  # noqa: E402
from matplotlib import rc_context  # noqa: E402
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure  # noqa: E402

RC = {
    "svg.hashsalt": "estbench-leaderboard",
    "svg.fonttype": "none",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
METADATA = {"Date": None, "Creator": "estbench leaderboard (matplotlib)"}
ACCENT = "#3f51b5"
MUTED = "#9e9e9e"


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as SVG (deterministic) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    with rc_context(RC):
        fig.savefig(buf, format="svg", metadata=METADATA)
    path.write_text(renumber_svg_ids(buf.getvalue()))
    return path


# matplotlib names clip paths, markers and hatches by a hash of full-precision floats (a
# transform's repr, a clip box), which can differ in the last digits between machines even
# when every drawn coordinate is the same: rebuilding the site elsewhere rewrote the ids.
_HASHED_ID = re.compile(r'id="([hmp][0-9a-f]{10})"')


def renumber_svg_ids(svg: str) -> str:
    """Replace matplotlib's hashed element ids by ``<kind><n>`` in order of definition."""
    names: dict[str, str] = {}
    counts: dict[str, int] = {}
    for old in _HASHED_ID.findall(svg):
        if old not in names:
            names[old] = f"{old[0]}{counts.get(old[0], 0)}"
            counts[old[0]] = counts.get(old[0], 0) + 1
    if not names:
        return svg
    return re.sub(r"\b(" + "|".join(map(re.escape, names)) + r")\b",
                  lambda m: names[m.group(1)], svg)


def _figure(w: float, h: float, ncols: int = 1) -> tuple[Figure, list]:
    with rc_context(RC):
        fig = Figure(figsize=(w, h), layout="constrained")
        axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def rank_scatter(truth_rank: np.ndarray, score_rank: np.ndarray, title: str,
                 tau: float | None) -> Figure:
    """Score rank vs. true-accuracy rank (both 0..1, 1 = best), one point per architecture."""
    with rc_context(RC):
        fig, (ax,) = _figure(4.6, 4.2)
        ax.scatter(truth_rank, score_rank, s=6, alpha=0.55, color=ACCENT, linewidths=0)
        ax.plot([0, 1], [0, 1], color=MUTED, lw=1, ls="--", label="perfect ranking")
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("true accuracy rank (1 = best)")
        ax.set_ylabel("score rank, mean over seeds (1 = best)")
        sub = f"Kendall τ = {tau:.3f} (mean over seeds)" if tau is not None else ""
        ax.set_title(f"{title}\n{sub}" if sub else title)
        ax.legend(loc="upper left", frameon=False)
    return fig


def topk_curves(curves: dict[str, np.ndarray], title: str) -> Figure:
    """P@topK and BR@K against K (percent, log scale): mean over seeds, min–max band."""
    pct = curves["percent"]
    with rc_context(RC):
        fig, (ax1, ax2) = _figure(8.4, 3.4, ncols=2)
        panels = ((ax1, "p_top", "P@topK (higher is better)"),
                  (ax2, "br", "BR@K: best true rank / N (lower is better)"))
        for ax, key, label in panels:
            vals = curves[key]
            ok = ~np.all(np.isnan(vals), axis=0)
            if ok.any():
                mean = np.nanmean(vals[:, ok], axis=0)
                ax.fill_between(pct[ok], np.nanmin(vals[:, ok], axis=0),
                                np.nanmax(vals[:, ok], axis=0), color=ACCENT, alpha=0.15,
                                linewidth=0)
                ax.plot(pct[ok], mean, marker="o", ms=3, color=ACCENT, label="estimator")
                rnd = curves[f"{key}_random"]
                ax.plot(pct[ok], rnd[ok], color=MUTED, ls="--", lw=1, label="random ranking")
            ax.set_xscale("log")
            ax.set_xlabel("K (% of the split)")
            ax.set_ylabel(label)
            ax.set_xticks(pct[ok] if ok.any() else pct)
            ax.set_xticklabels([f"{p:g}" for p in (pct[ok] if ok.any() else pct)])
            ax.minorticks_off()
            if key == "br":
                ax.set_yscale("log")
            ax.legend(frameon=False, loc="best")
        fig.suptitle(title)
    return fig


def complexity_bias(quintiles: Sequence[dict], overall_tau: float | None,
                    params_tau: float | None, title: str) -> Figure:
    """Kendall τ with the ground truth inside each parameter-count quintile (bars)."""
    with rc_context(RC):
        fig, (ax,) = _figure(5.6, 3.4)
        xs = np.arange(len(quintiles))
        taus = [q.get("kendall") for q in quintiles]
        heights = [0.0 if t is None else t for t in taus]
        ax.bar(xs, heights, color=[ACCENT if t is not None else MUTED for t in taus], width=0.6)
        for x, t in zip(xs, taus):
            label = "n/a" if t is None else f"{t:.2f}"
            ax.annotate(label, (x, 0.0 if t is None else t), ha="center",
                        va="bottom" if (t or 0) >= 0 else "top", fontsize=8,
                        xytext=(0, 2 if (t or 0) >= 0 else -2), textcoords="offset points")
        if overall_tau is not None:
            ax.axhline(overall_tau, color="#e65100", lw=1.2, ls="--",
                       label=f"overall τ = {overall_tau:.3f}")
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xticks(xs)
        ax.set_xticklabels([_quintile_label(q) for q in quintiles], fontsize=7)
        ax.set_xlabel("parameter-count quintile (range in millions)")
        ax.set_ylabel("Kendall τ with true accuracy")
        ax.set_ylim(-1.05, 1.05)
        sub = f"τ(score, #params) = {params_tau:.3f}" if params_tau is not None else ""
        ax.set_title(f"{title}\n{sub}" if sub else title)
        if overall_tau is not None:
            ax.legend(frameon=False, loc="lower right")
    return fig


def training_curve(points: Sequence[dict], title: str) -> Figure:
    """Kendall τ and P@top-5 % against the training checkpoint, one line per seed."""
    with rc_context(RC):
        fig, (ax1, ax2) = _figure(8.4, 3.2, ncols=2)
        seeds = sorted({p["seed"] for p in points})
        for ax, key, label in ((ax1, "kendall", "Kendall τ with true accuracy"),
                               (ax2, "p_top_5", "P@top-5 %")):
            for seed in seeds:
                mine = sorted((p for p in points if p["seed"] == seed),
                              key=lambda p: p["checkpoint"])
                xs = [p["checkpoint"] for p in mine if p.get(key) is not None]
                ys = [p[key] for p in mine if p.get(key) is not None]
                ax.plot(xs, ys, marker="o", ms=4, color=ACCENT, alpha=0.8,
                        label=f"seed {seed}")
            ax.axhline(0, color="black", lw=0.6)
            ax.set_xlabel("checkpoint (training epoch)")
            ax.set_ylabel(label)
            ax.legend(frameon=False, loc="best")
        fig.suptitle(title)
    return fig


def _quintile_label(q: dict) -> str:
    rng = q.get("params_range")
    head = f"Q{q.get('quintile', '?')}"
    if not rng:
        return head
    return f"{head}\n{rng[0] / 1e6:.3g}–{rng[1] / 1e6:.3g}"


def truth_histogram(truth: np.ndarray, title: str, xlabel: str) -> Figure:
    """Distribution of the split's ground truth."""
    with rc_context(RC):
        fig, (ax,) = _figure(5.6, 3.0)
        ax.hist(truth, bins=min(40, max(5, len(truth) // 10)), color=ACCENT, alpha=0.8)
        ax.axvline(float(np.median(truth)), color="#e65100", lw=1.2, ls="--",
                   label=f"median {np.median(truth):.2f}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("architectures")
        ax.set_title(title)
        ax.legend(frameon=False, loc="upper left")
    return fig


def tau_heatmap(names: Sequence[str], splits: Sequence[str], values: np.ndarray,
                title: str) -> Figure:
    """Estimators (rows) × splits (columns), colour = τ, each cell annotated with its value.

    Args:
        names: row labels, top to bottom.
        splits: column labels, left to right.
        values: ``(len(names), len(splits))`` τ, NaN where there is no result (left blank).
        title: figure title.
    """
    vals = np.asarray(values, dtype=np.float64)
    finite = vals[np.isfinite(vals)]
    # A symmetric range around 0, rounded up to 0.1, so a τ's colour does not depend on the
    # other estimators beyond that step, and negative τ reads as the opposite of positive.
    top = max(0.1, float(np.ceil(np.max(np.abs(finite)) * 10) / 10)) if len(finite) else 1.0
    norm = TwoSlopeNorm(vmin=-top, vcenter=0.0, vmax=top)
    with rc_context(RC | {"axes.grid": False}):
        fig, (ax,) = _figure(1.6 + 1.05 * len(splits), 1.2 + 0.26 * len(names))
        cmap = matplotlib.colormaps["RdBu"]
        image = ax.imshow(np.ma.masked_invalid(vals), cmap=cmap, norm=norm, aspect="auto")
        for i in range(vals.shape[0]):
            for j in range(vals.shape[1]):
                v = vals[i, j]
                if not np.isfinite(v):
                    continue
                dark = abs(v) > 0.6 * top  # white text on the saturated ends of the map
                label = f"{v:.2f}"
                ax.text(j, i, "0.00" if label == "-0.00" else label, ha="center",
                        va="center", fontsize=7.5, color="white" if dark else "black")
        ax.set_xticks(np.arange(len(splits)))
        ax.set_xticklabels(list(splits), rotation=30, ha="right")
        ax.set_yticks(np.arange(len(names)))
        ax.set_yticklabels(list(names))
        ax.tick_params(length=0)
        ax.grid(False)
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        fig.colorbar(image, ax=ax, label="Kendall τ", shrink=0.6)
        ax.set_title(title)
    return fig


KIND_COLORS = {"zero-shot": ACCENT, "one-shot": "#e65100", "baseline": "#616161"}


def tau_cost_scatter(points: Sequence[dict], title: str) -> Figure:
    """Kendall τ against seconds per architecture (log x), one labelled point per estimator.

    Args:
        points: one dict per estimator: ``name``, ``tau``, ``cost`` (s/arch, > 0), ``kind``,
            ``joint`` (cost from a joint run: hollow marker) and ``complete`` (only complete
            results form the frontier).
        title: figure title.
    """
    with rc_context(RC):
        fig, (ax,) = _figure(6.4, 4.4)
        kinds_seen = []
        ordered = sorted(points, key=lambda p: (-p["tau"], p["name"]))
        for p in ordered:
            color = KIND_COLORS.get(p["kind"], MUTED)
            if p["kind"] not in kinds_seen:
                kinds_seen.append(p["kind"])
            ax.scatter([p["cost"]], [p["tau"]], s=28, color=color if not p["joint"] else "white",
                       edgecolors=color, linewidths=1.2, zorder=3)
        costs = np.log10([p["cost"] for p in points])
        taus = np.array([p["tau"] for p in points])
        xlim = (costs.min() - 0.3, costs.max() + 0.6)
        ylim = (min(taus.min(), 0.0) - 0.06, taus.max() + 0.06)
        ax.set_xlim(10 ** xlim[0], 10 ** xlim[1])
        ax.set_ylim(*ylim)
        for p, (dx, dy, ha) in zip(ordered, _place_labels(ordered, xlim, ylim)):
            ax.annotate(p["name"], (p["cost"], p["tau"]), xytext=(dx, dy), ha=ha,
                        textcoords="offset points", fontsize=6.5, color="#333333")
        front = pareto_front(points)
        if len(front) >= 1:
            xs = [p["cost"] for p in front]
            ys = [p["tau"] for p in front]
            ax.step(xs, ys, where="post", color=MUTED, lw=1, ls="--", zorder=2,
                    label="frontier: no cheaper estimator is better")
        for kind in sorted(kinds_seen):
            ax.scatter([], [], s=28, color=KIND_COLORS.get(kind, MUTED), label=kind)
        ax.scatter([], [], s=28, color="white", edgecolors=MUTED, linewidths=1.2,
                   label="joint-run cost")
        ax.set_xscale("log")
        ax.set_xlabel("seconds per architecture and seed (log scale; one-shot: + training)")
        ax.set_ylabel("Kendall τ (mean over seeds)")
        ax.axhline(0, color="black", lw=0.6)
        ax.set_title(title)
        ax.legend(frameon=False, loc="best", fontsize=7)
    return fig


# Label offsets tried in turn (points; horizontal alignment): right-above, right-below,
# left-above, left-below, then further out.
_LABEL_OFFSETS = ((4, 3, "left"), (4, -9, "left"), (-4, 3, "right"), (-4, -9, "right"),
                  (4, 9, "left"), (4, -15, "left"), (-4, 9, "right"), (-4, -15, "right"))


def _place_labels(points: Sequence[dict], xlim: tuple[float, float],
                  ylim: tuple[float, float]) -> list[tuple[int, int, str]]:
    """A label offset per point that avoids the labels placed before it (greedy, in order).

    Boxes are estimated in points on a 6.4 × 4.4 in figure (axes about 5.3 × 3.6 in) with
    6.5 pt text, about 3.6 pt per character: deterministic and good enough to keep neighbours'
    names apart.
    """
    width_pt, height_pt = 5.3 * 72, 3.6 * 72
    placed: list[tuple[float, float, float, float]] = []
    out = []
    for p in points:
        x = (np.log10(p["cost"]) - xlim[0]) / (xlim[1] - xlim[0]) * width_pt
        y = (p["tau"] - ylim[0]) / (ylim[1] - ylim[0]) * height_pt
        w, h = 3.6 * len(p["name"]), 7.0
        choice = _LABEL_OFFSETS[0]
        for dx, dy, ha in _LABEL_OFFSETS:
            x0 = x + dx if ha == "left" else x + dx - w
            box = (x0, y + dy, x0 + w, y + dy + h)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                       for b in placed):
                choice = (dx, dy, ha)
                break
        dx, dy, ha = choice
        x0 = x + dx if ha == "left" else x + dx - w
        placed.append((x0, y + dy, x0 + w, y + dy + h))
        out.append(choice)
    return out


def pareto_front(points: Sequence[dict]) -> list[dict]:
    """The complete points that no cheaper (or equally cheap) complete point beats on τ,
    in increasing cost."""
    ordered = sorted((p for p in points if p.get("complete")),
                     key=lambda p: (p["cost"], -p["tau"], p["name"]))
    front: list[dict] = []
    for p in ordered:
        if not front or p["tau"] > front[-1]["tau"]:
            front.append(p)
    return front
