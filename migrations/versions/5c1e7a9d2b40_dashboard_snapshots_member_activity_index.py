"""dashboard snapshots, member list activity index

Revision ID: 5c1e7a9d2b40
Revises: b9e4c2d7a1f3
Create Date: 2026-11-26 00:40:00

"""

import sqlalchemy as sa
from alembic import op

import loyalty.db

# revision identifiers, used by Alembic.
revision = "5c1e7a9d2b40"
down_revision = "b9e4c2d7a1f3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "dashboard_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("offering", sa.String(length=20), nullable=False),
        sa.Column("computed_at", loyalty.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_dashboard_snapshots_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_snapshots")),
        sa.UniqueConstraint(
            "merchant_id", "days", name=op.f("uq_dashboard_snapshots_merchant_id_days")
        ),
    )
    # INCLUDE is PostgreSQL's; other databases get the plain two-column index.
    with op.batch_alter_table("loyalty_members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_members_merchant_activity",
            ["merchant_id", "last_activity_at"],
            unique=False,
            postgresql_include=["tier_id", "status", "points_balance"],
        )


def downgrade():
    with op.batch_alter_table("loyalty_members", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_members_merchant_activity")

    op.drop_table("dashboard_snapshots")
