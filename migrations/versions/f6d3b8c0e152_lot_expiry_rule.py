"""each lot keeps the inactivity rule it was earned under

Revision ID: f6d3b8c0e152
Revises: e5c2a7b9d041
Create Date: 2026-11-25 19:55:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f6d3b8c0e152'
down_revision = 'e5c2a7b9d041'
branch_labels = None
depends_on = None

OPEN_WITH_RULE = 'inactivity_months IS NOT NULL AND remaining > 0'


def upgrade():
    with op.batch_alter_table('point_lots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inactivity_months', sa.Integer(), nullable=True))
        batch_op.create_index(
            'ix_point_lots_inactivity',
            ['inactivity_months'],
            unique=False,
            postgresql_where=sa.text(OPEN_WITH_RULE),
            sqlite_where=sa.text(OPEN_WITH_RULE),
        )
    # Lots earned so far under an inactivity policy keep it, as they would have.
    op.execute(
        """
        UPDATE point_lots SET inactivity_months = (
            SELECT p.expiry_inactivity_months
            FROM loyalty_members m JOIN loyalty_programs p ON p.id = m.program_id
            WHERE m.id = point_lots.member_id AND p.expiry_policy = 'inactivity'
        )
        """
    )


def downgrade():
    with op.batch_alter_table('point_lots', schema=None) as batch_op:
        batch_op.drop_index('ix_point_lots_inactivity')
        batch_op.drop_column('inactivity_months')
