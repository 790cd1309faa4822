"""spotify playlists: the connected Spotify account (tokens sealed), pending PKCE authorizations, and which
playlist each synced source went to

Revision ID: b2d4f6a8c0e1
Revises: a4c8e2f61d93
Create Date: 2026-12-03 10:00:00

Written on the `playlists` branch beside the watchlists migration of another branch, which also follows
7a3f9c2d4e18: whichever lands second is re-chained after the other.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "b2d4f6a8c0e1"
down_revision: str | Sequence[str] | None = "a4c8e2f61d93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spotify_accounts",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("spotify_user_id", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=500), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("refresh_token_sealed", sa.Text(), nullable=False),
        sa.Column("access_token_sealed", sa.Text(), nullable=True),
        sa.Column("access_token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("connected_by", sa.String(length=100), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refresh_token_rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("needs_reconsent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reconsent_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_spotify_accounts_one_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spotify_accounts")),
    )
    op.create_table(
        "spotify_authorizations",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("code_verifier_sealed", sa.Text(), nullable=False),
        sa.Column("caller_name", sa.String(length=100), nullable=False),
        sa.Column("caller_key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_spotify_authorizations")),
    )
    op.create_index(
        op.f("ix_spotify_authorizations_expires_at"), "spotify_authorizations", ["expires_at"], unique=False
    )
    op.create_table(
        "playlist_syncs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("spotify_user_id", sa.String(length=200), nullable=False),
        sa.Column("source_key", sa.String(length=300), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("playlist_id", sa.String(length=64), nullable=False),
        sa.Column("snapshot_id", sa.String(length=200), nullable=True),
        sa.Column("uris", sa.JSON(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playlist_syncs")),
        sa.UniqueConstraint("spotify_user_id", "source_key", name=op.f("uq_playlist_syncs_spotify_user_id")),
    )


def downgrade() -> None:
    op.drop_table("playlist_syncs")
    op.drop_index(op.f("ix_spotify_authorizations_expires_at"), table_name="spotify_authorizations")
    op.drop_table("spotify_authorizations")
    op.drop_table("spotify_accounts")
