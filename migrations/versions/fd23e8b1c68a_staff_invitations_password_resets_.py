"""staff invitations, password resets, programme launch

Revision ID: fd23e8b1c68a
Revises: b7c1d2e3f405
Create Date: 2026-11-25 19:00:16.732890

"""
from alembic import op
import sqlalchemy as sa

import loyalty.db


# revision identifiers, used by Alembic.
revision = 'fd23e8b1c68a'
down_revision = 'b7c1d2e3f405'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('password_reset_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_password_reset_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_reset_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_password_reset_tokens_token_hash'))
    )
    with op.batch_alter_table('password_reset_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_password_reset_tokens_user', ['user_id', 'created_at'], unique=False)

    op.create_table('staff_invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.Enum('owner', 'manager', 'staff', name='role', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('invited_by_user_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invited_by_user_id'], ['users.id'], name=op.f('fk_staff_invitations_invited_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_staff_invitations_merchant_id_merchants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_staff_invitations_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_invitations')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_staff_invitations_token_hash'))
    )
    with op.batch_alter_table('staff_invitations', schema=None) as batch_op:
        batch_op.create_index('ix_staff_invitations_merchant_email', ['merchant_id', 'email'], unique=False)

    with op.batch_alter_table('loyalty_programs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('launched_at', loyalty.db.UTCDateTime(timezone=True), nullable=True))
    # Programmes that existed before onboarding did were already running: they count as live.
    op.execute("UPDATE loyalty_programs SET launched_at = created_at")

    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))

    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.alter_column('merchant_id',
               existing_type=sa.INTEGER(),
               nullable=True)



def downgrade():
    # Platform mail (password resets) has no merchant to belong to in the older schema.
    op.execute("DELETE FROM outbox_messages WHERE merchant_id IS NULL")
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.alter_column('merchant_id',
               existing_type=sa.INTEGER(),
               nullable=False)

    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_column('active')

    with op.batch_alter_table('loyalty_programs', schema=None) as batch_op:
        batch_op.drop_column('launched_at')

    with op.batch_alter_table('staff_invitations', schema=None) as batch_op:
        batch_op.drop_index('ix_staff_invitations_merchant_email')

    op.drop_table('staff_invitations')
    with op.batch_alter_table('password_reset_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_password_reset_tokens_user')

    op.drop_table('password_reset_tokens')
