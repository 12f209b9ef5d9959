"""The digest chart: the defect-rate trend with its 95% band, and this week's defects by category."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display, no GUI toolkit: safe in a server process

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bot.digest.rollup import Rollup, WeekRate

SEVERITY_COLOURS = {"low": "#9ecae1", "medium": "#4292c6", "high": "#fd8d3c", "critical": "#d7301f"}


def render_chart(rollup: Rollup) -> bytes:
    """PNG bytes; the same rollup always gives the same bytes."""
    figure = Figure(figsize=(10, 4), dpi=100)
    trend, categories = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    _trend(trend, rollup.trend)
    _categories(categories, rollup.by_category)
    figure.suptitle(f"AI support audit — {rollup.week}", fontsize=12)
    figure.tight_layout()
    buffer = io.BytesIO()
    # no Software/date metadata, so the bytes do not change with the matplotlib version or the clock
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _trend(ax, weeks: Sequence[WeekRate]) -> None:  # type: ignore[no-untyped-def]
    labels = [w.week[-3:] for w in weeks]
    xs = list(range(len(weeks)))
    known = [(x, w.estimate) for x, w in zip(xs, weeks, strict=True) if w.estimate.rate is not None]
    if known:
        kx = [x for x, _ in known]
        ax.fill_between(
            kx, [100 * (e.low or 0) for _, e in known], [100 * (e.high or 0) for _, e in known],
            color="#4292c6", alpha=0.25, linewidth=0, label="95% interval",
        )  # fmt: skip
        rates = [100 * (e.rate or 0) for _, e in known]
        # error bars too, so a week without neighbours still shows its interval
        below = [r - 100 * (e.low or 0) for r, (_, e) in zip(rates, known, strict=True)]
        above = [100 * (e.high or 0) - r for r, (_, e) in zip(rates, known, strict=True)]
        ax.errorbar(
            kx, rates, yerr=[below, above], marker="o", color="#08519c", capsize=3, label="estimated rate"
        )
        raw = [(x, w.raw_rate) for x, w in zip(xs, weeks, strict=True) if w.raw_rate is not None]
        ax.plot(
            [x for x, _ in raw], [100 * r for _, r in raw], linestyle="--", marker="x", color="#969696",
            label="raw (reviewed items)",
        )  # fmt: skip
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    else:
        ax.text(0.5, 0.5, "no reviewed samples yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks(xs, labels)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("defective replies (%)")
    ax.set_title("Defect rate of all AI replies", fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def _categories(ax, rows: Sequence[tuple[str, str, int]]) -> None:  # type: ignore[no-untyped-def]
    totals: dict[str, int] = {}
    for category, _, count in rows:
        totals[category] = totals.get(category, 0) + count
    names = sorted(totals, key=lambda c: (-totals[c], c))[:8]
    if not names:
        ax.text(0.5, 0.5, "no defects filed", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    ys = list(range(len(names)))[::-1]
    left = [0] * len(names)
    for severity, colour in SEVERITY_COLOURS.items():
        counts = [sum(n for c, s, n in rows if c == name and s == severity) for name in names]
        if any(counts):
            ax.barh(ys, counts, left=left, color=colour, label=severity)
            left = [a + b for a, b in zip(left, counts, strict=True)]
    ax.set_yticks(ys, [name.replace("_", " ") for name in names], fontsize=8)
    ax.set_xlabel("defects filed this week")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Defects by category", fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
