"""users.session_version: a password reset or change signs the account's other sessions out

Revision ID: b7e4c2d9a1f0
Revises: 5c1e7a9d2b40
Create Date: 2026-11-26 00:12:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b7e4c2d9a1f0"
down_revision = "5c1e7a9d2b40"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_version")
