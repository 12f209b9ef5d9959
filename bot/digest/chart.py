"""The digest chart: the defect-rate trend with its 95% band, the checks' census per kind over the same
weeks, and this week's defects by category.

`build_figure` returns the matplotlib Figure (tests inspect its axes, formatters and legends);
`render_chart` draws it to PNG bytes. Rates are on a percent axis whether or not there is data,
and every legend sits outside its axes, under them, so it never covers a bar or a point.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display, no GUI toolkit: safe in a server process

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from bot.digest.census import Census
from bot.digest.rollup import Rollup, WeekRate
from bot.views.review import category_label

SEVERITY_COLOURS = {"low": "#9ecae1", "medium": "#4292c6", "high": "#fd8d3c", "critical": "#d7301f"}
KIND_COLOURS = ("#6a51a3", "#e6550d", "#31a354", "#3182bd", "#de2d26", "#756bb1", "#636363", "#fdae6b")
EMPTY_PERCENT_TOP = 5.0  # a rate axis with nothing to show still reads 0%–5%
LEGEND_BELOW = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.16), "frameon": False}


def build_figure(rollup: Rollup, census: Census | None = None) -> Figure:
    """The chart's figure, laid out (three panels when there is a census, two otherwise)."""
    panels = 3 if census is not None else 2
    figure = Figure(figsize=(14 if census is not None else 10, 4.6), dpi=100)
    ratios = [3, 3, 2] if census is not None else [3, 2]
    axes = figure.subplots(1, panels, gridspec_kw={"width_ratios": ratios})
    _trend(axes[0], rollup.trend)
    if census is not None:
        _census(axes[1], census)
    _categories(axes[-1], rollup.by_category)
    figure.suptitle(f"AI support audit — {rollup.week}", fontsize=12)
    figure.tight_layout()
    return figure


def render_chart(rollup: Rollup, census: Census | None = None) -> bytes:
    """PNG bytes; the same figures always give the same bytes."""
    buffer = io.BytesIO()
    # no Software/date metadata, so the bytes do not change with the matplotlib version or the clock
    build_figure(rollup, census).savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _percent_axis(ax: Axes, top: float) -> None:
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=100, decimals=None))
    ax.set_ylim(0, top * 1.15 if top > 0 else EMPTY_PERCENT_TOP)


def _trend(ax: Axes, weeks: Sequence[WeekRate]) -> None:
    labels = [w.week[-3:] for w in weeks]
    xs = list(range(len(weeks)))
    known = [(x, w.estimate) for x, w in zip(xs, weeks, strict=True) if w.estimate.rate is not None]
    top = 0.0
    if known:
        kx = [x for x, _ in known]
        lows = [100 * (e.low or 0) for _, e in known]
        highs = [100 * (e.high or 0) for _, e in known]
        ax.fill_between(kx, lows, highs, color="#4292c6", alpha=0.25, linewidth=0, label="95% interval")
        rates = [100 * (e.rate or 0) for _, e in known]
        # error bars too, so a week without neighbours still shows its interval
        below = [r - low for r, low in zip(rates, lows, strict=True)]
        above = [high - r for r, high in zip(rates, highs, strict=True)]
        ax.errorbar(
            kx, rates, yerr=[below, above], marker="o", color="#08519c", capsize=3, label="estimated rate"
        )
        raw = [(x, w.raw_rate) for x, w in zip(xs, weeks, strict=True) if w.raw_rate is not None]
        ax.plot(
            [x for x, _ in raw], [100 * r for _, r in raw], linestyle="--", marker="x", color="#969696",
            label="raw (reviewed items)",
        )  # fmt: skip
        top = max([*highs, *(100 * r for _, r in raw)])
        ax.legend(fontsize=8, ncol=3, **LEGEND_BELOW)
    else:
        ax.text(0.5, 0.5, "no reviewed samples yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks(xs, labels)
    _percent_axis(ax, top)
    ax.set_ylabel("defective replies")
    ax.set_title("Defect rate of all AI replies (sample estimate)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def _census(ax: Axes, census: Census) -> None:
    xs = list(range(len(census.weeks)))
    top = 0.0
    shown = [k for k in census.kinds if any(k.counts)][: len(KIND_COLOURS)]
    for kind, colour in zip(shown, KIND_COLOURS, strict=False):
        shares = [100 * (census.share(kind.counts, i) or 0.0) for i in xs]
        ax.plot(xs, shares, marker=".", color=colour, label=kind.kind.replace("_", " "))
        top = max(top, *shares)
    if shown:
        ax.legend(fontsize=7, ncol=3, **LEGEND_BELOW)
    else:
        ax.text(0.5, 0.5, "no check found anything", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks(xs, [w[-3:] for w in census.weeks])
    _percent_axis(ax, top)
    ax.set_ylabel("replies with a finding")
    ax.set_title("Checks on every reply (census), per kind", fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def _categories(ax: Axes, rows: Sequence[tuple[str, str, int]]) -> None:
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
    ax.set_yticks(ys, [category_label(name) for name in names], fontsize=8)
    ax.set_xlabel("defects filed this week")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Defects by category", fontsize=10)
    ax.legend(fontsize=7, ncol=4, **{**LEGEND_BELOW, "bbox_to_anchor": (0.5, -0.22)})
