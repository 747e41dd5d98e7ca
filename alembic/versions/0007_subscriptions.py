"""run event subscriptions and their delivery log (SPEC §14)

Revision ID: 0007_subscriptions
Revises: 0006_analytics
Create Date: 2026-12-02 07:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007_subscriptions"
down_revision: str | None = "0006_analytics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("template", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_subscriptions_template"), "subscriptions", ["template"], unique=False)
    op.create_table(
        "subscription_deliveries",
        sa.Column("subscription_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subscription_id", "event_id"),
    )
    op.create_index(
        op.f("ix_subscription_deliveries_created_at"),
        "subscription_deliveries",
        ["created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_subscription_deliveries_created_at"), table_name="subscription_deliveries"
    )
    op.drop_table("subscription_deliveries")
    op.drop_index(op.f("ix_subscriptions_template"), table_name="subscriptions")
    op.drop_table("subscriptions")
