"""catalogue indexes: every track sort in both orders, filters by id, match review, trigram name search

Revision ID: 7a3f9c2d4e18
Revises: 4c4b42fe91de
Create Date: 2026-12-01 21:00:00

The sort keys are those of app.db.sort_keys: a nullable column has one index per order, led by a NULL flag, so
that NULLs come last both ways and each order is one index scan. The trigram indexes serve `lower(name) LIKE
'%…%'` on PostgreSQL (pg_trgm); SQLite has no such index type and scans its (embedded-sized) tables instead.
On PostgreSQL the catalogue tables are analyzed at the end, so the new expression indexes have statistics
before the first query is planned.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "7a3f9c2d4e18"
down_revision: str | Sequence[str] | None = "4c4b42fe91de"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.create_index(
        "ix_tracks_sort_publish_date_asc", "tracks", [sa.text("(publish_date IS NULL)"), "publish_date", "id"]
    )
    op.create_index(
        "ix_tracks_sort_publish_date_desc",
        "tracks",
        [sa.text("(publish_date IS NOT NULL)"), "publish_date", "id"],
    )
    op.create_index("ix_tracks_sort_bpm_asc", "tracks", [sa.text("(bpm IS NULL)"), "bpm", "id"])
    op.create_index("ix_tracks_sort_bpm_desc", "tracks", [sa.text("(bpm IS NOT NULL)"), "bpm", "id"])
    op.create_index("ix_tracks_sort_name", "tracks", ["name", "id"])
    op.create_index("ix_tracks_sort_created_at", "tracks", ["created_at", "id"])
    # Filters get the id beside them (the default list is by id); bpm and publish_date ranges use the
    # descending sort indexes. These replace the plain ones.
    for column in ("genre_id", "label_id", "camelot", "bpm", "publish_date"):
        op.drop_index(f"ix_tracks_{column}", table_name="tracks")
    op.create_index("ix_tracks_genre_by_id", "tracks", ["genre_id", "id"])
    op.create_index("ix_tracks_label_by_id", "tracks", ["label_id", "id"])
    op.create_index("ix_tracks_camelot_by_id", "tracks", ["camelot", "id"])
    op.create_index(
        "ix_tracks_match_method_by_id",
        "tracks",
        ["spotify_match_method", "id"],
        postgresql_where=sa.text("spotify_match_method IS NOT NULL"),
        sqlite_where=sa.text("spotify_match_method IS NOT NULL"),
    )
    op.create_index(
        "ix_tracks_match_score_by_id",
        "tracks",
        ["spotify_match_score", "id"],
        postgresql_where=sa.text("spotify_match_score IS NOT NULL"),
        sqlite_where=sa.text("spotify_match_score IS NOT NULL"),
    )
    if postgresql:
        # A trusted extension since PostgreSQL 13: the database owner may create it without superuser.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_labels_name_trgm ON labels USING gin (lower(name) gin_trgm_ops)")
        op.execute("CREATE INDEX ix_artists_name_trgm ON artists USING gin (lower(name) gin_trgm_ops)")
        op.execute("ANALYZE tracks, track_artists, artists, labels, releases")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm stays: it may have been there before, and other objects may use it.
        op.drop_index("ix_artists_name_trgm", table_name="artists")
        op.drop_index("ix_labels_name_trgm", table_name="labels")
    op.drop_index("ix_tracks_match_score_by_id", table_name="tracks")
    op.drop_index("ix_tracks_match_method_by_id", table_name="tracks")
    for column in ("camelot", "label", "genre"):
        op.drop_index(f"ix_tracks_{column}_by_id", table_name="tracks")
    for column in ("publish_date", "bpm", "camelot", "label_id", "genre_id"):
        op.create_index(f"ix_tracks_{column}", "tracks", [column])
    op.drop_index("ix_tracks_sort_created_at", table_name="tracks")
    op.drop_index("ix_tracks_sort_name", table_name="tracks")
    op.drop_index("ix_tracks_sort_bpm_desc", table_name="tracks")
    op.drop_index("ix_tracks_sort_bpm_asc", table_name="tracks")
    op.drop_index("ix_tracks_sort_publish_date_desc", table_name="tracks")
    op.drop_index("ix_tracks_sort_publish_date_asc", table_name="tracks")
