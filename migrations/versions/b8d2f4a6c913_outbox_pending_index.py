"""outbox: a partial index of the messages still to send, in claim order

Replaces ix_outbox_messages_due (status, next_attempt_at), which held every message ever
sent and could not give the claim its order: with a campaign's thousands of rows due, each
claim of 200 read and sorted all of them.

Revision ID: b8d2f4a6c913
Revises: c4e7a1b2d903
Create Date: 2026-11-26 04:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b8d2f4a6c913'
down_revision = 'c4e7a1b2d903'
branch_labels = None
depends_on = None

PENDING = sa.text("status IN ('queued', 'sending')")


def upgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_messages_due')
        batch_op.create_index(
            'ix_outbox_messages_pending',
            ['channel', 'next_attempt_at', 'id'],
            unique=False,
            postgresql_where=PENDING,
            sqlite_where=PENDING,
        )


def downgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_messages_pending')
        batch_op.create_index(
            'ix_outbox_messages_due', ['status', 'next_attempt_at'], unique=False
        )
