"""watchlists: followed labels, artists and charts, and when each of their runs first stored a track

Revision ID: a4c8e2f61d93
Revises: 7a3f9c2d4e18
Create Date: 2026-12-02 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "a4c8e2f61d93"
down_revision: str | Sequence[str] | None = "7a3f9c2d4e18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "watchlists",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("max_pages", sa.Integer(), nullable=True),
        sa.Column("cron", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_secret_sealed", sa.Text(), nullable=True),
        sa.Column("feed_token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_id", sa.String(length=64), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_new_tracks", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlists")),
    )
    op.create_table(
        "watchlist_tracks",
        sa.Column("watchlist_id", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name=op.f("fk_watchlist_tracks_track_id_tracks")
        ),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["watchlists.id"],
            name=op.f("fk_watchlist_tracks_watchlist_id_watchlists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("watchlist_id", "track_id", name=op.f("pk_watchlist_tracks")),
    )
    op.create_index(
        "ix_watchlist_tracks_first_seen", "watchlist_tracks", ["watchlist_id", "first_seen_at"], unique=False
    )
    op.create_index("ix_watchlist_tracks_run", "watchlist_tracks", ["watchlist_id", "run_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_watchlist_tracks_run", table_name="watchlist_tracks")
    op.drop_index("ix_watchlist_tracks_first_seen", table_name="watchlist_tracks")
    op.drop_table("watchlist_tracks")
    op.drop_table("watchlists")
