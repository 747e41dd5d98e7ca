"""template owners (SPEC §8 "Who may change and read what")

Revision ID: 0003_owners
Revises: 0002_connections
Create Date: 2026-12-02 10:00:00

Backfill: every existing template gets one owner, the `created_by` of its first stored
version, when that was recorded and was a person — `loader` (the `make run` /
`python -m api.load_templates` identity) and empty values give no owner, which means
only admins may publish new versions until an admin sets owners.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003_owners"
down_revision: str | None = "0002_connections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: must match api.services.owners.LOADER (a migration does not import application code)
LOADER = "loader"


def upgrade() -> None:
    op.create_table(
        "template_owners",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("added_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", "user_id"),
    )
    op.create_index(
        op.f("ix_template_owners_user_id"), "template_owners", ["user_id"], unique=False
    )
    # the first saver of each existing template (version 1 when it still exists, else the
    # oldest stored version), unless it was the loader or unknown
    op.execute(
        sa.text(
            """
            INSERT INTO template_owners (name, user_id, added_by, created_at)
            SELECT t.name, t.created_by, NULL, t.created_at
            FROM template_versions t
            WHERE t.version = (
                SELECT MIN(f.version) FROM template_versions f WHERE f.name = t.name
            )
              AND t.created_by IS NOT NULL
              AND t.created_by <> ''
              AND t.created_by <> :loader
            """
        ).bindparams(loader=LOADER)
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_template_owners_user_id"), table_name="template_owners")
    op.drop_table("template_owners")
