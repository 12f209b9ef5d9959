"""The weekly digest message: the honest defect rate, where it breaks, what got fixed, who did the work."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.core.redact import safe_mrkdwn, truncate
from bot.digest.breakdown import (
    Breakdown,
    article_lines,
    census_lines,
    census_title,
    segment_lines,
)
from bot.digest.rollup import Catch, CategoryRate, GroupLine, Listing, ReviewerWeek, Rollup
from bot.digest.text import duration, number, pct, plural
from bot.views.checks import CheckPrecision, precision_blocks
from bot.views.defect import link, mention
from bot.views.judge import CriterionAgreement, agreement_blocks, agreement_title
from bot.views.review import category_label
from bot.views.verification import FixesSummary, build_fixes_section

MAX_BLOCKS = 50
SECTION_MAX = 3000
TITLE_MAX = 120
NOTE_MAX = 300
REVIEWER_SECTIONS = 6  # 6 × 3000 chars: ~100 reviewers named before "and N more"
SEVERITY_ORDER = ("critical", "high", "medium", "low")
METHOD = (
    "Rate: stratified estimate over the week's daily samples (each reply counted in the week it was "
    "created), weighted back to all replies; 95% Wilson interval on the effective sample size. "
    "Replies affected and the estimates per category and per segment use the same weights (segments with "
    "fewer than 30 reviewed items are marked small n). Census: counts over every reply of the week, "
    "what the checks matched, not confirmed defects. Raw rate: share of reviewed items found defective "
    "(flagged replies are over-sampled, so it runs high)."
)


CHECKS_TITLE = "*Automatic checks* — findings this week, precision as reviewers judged them"


def week_span(rollup: Rollup, tz: ZoneInfo) -> str:
    first = rollup.start.astimezone(tz).date()
    last = (rollup.end.astimezone(tz) - dt.timedelta(days=1)).date()
    return f"{first:%-d %b} – {last:%-d %b %Y}"


def rate_text(rollup: Rollup) -> str:
    """The headline: estimated rate with its interval, what it covers, and the raw rate."""
    estimate = rollup.rate.estimate
    if estimate.rate is None:
        head = "*Estimated defect rate of all AI replies:* not enough reviews this week to estimate it."
    else:
        head = (
            f"*Estimated defect rate of all AI replies: {pct(estimate.rate)}* "
            f"(95% CI {pct(estimate.low)} – {pct(estimate.high)}), "
            f"≈ {number(estimate.total)} of {number(estimate.population)} replies"
        )
    raw = rollup.rate
    lines = [head, coverage_text(rollup)]
    lines.append(f"Raw rate of reviewed items: {pct(raw.raw_rate)} ({raw.defective} of {raw.reviewed})")
    return "\n".join(line for line in lines if line)


def coverage_text(rollup: Rollup) -> str:
    """ingested = estimated + uncovered + not yet sampled, with what each part means."""
    volume = rollup.volume
    if not volume.ingested:
        return ""
    if volume.estimated == volume.ingested:
        return f"_All {volume.ingested:,} replies of the week are in the estimate._"
    return (
        f"_{volume.ingested:,} replies = {volume.estimated:,} in the estimate"
        f" + {volume.uncovered:,} uncovered (sampled, nobody reviewed yet)"
        f" + {volume.not_sampled:,} not yet sampled (arrived after the last draw)._"
    )


def volume_fields(rollup: Rollup) -> list[MarkdownTextObject]:
    volume = rollup.volume
    return [
        MarkdownTextObject(text=f"*AI replies*\n{volume.ingested:,}"),
        MarkdownTextObject(text=f"*Sampled*\n{volume.sampled:,}"),
        MarkdownTextObject(text=f"*Reviewed*\n{volume.reviewed:,} ({pct(volume.coverage)} of replies)"),
        MarkdownTextObject(text=f"*Reviews pending*\n{volume.pending:,}"),
    ]


def trend_text(rollup: Rollup) -> str:
    points = [f"{w.week[-3:]} {pct(w.estimate.rate)}" for w in rollup.trend if w.estimate.rate is not None]
    return "*Trend (8 weeks):* " + (" → ".join(points) if points else "no estimate yet")


def category_lines(rows: Sequence[tuple[str, str, int]], rates: Sequence[CategoryRate] = ()) -> list[str]:
    """Defects filed per category (by severity), and the estimated replies of the week with each."""
    per: dict[str, dict[str, int]] = defaultdict(dict)
    for category, severity, count in rows:
        per[category][severity] = per[category].get(severity, 0) + count
    estimated = {r.category: r.estimate for r in rates if r.estimate.rate is not None}
    ordered = sorted(per.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    lines = []
    for category, severities in ordered:
        detail = ", ".join(f"{severities[s]} {s}" for s in SEVERITY_ORDER if s in severities)
        line = f"• {safe_mrkdwn(category_label(category))}: *{sum(severities.values())}* ({detail})"
        found = estimated.pop(category, None)
        if found is not None:
            line += f" · ≈ {number(found.total)} replies ({pct(found.rate)}, 95% CI up to {pct(found.high)})"
        lines.append(line)
    for category, found in estimated.items():  # found in this week's replies, filed earlier
        lines.append(
            f"• {safe_mrkdwn(category_label(category))}: ≈ {number(found.total)} replies "
            f"({pct(found.rate)}, 95% CI up to {pct(found.high)})"
        )
    return lines


def _title(group: GroupLine) -> str:
    return link(group.tracker_url, truncate(group.title, TITLE_MAX))


def top_group_lines(listing: Listing) -> list[str]:
    return [
        f"• {_title(g)} — {plural(g.occurrences, 'occurrence')} ({g.week_occurrences} this week), "
        f"≈ {number(g.affected)} replies affected · {g.status.replace('_', ' ')} · {mention(g.owner)}"
        for g in listing.rows
    ]


def fix_lines(listing: Listing) -> list[str]:
    return [
        f"• {_title(g)} — fixed in {duration(g.time_to_fix or dt.timedelta())} · "
        f"{plural(g.occurrences, 'occurrence')}, ≈ {number(g.affected)} replies"
        for g in listing.rows
    ]


def open_lines(rollup: Rollup) -> list[str]:
    lines = [
        f"• {mention(load.owner) if load.owner else 'unassigned'}: {load.groups:,} open, "
        f"{plural(load.occurrences, 'occurrence')}, oldest {duration(rollup.now - load.oldest)}"
        for load in rollup.open_by_owner
    ]
    return lines


def reviewer_line(r: ReviewerWeek) -> str:
    parts = [f"*{plural(r.reviews, 'review')}*", f"{plural(r.defects, 'defect')} caught"]
    if r.high_critical:
        parts.append(f"{r.high_critical} high/critical")
    if r.fixed_catches:
        parts.append(f"{plural(r.fixed_catches, 'catch', 'catches')} fixed this week")
    if r.agreement is not None:
        parts.append(f"calibration: agreed on {r.calibration_agreed} of {r.calibration_pairs}")
    if r.seconds:
        parts.append(f"~{duration(r.seconds)} given")
    return f"• <@{r.reviewer}> — " + " · ".join(parts)


def catch_text(catch: Catch) -> str:
    group = catch.group
    story = (
        f"*🏆 Catch of the week:* <@{catch.reviewer}> caught a *{catch.severity}* "
        f"{safe_mrkdwn(category_label(catch.category).lower())} problem: {_title(group)}."
    )
    if catch.note:
        story += f"\n> {truncate(safe_mrkdwn(' '.join(catch.note.split())), NOTE_MAX)}"
    reach = (
        f"\nIt affected an estimated {plural(round(group.affected), 'reply', 'replies')}"
        f" ({group.occurrences:,} found in review)"
    )
    if group.status == "fixed":
        reach += f", and it is fixed (in {duration(group.time_to_fix or dt.timedelta())})."
    else:
        reach += f"; {mention(group.owner)} has it ({group.status.replace('_', ' ')})."
    return story + reach


def sections(
    title: str, lines: Sequence[str], *, total: int | None = None, max_sections: int = 1
) -> list[Block]:
    """`title` and `lines` packed into sections of ≤3000 chars; what does not fit ends in "…and N more"."""
    total = len(lines) if total is None else total
    chunks: list[list[str]] = [[title]]
    size = len(title)
    shown = 0
    for line in lines:
        line = truncate(line, SECTION_MAX - 100)
        if size + len(line) + 1 > SECTION_MAX - 40:
            if len(chunks) == max_sections:
                break
            chunks.append([])
            size = 0
        chunks[-1].append(line)
        size += len(line) + 1
        shown += 1
    if total > shown:
        chunks[-1].append(f"…and {total - shown} more")
    return [SectionBlock(text=MarkdownTextObject(text="\n".join(chunk))) for chunk in chunks]


def breakdown_blocks(rollup: Rollup, breakdown: Breakdown | None) -> list[Block]:
    """The checks' census of every reply (beside the sample's estimate), the worst segments, and the
    help-centre articles to fix first."""
    if breakdown is None:
        return []
    blocks: list[Block] = []
    if breakdown.census is not None:
        blocks += sections(
            census_title(breakdown.census, rollup.rate.estimate), census_lines(breakdown.census)
        )
    worst = segment_lines(breakdown.segments, rollup.rate.reviewed)
    if worst:
        blocks += sections("*Where the AI fails most* — segments by estimated defect rate", worst)
    articles = article_lines(breakdown.articles)
    if articles:
        blocks += sections("*Help-centre articles to fix first*", articles)
    return blocks


def build_digest(
    rollup: Rollup,
    tz: ZoneInfo,
    judge: Sequence[CriterionAgreement] | None = None,
    checks: Sequence[CheckPrecision] = (),
    breakdown: Breakdown | None = None,
    fixes: FixesSummary | None = None,
) -> list[Block]:
    """The digest message blocks (≤ 50), every reviewer of the week named; the judge's agreement if on."""
    blocks: list[Block] = [
        HeaderBlock(text=f"📊 AI support audit — week {rollup.week}"),
        ContextBlock(elements=[MarkdownTextObject(text=f"{week_span(rollup, tz)} · {tz.key}")]),
        SectionBlock(text=MarkdownTextObject(text=rate_text(rollup)), fields=volume_fields(rollup)),
        SectionBlock(text=MarkdownTextObject(text=trend_text(rollup))),
    ]
    blocks += breakdown_blocks(rollup, breakdown)
    blocks.append(DividerBlock())
    if rollup.by_category or rollup.category_rates:
        blocks += sections(
            f"*Where it breaks* — {plural(rollup.defects_filed, 'defect')} filed",
            category_lines(rollup.by_category, rollup.category_rates),
        )
    if rollup.top_groups.rows:
        blocks += sections(
            "*Top root causes*", top_group_lines(rollup.top_groups), total=rollup.top_groups.total
        )
    fixed_title = f"*✅ Fixed this week* ({rollup.fixes.total})"
    blocks += sections(
        fixed_title, fix_lines(rollup.fixes) or ["Nothing fixed this week."], total=rollup.fixes.total or 1
    )
    blocks += build_fixes_section(fixes) if fixes is not None else []  # bot.digest.verified
    open_title = f"*Still open* — {plural(rollup.open_groups.total, 'root cause')}"
    blocks += sections(open_title, open_lines(rollup) or ["Nothing open. 🎉"])
    if judge is not None:
        blocks += agreement_blocks(judge, *agreement_title(judge))
    blocks.append(DividerBlock())
    if rollup.reviewers:
        people = [reviewer_line(r) for r in rollup.reviewers]
        title = f"*Who did the work* — {plural(len(people), 'reviewer')}"
        if rollup.agreement is not None:
            title += f", calibration agreement {pct(rollup.agreement)}"
        budget = min(REVIEWER_SECTIONS, MAX_BLOCKS - len(blocks) - 2)
        blocks += sections(title, people, max_sections=budget)
    else:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text="*Who did the work* — nobody reviewed this week."))
        )
    if rollup.catch is not None:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=truncate(catch_text(rollup.catch), SECTION_MAX)))
        )
    blocks += precision_blocks(checks, CHECKS_TITLE)[: max(0, MAX_BLOCKS - len(blocks) - 1)]
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=METHOD)]))
    return blocks[:MAX_BLOCKS]


def digest_text(rollup: Rollup) -> str:
    """The notification / fallback text."""
    estimate = rollup.rate.estimate
    rate = (
        f"{pct(estimate.rate)} (95% CI {pct(estimate.low)}–{pct(estimate.high)})"
        if estimate.rate is not None
        else "–"
    )
    return (
        f"AI support audit, week {rollup.week}: estimated defect rate {rate}; "
        f"{rollup.volume.reviewed} of {rollup.volume.ingested:,} replies reviewed; "
        f"{plural(rollup.fixes.total, 'fix', 'fixes')} shipped."
    )
