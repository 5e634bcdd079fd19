"""referral programme

Revision ID: a298a6063a9f
Revises: d857e9b32d63
Create Date: 2026-11-25 20:09:00.272339

"""
from alembic import op
import sqlalchemy as sa

import loyalty.db


# revision identifiers, used by Alembic.
revision = 'a298a6063a9f'
down_revision = 'd857e9b32d63'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('referrals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('referrer_id', sa.Integer(), nullable=False),
    sa.Column('referee_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'rewarded', name='referralstatus', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('qualifying_transaction_id', sa.Integer(), nullable=True),
    sa.Column('created_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rewarded_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('referrer_id <> referee_id', name=op.f('ck_referrals_not_self')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_referrals_merchant_id_merchants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['program_id'], ['loyalty_programs.id'], name=op.f('fk_referrals_program_id_loyalty_programs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['qualifying_transaction_id'], ['loyalty_transactions.id'], name=op.f('fk_referrals_qualifying_transaction_id_loyalty_transactions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['referee_id'], ['loyalty_members.id'], name=op.f('fk_referrals_referee_id_loyalty_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['referrer_id'], ['loyalty_members.id'], name=op.f('fk_referrals_referrer_id_loyalty_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referrals')),
    sa.UniqueConstraint('referee_id', name=op.f('uq_referrals_referee_id'))
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index('ix_referrals_merchant_created', ['merchant_id', 'created_at'], unique=False)
        batch_op.create_index('ix_referrals_referrer', ['referrer_id'], unique=False)

    with op.batch_alter_table('loyalty_members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('referral_code', sa.String(length=16), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_loyalty_members_program_id_referral_code'), ['program_id', 'referral_code'])

    with op.batch_alter_table('loyalty_programs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('referrer_bonus', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('referee_bonus', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('referral_min_spend_cents', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_check_constraint(
            'referral_terms_not_negative',
            'referrer_bonus >= 0 AND referee_bonus >= 0 AND referral_min_spend_cents >= 0',
        )



def downgrade():
    with op.batch_alter_table('loyalty_programs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_loyalty_programs_referral_terms_not_negative'), type_='check')
        batch_op.drop_column('referral_min_spend_cents')
        batch_op.drop_column('referee_bonus')
        batch_op.drop_column('referrer_bonus')

    with op.batch_alter_table('loyalty_members', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_loyalty_members_program_id_referral_code'), type_='unique')
        batch_op.drop_column('referral_code')

    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index('ix_referrals_referrer')
        batch_op.drop_index('ix_referrals_merchant_created')

    op.drop_table('referrals')
