"""Where the week's failures come from, for the digest: the checks' census of every reply, the worst
segments, and the help-centre articles to fix first (figures and their lines of text)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.redact import safe_mrkdwn, truncate
from bot.digest.articles import ArticleHealth, article_health
from bot.digest.census import Census, week_census
from bot.digest.estimate import Estimate
from bot.digest.segments import Segment, week_segments, worst
from bot.digest.text import pct, plural
from bot.views.defect import link

WORST_SEGMENTS = 5
ARTICLES_SHOWN = 5
CENSUS_WEEKS_SHOWN = 4  # weeks of each kind's trend written out (the chart has all of them)
DIMENSION_NAMES = {
    "intent": "Intent",
    "template": "Template",
    "channel": "Channel",
    "language": "Language",
    "article": "Article",
}
VALUE_MAX = 80


@dataclass(frozen=True)
class Breakdown:
    census: Census | None = None
    segments: list[Segment] = field(default_factory=list)
    articles: list[ArticleHealth] = field(default_factory=list)


async def compute_breakdown(
    session: AsyncSession, *, week: str, tz: ZoneInfo, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> Breakdown:
    census = await week_census(session, week, tz)
    segments = await week_segments(session, week)
    articles = await article_health(session, now=now, since=start, until=end)
    return Breakdown(census, segments, articles)


def _kind_name(kind: str) -> str:
    return kind.removeprefix("rule:").replace("_", " ").capitalize()


def census_title(census: Census, sample: Estimate) -> str:
    flagged, replies = census.flagged[-1], census.week_replies
    line = (
        f"*Checks on every reply (census)* — {plural(flagged, 'reply', 'replies')} of {replies:,} "
        f"flagged ({pct(census.share(census.flagged))})"
    )
    if sample.rate is not None:
        line += (
            f"; the reviewed sample estimates {pct(sample.rate)} defective (95% CI up to {pct(sample.high)})"
        )
    return line


def census_lines(census: Census) -> list[str]:
    """Each kind that found something in the trend's weeks: this week's count and share, and its trend."""
    lines = []
    for kind in census.kinds:
        if not any(kind.counts):
            continue
        recent = kind.counts[-CENSUS_WEEKS_SHOWN:]
        before = kind.counts[-2] if len(kind.counts) > 1 else 0
        arrow = "↑" if kind.counts[-1] > before else "↓" if kind.counts[-1] < before else "→"
        lines.append(
            f"• {safe_mrkdwn(_kind_name(kind.kind))}: *{kind.counts[-1]:,}* "
            f"({pct(census.share(kind.counts))}) {arrow} · last {len(recent)} weeks: "
            + " → ".join(f"{n:,}" for n in recent)
        )
    return lines or ["No check found anything in the last weeks."]


def segment_line(segment: Segment) -> str:
    e = segment.estimate
    name = DIMENSION_NAMES.get(segment.dimension, segment.dimension)
    value = safe_mrkdwn(truncate(segment.value, VALUE_MAX))
    line = (
        f"• {name} *{value}*: {pct(e.rate)} (95% CI {pct(e.low)} – {pct(e.high)}), "
        f"≈ {round(e.total):,} of {round(e.population):,} replies"
    )
    if segment.small:
        line += f" · _small n: {plural(segment.reviewed, 'reviewed item')}_"
    return line


def segment_lines(segments: list[Segment], reviewed: int | None = None) -> list[str]:
    return [segment_line(s) for s in worst(segments, WORST_SEGMENTS, reviewed)]


def article_line(article: ArticleHealth) -> str:
    name = truncate(article.article, VALUE_MAX)
    parts = [plural(article.defects, "defect"), plural(article.stale, "stale finding")]
    parts.append(f"cited by {plural(article.replies, 'reply', 'replies')}")
    if article.age_days is not None:
        parts.append(f"updated {plural(article.age_days, 'day')} ago")
    return f"• {link(article.url, name)} — " + ", ".join(parts)


def article_lines(articles: list[ArticleHealth]) -> list[str]:
    return [article_line(a) for a in articles if a.needs_fixing][:ARTICLES_SHOWN]
