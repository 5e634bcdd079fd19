"""reward redemption limits: repeatable, once per member, once per month/year/N days

Revision ID: c4e7a1b2d903
Revises: f7e4c9a1d263
Create Date: 2026-11-26 00:05:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4e7a1b2d903'
down_revision = 'f7e4c9a1d263'
branch_labels = None
depends_on = None

LIMITS = ('repeatable', 'once', 'month', 'year', 'days')


def upgrade():
    with op.batch_alter_table('rewards', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'redemption_limit',
                sa.Enum(*LIMITS, name='redemptionlimit', native_enum=False,
                        create_constraint=True, length=20),
                nullable=False,
                server_default='repeatable',
            )
        )
        batch_op.add_column(sa.Column('limit_days', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            'limit_days_with_rule',
            "(redemption_limit = 'days') = (limit_days IS NOT NULL AND limit_days > 0)",
        )
    # Counting a member's redemptions of one reward (the limit check under the member's lock).
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.create_index(
            'ix_vouchers_member_reward', ['member_id', 'reward_id', 'created_at'], unique=False
        )


def downgrade():
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.drop_index('ix_vouchers_member_reward')
    with op.batch_alter_table('rewards', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_rewards_limit_days_with_rule'), type_='check')
        batch_op.drop_constraint(op.f('ck_rewards_redemptionlimit'), type_='check')
        batch_op.drop_column('limit_days')
        batch_op.drop_column('redemption_limit')
