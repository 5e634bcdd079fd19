"""reward pictures: rewards.image_file (a PNG under the upload folder)

Revision ID: a81cbfbbd9d5
Revises: afec6f3aa6de
Create Date: 2026-11-25 19:08:44.828681

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a81cbfbbd9d5"
down_revision = "afec6f3aa6de"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("rewards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("image_file", sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table("rewards", schema=None) as batch_op:
        batch_op.drop_column("image_file")
