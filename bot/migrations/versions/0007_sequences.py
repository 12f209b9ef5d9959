"""sequences: rows already waiting in the outbox join their group's delivery sequence

Thread posts, tracker comments and tracker state changes are delivered in the order they were
queued within their group (bot.delivery.outbox, `payload.sequence`). Rows queued before this
version carry no sequence; the ones still to be delivered get it here, so that a post queued after
the upgrade cannot overtake an older one that is waiting for a retry. Delivered and dead rows are
left as they are. The names are those of bot.defects.queue (thread_sequence, tracker_sequence),
written out: a migration keeps the meaning it had when it was written.

Revision ID: 0007_sequences
Revises: 0006_verify
Create Date: 2026-12-07 18:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0007_sequences'
down_revision = '0006_verify'
branch_labels = None
depends_on = None

SEQUENCES = {
    'slack.thread_post': 'slack.thread:g{}',
    'tracker.comment': 'tracker:g{}',
    'tracker.set_state': 'tracker:g{}',
}
OUTBOX = sa.table(
    'outbox',
    sa.column('id', sa.Integer),
    sa.column('kind', sa.String),
    sa.column('status', sa.String),
    sa.column('payload', sa.JSON),
)


def upgrade() -> None:
    connection = op.get_bind()
    waiting = connection.execute(
        sa.select(OUTBOX.c.id, OUTBOX.c.kind, OUTBOX.c.payload).where(
            OUTBOX.c.kind.in_(list(SEQUENCES)), OUTBOX.c.status.in_(('pending', 'delivering'))
        )
    ).all()
    for row_id, kind, payload in waiting:
        if not isinstance(payload, dict) or payload.get('group_id') is None or 'sequence' in payload:
            continue
        sequenced = {**payload, 'sequence': SEQUENCES[kind].format(payload['group_id'])}
        connection.execute(sa.update(OUTBOX).where(OUTBOX.c.id == row_id).values(payload=sequenced))


def downgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(OUTBOX.c.id, OUTBOX.c.payload).where(OUTBOX.c.kind.in_(list(SEQUENCES)))
    ).all()
    for row_id, payload in rows:
        if isinstance(payload, dict) and 'sequence' in payload:
            plain = {k: v for k, v in payload.items() if k != 'sequence'}
            connection.execute(sa.update(OUTBOX).where(OUTBOX.c.id == row_id).values(payload=plain))
