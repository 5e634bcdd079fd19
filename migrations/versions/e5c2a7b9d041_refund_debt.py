"""refunds of spent points: claw back as a debt or absorb

Revision ID: e5c2a7b9d041
Revises: d4b8f2a6c913
Create Date: 2026-11-25 19:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5c2a7b9d041'
down_revision = 'd4b8f2a6c913'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('loyalty_programs', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'refund_shortfall',
                sa.Enum(
                    'absorb', 'claw_back', name='refundshortfall', native_enum=False,
                    create_constraint=True, length=20,
                ),
                server_default='absorb',
                nullable=False,
            )
        )
    with op.batch_alter_table('loyalty_members', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('points_debt', sa.Integer(), server_default='0', nullable=False)
        )
        batch_op.create_check_constraint('debt_not_negative', 'points_debt >= 0')


def downgrade():
    with op.batch_alter_table('loyalty_members', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_loyalty_members_debt_not_negative'), type_='check')
        batch_op.drop_column('points_debt')
    with op.batch_alter_table('loyalty_programs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_loyalty_programs_refundshortfall'), type_='check')
        batch_op.drop_column('refund_shortfall')
