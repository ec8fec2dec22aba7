"""matches.alerts_planned_at: the outbox of the classify -> delivery hand-over.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("matches") as batch:
        batch.add_column(sa.Column("alerts_planned_at", sa.DateTime(timezone=True), nullable=True))
    # Matches recorded before this revision were handed over already: do not alert again.
    op.execute("UPDATE matches SET alerts_planned_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("matches") as batch:
        batch.drop_column("alerts_planned_at")
