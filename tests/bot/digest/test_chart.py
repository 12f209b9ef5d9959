"""The digest chart, inspected as matplotlib objects before rendering (axes, formatters, legends)."""

from __future__ import annotations

import dataclasses

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import PercentFormatter

from bot.digest.chart import build_figure, render_chart
from bot.digest.estimate import Estimate
from bot.digest.rollup import WeekRate
from tests.bot.digest.test_breakdown import breakdown
from tests.bot.digest.test_message import make_rollup


def extents(figure: Figure):  # type: ignore[no-untyped-def]
    return FigureCanvasAgg(figure).get_renderer()


def test_trend_band_census_and_categories_on_percent_axes_with_legends_clear_of_the_data() -> None:
    rollup = make_rollup()
    census = breakdown().census
    figure = build_figure(rollup, census)
    trend, checks, categories = figure.axes
    renderer = extents(figure)
    for ax in (trend, checks):
        assert isinstance(ax.yaxis.get_major_formatter(), PercentFormatter)
        assert float(ax.yaxis.get_major_formatter()(5.0).removesuffix("%")) == 5.0
    # the band: one filled polygon spanning the weeks with an estimate, from low to high in percent
    (band,) = [c for c in trend.collections if isinstance(c, PolyCollection)]
    ys = band.get_paths()[0].vertices[:, 1]
    assert min(ys) == rollup.rate.estimate.low * 100 and max(ys) == rollup.rate.estimate.high * 100  # type: ignore[operator]
    assert trend.get_ylim()[1] >= rollup.rate.estimate.high * 100  # type: ignore[operator]
    # the census: one line per kind that found something, its share of each week's replies
    lines = {line.get_label(): list(line.get_ydata()) for line in checks.get_lines()}
    assert set(lines) == {"placeholder leak", "stale kb"}
    assert lines["placeholder leak"][-1] == 100 * 42 / 2000
    assert [t.get_text() for t in categories.get_yticklabels()] == ["Template error", "Tone"]
    for ax in (trend, checks, categories):
        legend = ax.get_legend()
        assert legend is not None
        box = legend.get_window_extent(renderer)
        assert box.y1 <= ax.get_window_extent(renderer).y0  # under the axes: covers no bar or point
        for bar in (p for p in ax.patches if isinstance(p, Rectangle)):
            assert not box.overlaps(bar.get_window_extent(renderer))


def test_without_data_the_rate_axes_still_read_in_percent() -> None:
    rollup = make_rollup()
    nothing = Estimate(None, None, None, 0.0, 0, 0, 0.0)
    rollup = dataclasses.replace(
        rollup, trend=[WeekRate(w.week, nothing) for w in rollup.trend], by_category=[]
    )
    census = dataclasses.replace(breakdown().census, kinds=[])  # type: ignore[type-var]
    trend, checks, categories = build_figure(rollup, census).axes
    for ax in (trend, checks):
        assert isinstance(ax.yaxis.get_major_formatter(), PercentFormatter)
        assert ax.get_ylim() == (0.0, 5.0)
        assert [t.get_text() for t in ax.texts] in (["no reviewed samples yet"], ["no check found anything"])
    assert not categories.axison


def test_the_same_figures_give_the_same_png() -> None:
    rollup, census = make_rollup(), breakdown().census
    png = render_chart(rollup, census)
    assert png.startswith(b"\x89PNG") and png == render_chart(rollup, census)
