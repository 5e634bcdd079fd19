"""pending points held for the return window

Revision ID: d4b8f2a6c913
Revises: ac6528002f7d
Create Date: 2026-11-25 19:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

import loyalty.db


# revision identifiers, used by Alembic.
revision = 'd4b8f2a6c913'
down_revision = 'ac6528002f7d'
branch_labels = None
depends_on = None

OLD_TYPES = ('earn', 'redeem', 'expire', 'adjust', 'reverse', 'bonus')
NEW_TYPES = (*OLD_TYPES, 'release')


def _type_check(types):
    return "type IN (" + ", ".join(f"'{t}'" for t in types) + ")"


def upgrade():
    with op.batch_alter_table('loyalty_programs', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('pending_days', sa.Integer(), server_default='0', nullable=False)
        )
        batch_op.create_check_constraint(
            'pending_days_range', 'pending_days >= 0 AND pending_days <= 60'
        )
    with op.batch_alter_table('loyalty_members', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('pending_points', sa.Integer(), server_default='0', nullable=False)
        )
        batch_op.create_check_constraint('pending_not_negative', 'pending_points >= 0')
    with op.batch_alter_table('loyalty_transactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('available_at', loyalty.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f('ck_loyalty_transactions_transactiontype'), type_='check')
        batch_op.create_check_constraint('transactiontype', _type_check(NEW_TYPES))
    with op.batch_alter_table('point_lots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('available_at', loyalty.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(
            'ix_point_lots_pending',
            ['available_at'],
            unique=False,
            postgresql_where=sa.text('available_at IS NOT NULL'),
            sqlite_where=sa.text('available_at IS NOT NULL'),
        )


def downgrade():
    with op.batch_alter_table('point_lots', schema=None) as batch_op:
        batch_op.drop_index('ix_point_lots_pending')
        batch_op.drop_column('available_at')
    with op.batch_alter_table('loyalty_transactions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_loyalty_transactions_transactiontype'), type_='check')
        batch_op.create_check_constraint('transactiontype', _type_check(OLD_TYPES))
        batch_op.drop_column('available_at')
    with op.batch_alter_table('loyalty_members', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_loyalty_members_pending_not_negative'), type_='check')
        batch_op.drop_column('pending_points')
    with op.batch_alter_table('loyalty_programs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_loyalty_programs_pending_days_range'), type_='check')
        batch_op.drop_column('pending_days')
