"""sequences: outbox rows of one sequence are delivered in the order they were queued

`outbox.sequence` (indexed) names a row's sequence: a group's thread posts (`slack.thread:g<id>`),
its tracker comments and state changes (`tracker:g<id>`); bot.delivery.outbox claims a row only
when no earlier row of its sequence is still to be delivered. Rows still waiting when the database
is upgraded get theirs here, so that a post queued after the upgrade cannot overtake an older one
waiting for a retry; delivered and dead rows keep NULL. The names are those of bot.defects.queue
(thread_sequence, tracker_sequence), written out: a migration keeps the meaning it had.

Revision ID: 0007_sequences
Revises: 0006_verify
Create Date: 2026-12-07 18:40:00.000000
"""

import sqlalchemy as sa
import sqlmodel
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
    sa.column('sequence', sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sequence', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_sequence'), ['sequence'], unique=False)
    connection = op.get_bind()
    waiting = connection.execute(
        sa.select(OUTBOX.c.id, OUTBOX.c.kind, OUTBOX.c.payload).where(
            OUTBOX.c.kind.in_(list(SEQUENCES)), OUTBOX.c.status.in_(('pending', 'delivering'))
        )
    ).all()
    for row_id, kind, payload in waiting:
        if isinstance(payload, dict) and payload.get('group_id') is not None:
            sequence = SEQUENCES[kind].format(payload['group_id'])
            connection.execute(sa.update(OUTBOX).where(OUTBOX.c.id == row_id).values(sequence=sequence))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_sequence'))
        batch_op.drop_column('sequence')
