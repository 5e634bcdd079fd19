"""member imports and member search indexes

Revision ID: ac6528002f7d
Revises: 1fa793e6366c
Create Date: 2026-11-25 19:01:21.417318

"""
from alembic import op
import sqlalchemy as sa

import loyalty.db


# revision identifiers, used by Alembic.
revision = 'ac6528002f7d'
down_revision = '1fa793e6366c'
branch_labels = None
depends_on = None


def upgrade():
    
    op.create_table('member_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('header', sa.JSON(), nullable=False),
    sa.Column('mapping', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('uploaded', 'ready', 'running', 'done', 'failed', name='importstatus', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('byte_offset', sa.BigInteger(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('rows_imported', sa.Integer(), nullable=False),
    sa.Column('rows_duplicate', sa.Integer(), nullable=False),
    sa.Column('rows_failed', sa.Integer(), nullable=False),
    sa.Column('report_bytes', sa.BigInteger(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_member_imports_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_member_imports_merchant_id_merchants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_imports'))
    )
    with op.batch_alter_table('member_imports', schema=None) as batch_op:
        batch_op.create_index('ix_member_imports_merchant_created', ['merchant_id', 'created_at'], unique=False)

    with op.batch_alter_table('loyalty_members', schema=None) as batch_op:
        batch_op.create_index('ix_loyalty_members_merchant_card', ['merchant_id', 'card_number'], unique=False, postgresql_ops={'card_number': 'varchar_pattern_ops'})

    with op.batch_alter_table('loyalty_transactions', schema=None) as batch_op:
        batch_op.create_index('ix_loyalty_transactions_shop_member', ['shop_id', 'member_id'], unique=False)




def downgrade():
    
    with op.batch_alter_table('loyalty_transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_loyalty_transactions_shop_member')

    with op.batch_alter_table('loyalty_members', schema=None) as batch_op:
        batch_op.drop_index('ix_loyalty_members_merchant_card', postgresql_ops={'card_number': 'varchar_pattern_ops'})

    with op.batch_alter_table('member_imports', schema=None) as batch_op:
        batch_op.drop_index('ix_member_imports_merchant_created')

    op.drop_table('member_imports')

