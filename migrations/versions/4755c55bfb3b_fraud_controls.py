"""fraud controls: velocity rules and alerts, QR code age and rotation, who accepted a voucher

Revision ID: 4755c55bfb3b
Revises: a298a6063a9f
Create Date: 2026-11-26 00:03:00.728873

"""
from alembic import op
import sqlalchemy as sa

import loyalty.db


# revision identifiers, used by Alembic.
revision = '4755c55bfb3b'
down_revision = 'a298a6063a9f'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('fraud_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=True),
    sa.Column('staff_user_id', sa.Integer(), nullable=True),
    sa.Column('shop_id', sa.Integer(), nullable=True),
    sa.Column('rule', sa.Enum('member_daily_earns', 'earn_amount', 'staff_hourly_earns', name='fraudrule', native_enum=False, create_constraint=True, length=30), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=True),
    sa.Column('observed', sa.Integer(), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('open', 'acknowledged', 'dismissed', name='alertstatus', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('resolved_by', sa.Integer(), nullable=True),
    sa.Column('resolved_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('observed >= 0 AND threshold >= 0', name=op.f('ck_fraud_alerts_figures_not_negative')),
    sa.ForeignKeyConstraint(['member_id'], ['loyalty_members.id'], name=op.f('fk_fraud_alerts_member_id_loyalty_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_fraud_alerts_merchant_id_merchants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resolved_by'], ['users.id'], name=op.f('fk_fraud_alerts_resolved_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_fraud_alerts_shop_id_shops'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['staff_user_id'], ['users.id'], name=op.f('fk_fraud_alerts_staff_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['transaction_id'], ['loyalty_transactions.id'], name=op.f('fk_fraud_alerts_transaction_id_loyalty_transactions'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fraud_alerts'))
    )
    with op.batch_alter_table('fraud_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_fraud_alerts_member', ['member_id'], unique=False)
        batch_op.create_index('ix_fraud_alerts_merchant_status_created', ['merchant_id', 'status', 'created_at'], unique=False)
        batch_op.create_index('ix_fraud_alerts_transaction', ['transaction_id'], unique=False)

    with op.batch_alter_table('loyalty_members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('qr_issued_at', loyalty.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('qr_previous_secret', sa.String(length=32), nullable=True))

    with op.batch_alter_table('loyalty_programs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fraud_member_daily_earns', sa.Integer(), server_default='10', nullable=True))
        batch_op.add_column(sa.Column('fraud_member_daily_action', sa.Enum('flag', 'block', name='fraud_member_daily_action', native_enum=False, create_constraint=True, length=20), server_default='flag', nullable=False))
        batch_op.add_column(sa.Column('fraud_max_earn_cents', sa.Integer(), server_default='100000', nullable=True))
        batch_op.add_column(sa.Column('fraud_max_earn_action', sa.Enum('flag', 'block', name='fraud_max_earn_action', native_enum=False, create_constraint=True, length=20), server_default='flag', nullable=False))
        batch_op.add_column(sa.Column('fraud_staff_hourly_earns', sa.Integer(), server_default='120', nullable=True))
        batch_op.add_column(sa.Column('fraud_staff_hourly_action', sa.Enum('flag', 'block', name='fraud_staff_hourly_action', native_enum=False, create_constraint=True, length=20), server_default='flag', nullable=False))
        batch_op.add_column(sa.Column('qr_max_age_days', sa.Integer(), server_default='365', nullable=True))
        batch_op.create_check_constraint(
            'fraud_limits_positive',
            'fraud_member_daily_earns > 0 AND fraud_max_earn_cents > 0'
            ' AND fraud_staff_hourly_earns > 0 AND qr_max_age_days > 0',
        )

    with op.batch_alter_table('loyalty_transactions', schema=None) as batch_op:
        batch_op.create_index('ix_loyalty_transactions_actor_created', ['created_by', 'created_at'], unique=False)

    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('used_by', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_vouchers_used_by_users'), 'users', ['used_by'], ['id'], ondelete='SET NULL')



def downgrade():
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_vouchers_used_by_users'), type_='foreignkey')
        batch_op.drop_column('used_by')

    with op.batch_alter_table('loyalty_transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_loyalty_transactions_actor_created')

    with op.batch_alter_table('loyalty_programs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_loyalty_programs_fraud_limits_positive'), type_='check')
        batch_op.drop_column('qr_max_age_days')
        batch_op.drop_constraint(op.f('ck_loyalty_programs_fraud_staff_hourly_action'), type_='check')
        batch_op.drop_column('fraud_staff_hourly_action')
        batch_op.drop_column('fraud_staff_hourly_earns')
        batch_op.drop_constraint(op.f('ck_loyalty_programs_fraud_max_earn_action'), type_='check')
        batch_op.drop_column('fraud_max_earn_action')
        batch_op.drop_column('fraud_max_earn_cents')
        batch_op.drop_constraint(op.f('ck_loyalty_programs_fraud_member_daily_action'), type_='check')
        batch_op.drop_column('fraud_member_daily_action')
        batch_op.drop_column('fraud_member_daily_earns')

    with op.batch_alter_table('loyalty_members', schema=None) as batch_op:
        batch_op.drop_column('qr_previous_secret')
        batch_op.drop_column('qr_issued_at')

    with op.batch_alter_table('fraud_alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_fraud_alerts_transaction')
        batch_op.drop_index('ix_fraud_alerts_merchant_status_created')
        batch_op.drop_index('ix_fraud_alerts_member')

    op.drop_table('fraud_alerts')
