"""Initial schema: feeds, articles, matches, deliveries, subscriptions.

Revision ID: 0001
Revises:
Create Date: 2026-05-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("final_url", sa.Text(), nullable=True),
        sa.Column("last_fetched_at", _utc(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failure_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_poll_at", _utc(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feeds"),
        sa.UniqueConstraint("name", name="uq_feeds_name"),
    )
    op.create_index("ix_feeds_enabled_next_poll_at", "feeds", ["enabled", "next_poll_at"])

    op.create_table(
        "articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("lede", sa.Text(), nullable=True),
        sa.Column("published", sa.String(64), nullable=True),
        sa.Column("published_at", _utc(), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("fetched_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("classified_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
        sa.UniqueConstraint("key", name="uq_articles_key"),
        sa.UniqueConstraint("content_hash", name="uq_articles_content_hash"),
        sa.CheckConstraint(
            "status IN ('pending', 'classified', 'failed')", name="ck_articles_status"
        ),
    )
    op.create_index("ix_articles_status_fetched_at", "articles", ["status", "fetched_at"])
    op.create_index("ix_articles_fetched_at", "articles", ["fetched_at"])
    op.create_index("ix_articles_published_at", "articles", ["published_at"])

    op.create_table(
        "matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("watchlist", sa.String(200), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("brands", sa.JSON(), nullable=False),
        sa.Column("themes", sa.JSON(), nullable=False),
        sa.Column("highlights", sa.JSON(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_matches"),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_matches_article_id_articles",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("article_id", "watchlist", name="uq_matches_article_id_watchlist"),
    )
    op.create_index("ix_matches_watchlist", "matches", ["watchlist"])

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("subscription", sa.String(320), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=True),
        sa.Column("period_start", _utc(), nullable=True),
        sa.Column("period_end", _utc(), nullable=True),
        sa.Column("status", sa.String(16), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("fingerprint", sa.Text(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("sent_at", _utc(), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_deliveries_article_id_articles",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("key", name="uq_deliveries_key"),
        sa.CheckConstraint(
            "channel IN ('email', 'webhook', 'apprise', 'file')", name="ck_deliveries_channel"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed', 'dead', 'folded')",
            name="ck_deliveries_status",
        ),
    )
    op.create_index("ix_deliveries_status_created_at", "deliveries", ["status", "created_at"])
    op.create_index(
        "ix_deliveries_subscription_fingerprint", "deliveries", ["subscription", "fingerprint"]
    )
    op.create_index("ix_deliveries_article_id", "deliveries", ["article_id"])

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("watchlist", sa.String(200), nullable=False),
        sa.Column("schedule", sa.String(16), nullable=False),
        sa.Column("day", sa.String(16), nullable=True),
        sa.Column("time", sa.String(5), nullable=True),
        sa.Column("timezone", sa.String(64), server_default=sa.text("'UTC'"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("unsubscribed_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
        sa.UniqueConstraint("email", "watchlist", name="uq_subscriptions_email_watchlist"),
    )


def downgrade() -> None:
    op.drop_table("subscriptions")
    op.drop_table("deliveries")
    op.drop_table("matches")
    op.drop_table("articles")
    op.drop_table("feeds")
