"""verify: each fix's verification window (fix_verifications)

A fixed group's window: the census of matching replies, the reviews of its segment, and its outcome
(bot.defects.verification). The sampler's verification strata need no column: their items and cells
carry the stratum `verify:<group id>`.

Revision ID: 0006_verify
Revises: 0005_frames
Create Date: 2026-12-07 06:10:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import bot.core.models


revision = '0006_verify'
down_revision = '0005_frames'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fix_verifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('active_group_id', sa.Integer(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('started_at', bot.core.models.UTCDateTime(), nullable=False),
    sa.Column('ends_at', bot.core.models.UTCDateTime(), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('kinds', sa.JSON(), nullable=True),
    sa.Column('segment', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('scanned_to', sa.Integer(), nullable=False),
    sa.Column('traffic', sa.Integer(), nullable=False),
    sa.Column('matches', sa.Integer(), nullable=False),
    sa.Column('reviewed', sa.Integer(), nullable=False),
    sa.Column('cases', sa.JSON(), nullable=True),
    sa.Column('decided_at', bot.core.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['defect_groups.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('active_group_id', name='uq_verifications_active')
    )
    with op.batch_alter_table('fix_verifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fix_verifications_group_id'), ['group_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('fix_verifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fix_verifications_group_id'))
    op.drop_table('fix_verifications')
