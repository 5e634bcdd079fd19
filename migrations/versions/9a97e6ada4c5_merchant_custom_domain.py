"""merchant custom domain

Revision ID: 9a97e6ada4c5
Revises: 64bba3cc1b12
Create Date: 2026-11-25 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9a97e6ada4c5'
down_revision = '64bba3cc1b12'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('custom_domain', sa.String(length=253), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_merchants_custom_domain'), ['custom_domain'])
        batch_op.create_check_constraint(
            'custom_domain_lower', 'custom_domain = lower(custom_domain)'
        )


def downgrade():
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_merchants_custom_domain_lower'), type_='check')
        batch_op.drop_constraint(batch_op.f('uq_merchants_custom_domain'), type_='unique')
        batch_op.drop_column('custom_domain')
