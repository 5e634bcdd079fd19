"""spend carry-over between visits

Revision ID: c3a9e1f0b2d7
Revises: fd23e8b1c68a
Create Date: 2026-11-25 19:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3a9e1f0b2d7'
down_revision = 'fd23e8b1c68a'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('loyalty_programs', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('carry_over_spend', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table('loyalty_members', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('spend_carry_cents', sa.Integer(), server_default='0', nullable=False)
        )
        batch_op.create_check_constraint('carry_not_negative', 'spend_carry_cents >= 0')
    with op.batch_alter_table('loyalty_transactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('carry_in_cents', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('carry_out_cents', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('loyalty_transactions', schema=None) as batch_op:
        batch_op.drop_column('carry_out_cents')
        batch_op.drop_column('carry_in_cents')
    with op.batch_alter_table('loyalty_members', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_loyalty_members_carry_not_negative'), type_='check')
        batch_op.drop_column('spend_carry_cents')
    with op.batch_alter_table('loyalty_programs', schema=None) as batch_op:
        batch_op.drop_column('carry_over_spend')
