"""outbox turn index: whether a row's turn has come no longer reads its sequence's delivered rows

`ix_outbox_sequence` (sequence) becomes `ix_outbox_turn` (sequence, status, id). The held-back
check of bot.delivery.outbox asks whether an earlier row of the same sequence is still pending or
being delivered: with the old index it read every earlier row of the sequence, delivered ones
included, which grow for as long as a defect group lives, and every waiting row of a sequence read
all the others (a backlog of 5,000 posts in one thread took seconds per pass). The new index
seeks straight to the sequence's waiting rows.

Revision ID: 0008_outbox_turn
Revises: 0007_sequences
Create Date: 2026-12-07 20:30:00.000000
"""

from alembic import op

revision = '0008_outbox_turn'
down_revision = '0007_sequences'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_sequence')
        batch_op.create_index('ix_outbox_turn', ['sequence', 'status', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_turn')
        batch_op.create_index('ix_outbox_sequence', ['sequence'], unique=False)
