"""stamp cards as a programme type

Revision ID: f7e4c9a1d263
Revises: b7e4c2d9a1f0
Create Date: 2026-11-26 00:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f7e4c9a1d263'
down_revision = 'b7e4c2d9a1f0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('loyalty_programs', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'kind',
                sa.Enum(
                    'points', 'stamps', name='programkind', native_enum=False,
                    create_constraint=True, length=20,
                ),
                server_default='points',
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column('stamp_card_size', sa.Integer(), server_default='10', nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                'stamp_per',
                sa.Enum(
                    'visit', 'item', name='stampper', native_enum=False,
                    create_constraint=True, length=20,
                ),
                server_default='visit',
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column('stamp_reward_id', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('stamp_min_spend_cents', sa.Integer(), server_default='0', nullable=False)
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_loyalty_programs_stamp_reward_id_rewards'),
            'rewards', ['stamp_reward_id'], ['id'], ondelete='SET NULL',
        )
        batch_op.create_check_constraint(
            'stamp_card_size_range', 'stamp_card_size >= 2 AND stamp_card_size <= 50'
        )
        batch_op.create_check_constraint(
            'stamp_min_spend_not_negative', 'stamp_min_spend_cents >= 0'
        )


def downgrade():
    with op.batch_alter_table('loyalty_programs', schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f('ck_loyalty_programs_stamp_min_spend_not_negative'), type_='check'
        )
        batch_op.drop_constraint(op.f('ck_loyalty_programs_stamp_card_size_range'), type_='check')
        batch_op.drop_constraint(
            op.f('fk_loyalty_programs_stamp_reward_id_rewards'), type_='foreignkey'
        )
        batch_op.drop_constraint(op.f('ck_loyalty_programs_stampper'), type_='check')
        batch_op.drop_constraint(op.f('ck_loyalty_programs_programkind'), type_='check')
        batch_op.drop_column('stamp_min_spend_cents')
        batch_op.drop_column('stamp_reward_id')
        batch_op.drop_column('stamp_per')
        batch_op.drop_column('stamp_card_size')
        batch_op.drop_column('kind')
