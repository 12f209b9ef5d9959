"""Article health: per help-centre article, the replies citing it, their confirmed defects, the stale
findings naming it, and how old it is.

An article is named by its `id` in the reply record's `kb_articles` (its URL when it has no id).
Over the replies created in [since, until): *replies* cite it; *defects* are the reviewers'
defects (not withdrawn) on those replies, whatever their category; *stale* counts the `stale_kb`
findings naming it; *updated* is the newest `updated_at` any citing reply carried, and *age* the
days from then to `now`. The articles to fix first have the most defects, then the most stale
findings, then the most citing replies.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.core.models import Defect, Finding, Reply
from bot.digest.segments import article_ids

R, F, D = Reply.__table__, Finding.__table__, Defect.__table__
STREAM_ROWS = 2000
WITHDRAWN = "withdrawn"


@dataclass
class ArticleHealth:
    article: str
    url: str | None = None
    updated: dt.date | None = None
    replies: int = 0
    defects: int = 0
    stale: int = 0
    age_days: int | None = None

    @property
    def needs_fixing(self) -> bool:
        return self.defects > 0 or self.stale > 0


def _date(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _window(column: sa.ColumnElement, since: dt.datetime | None, until: dt.datetime | None) -> list:
    conditions = []
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column < until)
    return conditions


async def article_health(
    conn: AsyncSession | AsyncConnection,
    *,
    now: dt.datetime,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[ArticleHealth]:
    """Every article cited by a reply created in [since, until), the ones to fix first first.

    The replies are streamed (their articles are JSON, read in Python on every database); defects
    and stale findings are counted per reply in the database first.
    """
    defects = dict(
        (
            await conn.execute(
                sa.select(D.c.reply_id, sa.func.count())
                .join(R, R.c.id == D.c.reply_id)
                .where(D.c.status != WITHDRAWN, *_window(R.c.created_at, since, until))
                .group_by(D.c.reply_id)
            )
        ).all()
    )
    stale: Counter[str] = Counter()
    findings = sa.select(F.c.evidence).join(R, R.c.id == F.c.reply_id)
    findings = findings.where(F.c.kind == "stale_kb", *_window(R.c.created_at, since, until))
    for (evidence,) in (await conn.execute(findings)).all():
        if isinstance(evidence, dict) and evidence.get("article_id"):
            stale[str(evidence["article_id"])] += 1
    health: dict[str, ArticleHealth] = {}
    cited = sa.select(R.c.id, R.c.kb_articles).where(
        R.c.kb_articles.is_not(None), *_window(R.c.created_at, since, until)
    )
    result = await conn.stream(cited.execution_options(yield_per=STREAM_ROWS))
    async for reply_id, articles in result:
        entries = {str(a.get("id") or a.get("url")): a for a in articles or () if isinstance(a, dict)}
        for key in article_ids(articles):
            row = health.setdefault(key, ArticleHealth(key))
            row.replies += 1
            row.defects += int(defects.get(reply_id, 0))
            entry = entries.get(key, {})
            row.url = row.url or entry.get("url")
            updated = _date(entry.get("updated_at"))
            if updated is not None and (row.updated is None or updated > row.updated):
                row.updated = updated
    for key, count in stale.items():
        health.setdefault(key, ArticleHealth(key)).stale = count
    today = now.date()
    for row in health.values():
        row.age_days = (today - row.updated).days if row.updated else None
    return sorted(health.values(), key=lambda a: (-a.defects, -a.stale, -a.replies, a.article))
