"""Tables, with the unique keys that make every step idempotent."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

UTC = dt.UTC


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, stored as naive UTC on every backend."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def _utc(nullable: bool = True, index: bool = False, **kw: Any) -> Any:
    return Field(sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index), **kw)


def _json(**kw: Any) -> Any:
    return Field(sa_column=sa.Column(sa.JSON, nullable=True), **kw)


def _text(nullable: bool = True, **kw: Any) -> Any:
    return Field(sa_column=sa.Column(sa.Text, nullable=nullable), **kw)


class Reply(SQLModel, table=True):
    __tablename__ = "replies"
    # Indexes only where queries need them (each costs a large import its writes): created_at windows
    # (flagged and frame_id ride along: frames and "not yet sampled" read the index); tickets.
    __table_args__ = (
        sa.UniqueConstraint("source", "external_id", name="uq_replies_source_id"),
        sa.Index("ix_replies_created_flagged", "created_at", "flagged", "frame_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    external_id: str = Field(max_length=255)  # the record's own `id`
    ticket_id: str = Field(max_length=255, index=True)
    created_at: dt.datetime = _utc(nullable=False)
    reply: str = _text(nullable=False)
    text_key: str | None = _text()  # normalised reply text, for duplicate detection
    customer_message: str | None = _text()
    ticket_url: str | None = Field(default=None, max_length=2000)
    customer_id: str | None = Field(default=None, max_length=255)
    customer_name: str | None = Field(default=None, max_length=255)
    customer_email: str | None = Field(default=None, max_length=255)
    customer_plan: str | None = Field(default=None, max_length=255)
    template_id: str | None = Field(default=None, max_length=255)
    kb_articles: list[dict[str, Any]] | None = _json(default=None)
    channel: str | None = Field(default=None, max_length=64)
    intent: str | None = Field(default=None, max_length=128)
    language: str | None = Field(default=None, max_length=16)
    csat: int | None = None
    extra: dict[str, Any] | None = _json(default=None)  # the record's `metadata`
    flagged: bool = Field(default=False)  # has a finding or CSAT <= 2
    ingested_at: dt.datetime = _utc(nullable=False)
    # Its sample batch's frame (bot.sample.frames), set by the first draw covering its created_at; NULL
    # until then ("not yet sampled"). A plain integer (no foreign key: no rebuild of this table on SQLite).
    frame_id: int | None = None


class Finding(SQLModel, table=True):
    __tablename__ = "findings"
    __table_args__ = (sa.UniqueConstraint("reply_id", "kind", name="uq_findings_reply_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    reply_id: int = Field(foreign_key="replies.id")  # uq_findings_reply_kind leads with it
    kind: str = Field(max_length=128)
    evidence: dict[str, Any] | None = _json(default=None)
    created_at: dt.datetime = _utc(nullable=False)


class SampleBatch(SQLModel, table=True):
    __tablename__ = "sample_batches"
    __table_args__ = (sa.UniqueConstraint("channel", "day", name="uq_batches_channel_day"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=64)
    day: dt.date
    window_start: dt.datetime = _utc(nullable=False)
    window_end: dt.datetime = _utc(nullable=False)
    seed: int
    population: int = 0  # the frame's replies; the verification strata's: population - flagged - unflagged
    flagged_population: int = 0
    unflagged_population: int = 0
    flagged_drawn: int = 0
    unflagged_drawn: int = 0
    # Items per stratum with an outcome, and those defective: kept with every verdict (bot.review.verdicts)
    flagged_reviewed: int = 0
    flagged_defective: int = 0
    unflagged_reviewed: int = 0
    unflagged_defective: int = 0
    # The frame (bot.sample.frames): late_population of its replies were created before window_start
    # (arrived late); high_reply_id: the largest reply id when drawn (NULL: drawn before frames existed)
    late_population: int = 0
    high_reply_id: int | None = None
    header_ts: str | None = Field(default=None, max_length=32)
    status: str = Field(default="pending", max_length=16)  # pending | posting | posted
    created_at: dt.datetime = _utc(nullable=False)
    posted_at: dt.datetime | None = _utc()


class SampleItem(SQLModel, table=True):
    __tablename__ = "sample_items"
    __table_args__ = (
        sa.UniqueConstraint("reply_id", name="uq_items_reply"),
        sa.Index("ix_sample_items_cell_outcome", "cell_id", "outcome"),
    )

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="sample_batches.id", index=True)
    reply_id: int = Field(foreign_key="replies.id")
    position: int
    stratum: str = Field(max_length=16)  # flagged | unflagged | verify:<group id>
    inclusion_prob: float
    double_review: bool = False
    channel: str | None = Field(default=None, max_length=64)
    message_ts: str | None = Field(default=None, max_length=32)
    posted_at: dt.datetime | None = _utc()
    # Kept by bot.review.verdicts with every verdict: None (no correct/defect verdict yet) | defect | correct
    outcome: str | None = Field(default=None, max_length=16)
    reviewed_at: dt.datetime | None = _utc()  # when the item first got its outcome
    # the digest reads a week's cells' defective items: (cell_id, outcome) finds them without the others
    cell_id: int | None = Field(default=None, foreign_key="frame_cells.id")


class FrameCell(SQLModel, table=True):
    """One (frame, stratum, week) of a sample, the digest's unit of estimation: `population` replies of
    the frame's stratum created in `week`, `drawn` items from them, `reviewed`/`defective` kept with
    every verdict (bot.review.verdicts)."""

    __tablename__ = "frame_cells"
    __table_args__ = (sa.UniqueConstraint("batch_id", "week", "stratum", name="uq_cells_batch_week_stratum"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="sample_batches.id")  # uq_cells_batch_week_stratum leads with it
    week: str = Field(max_length=10, index=True)  # ISO week, 2026-W48
    stratum: str = Field(max_length=16)  # flagged | unflagged | verify:<group id> (bot.sample.verify)
    population: int = 0
    drawn: int = 0
    reviewed: int = 0
    defective: int = 0


# The rollup's per-reviewer week reads only these columns of `reviews`, so their index covers it.
WEEK_COLUMNS = (
    "created_at",
    "reviewer",
    "verdict",
    "severity",
    "wait_seconds",
    "calibration_pairs",
    "calibration_agreed",
)


class Review(SQLModel, table=True):
    __tablename__ = "reviews"
    __table_args__ = (
        sa.UniqueConstraint("item_id", "reviewer", name="uq_reviews_item_reviewer"),
        sa.Index("ix_reviews_week", *WEEK_COLUMNS),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="sample_items.id", index=True)
    reviewer: str = Field(max_length=64, index=True)
    verdict: str = Field(max_length=16)  # correct | defect | unsure
    category: str | None = Field(default=None, max_length=64)
    severity: str | None = Field(default=None, max_length=16)
    note: str | None = _text()
    expected: str | None = _text()
    helpdesk_note: bool = False
    wait_seconds: float | None = None  # from the item's message to this verdict (time given)
    # On calibration items, kept by bot.review.verdicts: other reviewers' decisive verdicts, and matches
    calibration_pairs: int = 0
    calibration_agreed: int = 0
    created_at: dt.datetime = _utc(nullable=False)
    updated_at: dt.datetime = _utc(nullable=False)


class ReviewChange(SQLModel, table=True):
    """Every verdict a reviewer gave, so a changed mind keeps its history."""

    __tablename__ = "review_changes"

    id: int | None = Field(default=None, primary_key=True)
    review_id: int = Field(foreign_key="reviews.id", index=True)
    verdict: str = Field(max_length=16)
    category: str | None = Field(default=None, max_length=64)
    severity: str | None = Field(default=None, max_length=16)
    note: str | None = _text()
    created_at: dt.datetime = _utc(nullable=False)


class DefectGroup(SQLModel, table=True):
    __tablename__ = "defect_groups"
    # `open_key` equals the fingerprint while the group is open and is NULL once closed, so the
    # unique constraint allows one open group per root cause (NULLs never collide).
    __table_args__ = (sa.UniqueConstraint("open_key", name="uq_groups_open_key"),)

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(max_length=255, index=True)
    open_key: str | None = Field(default=None, max_length=255)
    title: str = Field(max_length=255)
    category: str = Field(max_length=64)
    severity: str = Field(max_length=16)
    status: str = Field(default="open", max_length=16)  # open | fixed | wont_fix | merged
    occurrences: int = 0
    template_id: str | None = Field(default=None, max_length=255)
    tracker: str = Field(default="none", max_length=16)
    tracker_key: str | None = Field(default=None, max_length=128)
    tracker_url: str | None = Field(default=None, max_length=2000)
    owner: str | None = Field(default=None, max_length=64)
    channel: str | None = Field(default=None, max_length=64)
    thread_ts: str | None = Field(default=None, max_length=32)
    reason: str | None = _text()  # why it won't be fixed
    merged_into_id: int | None = Field(default=None, foreign_key="defect_groups.id")
    created_at: dt.datetime = _utc(nullable=False)
    fixed_at: dt.datetime | None = _utc()
    # When the status last changed (in Slack, or the tracker's own time of the change it reported):
    # a tracker delivery about an older moment never overrides it.
    status_changed_at: dt.datetime | None = _utc()


class FixVerification(SQLModel, table=True):
    __tablename__ = "fix_verifications"  # did the failure stop after the fix? (bot.defects.verification)
    __table_args__ = (sa.UniqueConstraint("active_group_id", name="uq_verifications_active"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="defect_groups.id", index=True)
    active_group_id: int | None = None  # the group's id while verifying, NULL once decided: one open window
    status: str = Field(default="verifying", max_length=16)  # then recurred|verified|unverified|cancelled
    started_at: dt.datetime = _utc(nullable=False)  # the fix: replies created from here on count
    ends_at: dt.datetime = _utc(nullable=False)
    fingerprint: str = Field(max_length=255)  # the group's
    kinds: list[str] | None = _json(default=None)  # finding kinds on the group's replies: the census's
    segment: str | None = Field(default=None, max_length=300)  # template:<id> | article:<id> | intent:<name>
    scanned_to: int = 0  # census: every reply up to this id was read
    traffic: int = 0  # census: replies of the segment created in the window
    matches: int = 0  # census: replies with the group's finding fingerprint created in the window
    reviewed: int = 0  # reviewed sample items of the segment created in the window
    cases: list[int] | None = _json(default=None)  # ids of the replies that recurred (the first few)
    decided_at: dt.datetime | None = _utc()


class Defect(SQLModel, table=True):
    __tablename__ = "defects"
    __table_args__ = (sa.UniqueConstraint("review_id", name="uq_defects_review"),)

    id: int | None = Field(default=None, primary_key=True)
    review_id: int = Field(foreign_key="reviews.id")
    group_id: int = Field(foreign_key="defect_groups.id", index=True)
    reply_id: int = Field(foreign_key="replies.id", index=True)
    category: str = Field(max_length=64)
    severity: str = Field(max_length=16)
    status: str = Field(default="open", max_length=16)
    created_at: dt.datetime = _utc(nullable=False, index=True)


class OutboxItem(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_key"),
        sa.Index("ix_outbox_turn", "sequence", "status", "id"),  # _its_turn: a seek past the done rows
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=64)  # e.g. tracker.create, tracker.comment, helpdesk.note, slack.post
    idempotency_key: str = Field(max_length=255)
    payload: dict[str, Any] | None = _json(default=None)
    sequence: str | None = Field(default=None, max_length=255)  # delivered in id order
    status: str = Field(default="pending", max_length=16, index=True)  # pending | done | dead
    attempts: int = 0
    next_attempt_at: dt.datetime = _utc(nullable=False, index=True)
    last_error: str | None = _text()
    result: dict[str, Any] | None = _json(default=None)
    created_at: dt.datetime = _utc(nullable=False)
    delivered_at: dt.datetime | None = _utc()


class IngestCursor(SQLModel, table=True):
    __tablename__ = "ingest_cursors"

    source: str = Field(primary_key=True, max_length=64)
    cursor: str | None = _text()
    updated_at: dt.datetime = _utc(nullable=False)


class LeaderLease(SQLModel, table=True):
    __tablename__ = "leader_lease"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=128)
    expires_at: dt.datetime = _utc(nullable=False)


class SeenEvent(SQLModel, table=True):
    __tablename__ = "seen_events"

    event_id: str = Field(primary_key=True, max_length=128)
    seen_at: dt.datetime = _utc(nullable=False, index=True)


class DigestPost(SQLModel, table=True):
    __tablename__ = "digest_posts"
    __table_args__ = (sa.UniqueConstraint("channel", "week", name="uq_digest_channel_week"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=64)
    week: str = Field(max_length=10)  # ISO week, 2026-W48
    status: str = Field(default="pending", max_length=16)
    message_ts: str | None = Field(default=None, max_length=32)
    created_at: dt.datetime = _utc(nullable=False)
    posted_at: dt.datetime | None = _utc()


class JudgeRun(SQLModel, table=True):
    """One call of the AI judge on one reply, claimed before the call, never repeated for its key
    (reply, prompt version: a hash of the prompt and criteria, model; bot.judge.criteria)."""

    __tablename__ = "judge_runs"
    __table_args__ = (
        sa.UniqueConstraint("reply_id", "prompt_version", "model", name="uq_judge_runs_key"),
        sa.Index("ix_judge_runs_claimed", "claimed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reply_id: int = Field(foreign_key="replies.id")  # uq_judge_runs_key leads with it
    prompt_version: str = Field(max_length=32)
    model: str = Field(max_length=128)
    status: str = Field(default="pending", max_length=16)  # pending | ok | error
    error_kind: str | None = Field(default=None, max_length=32)  # timeout, refusal, malformed, …
    error: str | None = _text()
    retryable: bool = False  # no answer came (timeout, 5xx, …): a later run may try again
    attempts: int = 0
    claim: str | None = Field(default=None, max_length=64)  # which judging session owns the call
    claimed_at: dt.datetime = _utc(nullable=False)
    response_format: str | None = Field(default=None, max_length=16)  # json_schema | json_object
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    latency_ms: int | None = None
    created_at: dt.datetime = _utc(nullable=False)
    finished_at: dt.datetime | None = _utc()


class Judgment(SQLModel, table=True):
    """The judge's verdict on one criterion of one reply (its run holds tokens, cost and errors)."""

    __tablename__ = "judgments"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "criterion", name="uq_judgments_run_criterion"),
        sa.Index("ix_judgments_reply", "reply_id", "verdict"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="judge_runs.id")
    reply_id: int = Field(foreign_key="replies.id")
    criterion: str = Field(max_length=64)
    criterion_version: str = Field(max_length=16)  # hash of its question and category
    category: str | None = Field(default=None, max_length=64)
    verdict: str = Field(max_length=16)  # pass | fail | unsure
    rationale: str | None = _text()
    evidence: str | None = _text()


class FindingFeedback(SQLModel, table=True):
    """A reviewer's judgement of one automatic finding: confirmed, or a false alarm (with why)."""

    __tablename__ = "finding_feedback"
    __table_args__ = (sa.UniqueConstraint("finding_id", name="uq_feedback_finding"),)

    id: int | None = Field(default=None, primary_key=True)
    finding_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("findings.id", ondelete="CASCADE"), nullable=False)
    )
    kind: str = Field(max_length=128, index=True)  # the finding's kind: precision is counted per kind
    verdict: str = Field(max_length=16)  # confirmed | false_alarm
    reason: str | None = _text()
    reviewer: str = Field(max_length=64)  # who judged it last
    created_at: dt.datetime = _utc(nullable=False)
    updated_at: dt.datetime = _utc(nullable=False)
