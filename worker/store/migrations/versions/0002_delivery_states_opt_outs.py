"""Delivery states "sending" and "skipped"; opt_outs for unsubscribes from YAML subscriptions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "status IN ('pending', 'sent', 'failed', 'dead', 'folded')"
_NEW = "status IN ('pending', 'sending', 'sent', 'failed', 'dead', 'folded', 'skipped')"


def _status_check(condition: str) -> None:
    # batch_alter_table rebuilds the table on SQLite (no ALTER CONSTRAINT there) and is a
    # plain ALTER TABLE on PostgreSQL.
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("ck_deliveries_status", type_="check")
        batch.create_check_constraint("status", condition)


def upgrade() -> None:
    _status_check(_NEW)
    op.create_table(
        "opt_outs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription", sa.String(320), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_opt_outs"),
        sa.UniqueConstraint("subscription", "email", name="uq_opt_outs_subscription_email"),
    )


def downgrade() -> None:
    op.drop_table("opt_outs")
    _status_check(_OLD)
