"""manual spotify matches: a `manual` match method and who locked a track's match, and when

Revision ID: 7d3e1f0a2b44
Revises: 5c0a9e3d7b21
Create Date: 2026-12-01 18:45:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "7d3e1f0a2b44"
down_revision: str | Sequence[str] | None = "5c0a9e3d7b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_METHODS = "spotify_match_method IS NULL OR spotify_match_method IN ('isrc', 'search', 'none')"
NEW_METHODS = "spotify_match_method IS NULL OR spotify_match_method IN ('isrc', 'search', 'none', 'manual')"


def upgrade() -> None:
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("spotify_match_locked_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("spotify_match_locked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f("ck_tracks_spotify_match_method"), type_="check")
        batch_op.create_check_constraint(op.f("ck_tracks_spotify_match_method"), NEW_METHODS)


def downgrade() -> None:
    # Manual decisions have no place in the old schema: they become "never checked".
    op.execute(
        "UPDATE tracks SET spotify_id = NULL, spotify_url = NULL, spotify_album_id = NULL, "
        "spotify_album_name = NULL, spotify_album_type = NULL, spotify_album_release_date = NULL, "
        "spotify_duration_ms = NULL, spotify_explicit = NULL, spotify_popularity = NULL, "
        "spotify_match_method = NULL, spotify_match_score = NULL, spotify_enriched_at = NULL "
        "WHERE spotify_match_method = 'manual'"
    )
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_tracks_spotify_match_method"), type_="check")
        batch_op.create_check_constraint(op.f("ck_tracks_spotify_match_method"), OLD_METHODS)
        batch_op.drop_column("spotify_match_locked_at")
        batch_op.drop_column("spotify_match_locked_by")
