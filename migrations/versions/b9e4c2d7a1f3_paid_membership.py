"""paid membership: a card valid until a date, renewed at the till

Revision ID: b9e4c2d7a1f3
Revises: 4755c55bfb3b
Create Date: 2026-11-26 00:05:00.000000

"""
from alembic import op
import sqlalchemy as sa

import loyalty.db


# revision identifiers, used by Alembic.
revision = 'b9e4c2d7a1f3'
down_revision = '4755c55bfb3b'
branch_labels = None
depends_on = None

OLD_TYPES = ('earn', 'redeem', 'expire', 'adjust', 'reverse', 'bonus', 'release')
NEW_TYPES = (*OLD_TYPES, 'membership')


def _type_check(types):
    return "type IN (" + ", ".join(f"'{t}'" for t in types) + ")"


def upgrade():
    with op.batch_alter_table('loyalty_programs', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('paid_membership', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column('membership_price_cents', sa.Integer(), server_default='0', nullable=False)
        )
        batch_op.add_column(
            sa.Column('membership_months', sa.Integer(), server_default='12', nullable=False)
        )
        batch_op.create_check_constraint(
            'membership_terms_range',
            'membership_price_cents >= 0 AND membership_months >= 1 AND membership_months <= 60',
        )
    with op.batch_alter_table('loyalty_members', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('membership_expires_at', loyalty.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            'ix_loyalty_members_program_membership',
            ['program_id', 'membership_expires_at'],
            unique=False,
            postgresql_where=sa.text('membership_expires_at IS NOT NULL'),
            sqlite_where=sa.text('membership_expires_at IS NOT NULL'),
        )
    with op.batch_alter_table('loyalty_transactions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_loyalty_transactions_transactiontype'), type_='check')
        batch_op.create_check_constraint('transactiontype', _type_check(NEW_TYPES))


def downgrade():
    with op.batch_alter_table('loyalty_transactions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_loyalty_transactions_transactiontype'), type_='check')
        batch_op.create_check_constraint('transactiontype', _type_check(OLD_TYPES))
    with op.batch_alter_table('loyalty_members', schema=None) as batch_op:
        batch_op.drop_index('ix_loyalty_members_program_membership')
        batch_op.drop_column('membership_expires_at')
    with op.batch_alter_table('loyalty_programs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_loyalty_programs_membership_terms_range'), type_='check')
        batch_op.drop_column('membership_months')
        batch_op.drop_column('membership_price_cents')
        batch_op.drop_column('paid_membership')
