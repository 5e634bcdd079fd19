"""google notification budget on wallet passes

Revision ID: b7c1d2e3f405
Revises: 9a97e6ada4c5
Create Date: 2026-11-25 19:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7c1d2e3f405'
down_revision = '9a97e6ada4c5'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('wallet_passes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('google_balance_shown', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('google_notified_at', sa.JSON(), server_default='[]', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('wallet_passes', schema=None) as batch_op:
        batch_op.drop_column('google_notified_at')
        batch_op.drop_column('google_balance_shown')
