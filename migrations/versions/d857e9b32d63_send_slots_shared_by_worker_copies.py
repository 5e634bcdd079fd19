"""send slots shared by worker copies: rate limits that hold across worker processes

Revision ID: d857e9b32d63
Revises: f6d3b8c0e152
Create Date: 2026-11-25 19:11:04.225148

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "d857e9b32d63"
down_revision = "f6d3b8c0e152"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "send_slots",
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("next_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_send_slots")),
    )


def downgrade():
    op.drop_table("send_slots")
