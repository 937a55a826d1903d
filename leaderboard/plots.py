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
    path.write_text(_renumber_ids(buf.getvalue()))
    return path


# matplotlib names clip paths, markers and hatches by a hash of full-precision floats (a
# transform's repr, a clip box), which can differ in the last digits between machines even
# when every drawn coordinate is the same: rebuilding the site elsewhere rewrote the ids.
_HASHED_ID = re.compile(r'id="([hmp][0-9a-f]{10})"')


def _renumber_ids(svg: str) -> str:
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
