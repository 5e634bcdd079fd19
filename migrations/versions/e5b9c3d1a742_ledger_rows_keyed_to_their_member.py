"""ledger: one foreign key to the member, its merchant and programme

A ledger row named its member, merchant and programme with three foreign keys, so every row
written (each purchase, each member's expiry) cost three key lookups, and nothing stopped a row
from naming one merchant's member and another merchant. One composite key to the member's
(id, merchant_id, programme_id) checks all three in one lookup; the member's own keys vouch for
the merchant and the programme.

Revision ID: e5b9c3d1a742
Revises: d3a7f1c5e820
Create Date: 2026-11-26 07:40:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e5b9c3d1a742'
down_revision = 'd3a7f1c5e820'
branch_labels = None
depends_on = None

MEMBER_KEY = 'fk_loyalty_transactions_member_id_loyalty_members'


def upgrade():
    with op.batch_alter_table('loyalty_members', schema=None) as batch_op:
        batch_op.create_unique_constraint(
            op.f('uq_loyalty_members_id_merchant_id_program_id'),
            ['id', 'merchant_id', 'program_id'],
        )
    with op.batch_alter_table('loyalty_transactions', schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f('fk_loyalty_transactions_merchant_id_merchants'), type_='foreignkey'
        )
        batch_op.drop_constraint(
            op.f('fk_loyalty_transactions_program_id_loyalty_programs'), type_='foreignkey'
        )
        batch_op.drop_constraint(op.f(MEMBER_KEY), type_='foreignkey')
        batch_op.create_foreign_key(
            op.f(MEMBER_KEY),
            'loyalty_members',
            ['member_id', 'merchant_id', 'program_id'],
            ['id', 'merchant_id', 'program_id'],
            ondelete='CASCADE',
        )


def downgrade():
    with op.batch_alter_table('loyalty_transactions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(MEMBER_KEY), type_='foreignkey')
        batch_op.create_foreign_key(
            op.f(MEMBER_KEY), 'loyalty_members', ['member_id'], ['id'], ondelete='CASCADE'
        )
        batch_op.create_foreign_key(
            op.f('fk_loyalty_transactions_program_id_loyalty_programs'),
            'loyalty_programs',
            ['program_id'],
            ['id'],
            ondelete='CASCADE',
        )
        batch_op.create_foreign_key(
            op.f('fk_loyalty_transactions_merchant_id_merchants'),
            'merchants',
            ['merchant_id'],
            ['id'],
            ondelete='CASCADE',
        )
    with op.batch_alter_table('loyalty_members', schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f('uq_loyalty_members_id_merchant_id_program_id'), type_='unique'
        )
