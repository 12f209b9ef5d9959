"""How far the judge agrees with the reviewers, criterion by criterion, on the replies both saw.

For a criterion mapped to category C, a reviewed reply (a sample item with an outcome) counts as
the reviewers' "fail" when its outcome is defect and a defect verdict names C, and as their "pass"
when its outcome is correct. A defect filed under another category says nothing about C (a
reviewer names one category), so that reply is left out. The judge's verdict is the newest one for
the criterion's current version and the configured model; "unsure" is counted apart, not in n.

Cohen's kappa measures agreement beyond chance; precision and recall treat "fail" as positive, with
95% Wilson intervals. A criterion is *trusted* once it has `min_reviews` compared replies and kappa
≥ `min_kappa`; only trusted criteria tilt the sample (bot.judge.tilt).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.config import AuditConfig
from bot.core.models import JudgeRun, Judgment, Review, SampleItem
from bot.core.proportions import cohen_kappa, wilson
from bot.judge.criteria import Criterion, criteria_for
from bot.views.judge import NOT_YET, TRUSTED, UNMEASURED, UNRELIABLE, CriterionAgreement

J, RUN, SI, RV = (m.__table__ for m in (Judgment, JudgeRun, SampleItem, Review))


@dataclass(frozen=True)
class Confusion:
    """Judge (rows) against reviewers (columns), "fail" being positive."""

    tp: int = 0  # both fail
    fp: int = 0  # judge fail, reviewers pass
    fn: int = 0  # judge pass, reviewers fail
    tn: int = 0  # both pass
    unsure: int = 0

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def add(self, judge: str, human: str, count: int = 1) -> Confusion:
        if judge == "unsure":
            return Confusion(self.tp, self.fp, self.fn, self.tn, self.unsure + count)
        cell = {
            ("fail", "fail"): "tp",
            ("fail", "pass"): "fp",
            ("pass", "fail"): "fn",
            ("pass", "pass"): "tn",
        }
        name = cell[(judge, human)]
        return Confusion(**{**self.__dict__, name: getattr(self, name) + count})


def measure(
    criterion: Criterion, counts: Confusion, config: AuditConfig, *, by_category: bool = True
) -> CriterionAgreement:
    """The agreement row of one criterion from its confusion counts (`by_category=False`: labels
    given per criterion, as in an offline evaluation, so no category is needed)."""
    judge = config.judge
    common = {"min_reviews": judge.min_reviews, "min_kappa": judge.min_kappa, "unsure": counts.unsure}
    if criterion.category is None and by_category:
        return CriterionAgreement(criterion.id, criterion.label, None, status=UNMEASURED, **common)
    kappa = cohen_kappa(counts.tp, counts.fp, counts.fn, counts.tn)
    precision = recall = precision_ci = recall_ci = None
    if counts.tp + counts.fp:
        precision = counts.tp / (counts.tp + counts.fp)
        precision_ci = wilson(precision, counts.tp + counts.fp)
    if counts.tp + counts.fn:
        recall = counts.tp / (counts.tp + counts.fn)
        recall_ci = wilson(recall, counts.tp + counts.fn)
    if counts.n < judge.min_reviews or kappa is None:
        status = NOT_YET  # too few, or no fail seen by either side: nothing measured yet
    else:
        status = TRUSTED if kappa >= judge.min_kappa else UNRELIABLE
    return CriterionAgreement(
        criterion.id,
        criterion.label,
        criterion.category,
        counts.n,
        kappa,
        precision,
        precision_ci,
        recall,
        recall_ci,
        status=status,
        **common,
    )


def _pairs_query(
    criteria: Sequence[Criterion], model: str, since: dt.datetime | None, until: dt.datetime | None
) -> sa.Select:
    """(criterion, judge verdict, item outcome, a defect verdict names the category, count)."""
    newer = J.alias("newer")
    newer_run = RUN.alias("newer_run")
    superseded = sa.exists().where(
        newer.c.reply_id == J.c.reply_id,
        newer.c.criterion == J.c.criterion,
        newer.c.criterion_version == J.c.criterion_version,
        newer.c.id > J.c.id,
        newer_run.c.id == newer.c.run_id,
        newer_run.c.model == model,
    )
    names_category = (
        sa.exists()
        .where(RV.c.item_id == SI.c.id, RV.c.verdict == "defect", RV.c.category == J.c.category)
        .label("named")
    )
    query = (
        sa.select(J.c.criterion, J.c.verdict, SI.c.outcome, names_category, sa.func.count().label("n"))
        .select_from(J.join(RUN, RUN.c.id == J.c.run_id).join(SI, SI.c.reply_id == J.c.reply_id))
        .where(
            RUN.c.model == model,
            RUN.c.status == "ok",
            SI.c.outcome.is_not(None),
            J.c.criterion_version.in_([c.version for c in criteria]),
            ~superseded,
        )
        .group_by(J.c.criterion, J.c.verdict, SI.c.outcome, names_category)
    )
    if since is not None:
        query = query.where(SI.c.reviewed_at >= since)
    if until is not None:
        query = query.where(SI.c.reviewed_at < until)
    return query


def human_label(outcome: str, named: bool) -> str | None:
    """The reviewers' verdict on a criterion of the item's category: fail, pass, or None (left out)."""
    if outcome == "correct":
        return "pass"
    return "fail" if named else None


async def confusions(
    session: AsyncSession,
    criteria: Sequence[Criterion],
    model: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> dict[str, Confusion]:
    measured = [c for c in criteria if c.category is not None]
    counts = {c.id: Confusion() for c in criteria}
    if not measured:
        return counts
    for criterion, verdict, outcome, named, n in await session.execute(
        _pairs_query(measured, model, since, until)
    ):
        human = human_label(outcome, bool(named))
        if human is not None and criterion in counts:
            counts[criterion] = counts[criterion].add(verdict, human, int(n))
    return counts


async def agreement(
    session: AsyncSession,
    config: AuditConfig,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[CriterionAgreement]:
    """One row per criterion in force, for replies reviewed in [since, until) (default: all)."""
    criteria = criteria_for(config)
    counts = await confusions(session, criteria, config.judge.model, since=since, until=until)
    return [measure(c, counts[c.id], config) for c in criteria]


def trusted(rows: Iterable[CriterionAgreement]) -> set[str]:
    return {row.criterion for row in rows if row.status == TRUSTED}


async def shown(
    session: AsyncSession, config: AuditConfig, *, until: dt.datetime | None = None
) -> list[CriterionAgreement] | None:
    """The rows the digest and App Home show; None while the judge is off and has never run."""
    if config.judge.mode == "off" and (await session.execute(sa.select(RUN.c.id).limit(1))).first() is None:
        return None
    return await agreement(session, config, until=until)
