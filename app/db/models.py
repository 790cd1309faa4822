"""Tables. Beatport entities use their Beatport id as primary key: the natural key every upsert is keyed on."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, UTCDateTime, utcnow
from app.db.sort_keys import sort_key

BeatportId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite only autoincrements INTEGER


class Genre(Base):
    __tablename__ = "genres"

    id: Mapped[int] = mapped_column(BeatportId, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str | None] = mapped_column(String(200))


class SubGenre(Base):
    __tablename__ = "sub_genres"

    id: Mapped[int] = mapped_column(BeatportId, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str | None] = mapped_column(String(200))


class Label(Base):
    __tablename__ = "labels"

    id: Mapped[int] = mapped_column(BeatportId, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(500))
    slug: Mapped[str | None] = mapped_column(String(500))
    image_url: Mapped[str | None] = mapped_column(Text)


class Release(Base):
    __tablename__ = "releases"

    id: Mapped[int] = mapped_column(BeatportId, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(500))
    slug: Mapped[str | None] = mapped_column(String(500))
    image_url: Mapped[str | None] = mapped_column(Text)
    label_id: Mapped[int | None] = mapped_column(ForeignKey("labels.id"), index=True)

    label: Mapped[Label | None] = relationship()


class Artist(Base):
    __tablename__ = "artists"

    id: Mapped[int] = mapped_column(BeatportId, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(500))
    slug: Mapped[str | None] = mapped_column(String(500))
    spotify_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # None = unknown (not fetched, or Spotify did not say); [] = Spotify has no genres for the artist.
    spotify_genres: Mapped[list[str] | None] = mapped_column(JSON)
    spotify_fetched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Track(Base):
    __tablename__ = "tracks"

    id: Mapped[int] = mapped_column(BeatportId, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(500))
    mix_name: Mapped[str | None] = mapped_column(String(500))
    slug: Mapped[str | None] = mapped_column(String(500))
    bpm: Mapped[int | None] = mapped_column(Integer)
    key_name: Mapped[str | None] = mapped_column(String(32))
    camelot: Mapped[str | None] = mapped_column(String(3))
    genre_id: Mapped[int | None] = mapped_column(ForeignKey("genres.id"))
    sub_genre_id: Mapped[int | None] = mapped_column(ForeignKey("sub_genres.id"))
    release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"), index=True)
    label_id: Mapped[int | None] = mapped_column(ForeignKey("labels.id"))  # release.label, kept for filters
    isrc: Mapped[str | None] = mapped_column(String(15), index=True)
    catalog_number: Mapped[str | None] = mapped_column(String(100))
    length_ms: Mapped[int | None] = mapped_column(Integer)
    publish_date: Mapped[dt.date | None] = mapped_column(Date)
    new_release_date: Mapped[dt.date | None] = mapped_column(Date)
    sample_url: Mapped[str | None] = mapped_column(Text)
    is_explicit: Mapped[bool | None] = mapped_column(Boolean)
    price_cents: Mapped[int | None] = mapped_column(Integer)  # minor units; exact on SQLite too
    price_currency: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Spotify enrichment, beside the Beatport data.
    spotify_id: Mapped[str | None] = mapped_column(String(64), index=True)
    spotify_url: Mapped[str | None] = mapped_column(Text)
    spotify_album_id: Mapped[str | None] = mapped_column(String(64))
    spotify_album_name: Mapped[str | None] = mapped_column(String(500))
    spotify_album_type: Mapped[str | None] = mapped_column(String(32))
    spotify_album_release_date: Mapped[str | None] = mapped_column(
        String(10)
    )  # Spotify gives YYYY, YYYY-MM or a date
    spotify_duration_ms: Mapped[int | None] = mapped_column(Integer)
    spotify_explicit: Mapped[bool | None] = mapped_column(Boolean)
    spotify_popularity: Mapped[int | None] = mapped_column(Integer)
    spotify_match_method: Mapped[str | None] = mapped_column(
        String(16)
    )  # isrc | search | none (searched, no match) | manual (set through the API)
    spotify_match_score: Mapped[float | None] = mapped_column(Float)
    # A manual decision (a match, or "not on Spotify") is locked: no enrichment changes it, `force` included.
    spotify_match_locked_by: Mapped[str | None] = mapped_column(String(100))  # the API key's name
    spotify_match_locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    spotify_enriched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)

    genre: Mapped[Genre | None] = relationship()
    sub_genre: Mapped[SubGenre | None] = relationship()
    release: Mapped[Release | None] = relationship()
    label: Mapped[Label | None] = relationship()
    artist_links: Mapped[list[TrackArtist]] = relationship(
        order_by="(TrackArtist.role, TrackArtist.position)", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint(
            "spotify_match_method IS NULL OR spotify_match_method IN ('isrc', 'search', 'none', 'manual')",
            name="spotify_match_method",
        ),
    )


class TrackArtist(Base):
    __tablename__ = "track_artists"

    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id"), index=True)

    artist: Mapped[Artist] = relationship(lazy="joined")

    __table_args__ = (CheckConstraint("role IN ('artist', 'remixer')", name="role"),)


class ChartSnapshot(Base):
    """One collection of one chart-like list (a Top 100, a chart): a row per run, so movement can be seen."""

    __tablename__ = "chart_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chart_key: Mapped[str] = mapped_column(String(100), index=True)
    title: Mapped[str | None] = mapped_column(String(500))
    # The page collected (Target.path(): the chart's slug included); null for snapshots stored before it was kept.
    path: Mapped[str | None] = mapped_column(String(500))
    # A redelivered task reuses its snapshot instead of writing a second one.
    task_id: Mapped[str] = mapped_column(String(64))
    collected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("chart_key", "task_id"),)


class ChartEntry(Base):
    __tablename__ = "chart_entries"

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("chart_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id"), index=True)


class DeadLetter(Base):
    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    task_name: Mapped[str] = mapped_column(String(200))
    args: Mapped[list[Any]] = mapped_column(JSON, default=list)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error_type: Mapped[str] = mapped_column(String(200))
    error_message: Mapped[str] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    first_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    retried_task_id: Mapped[str | None] = mapped_column(String(64))


Index("ix_chart_snapshots_key_collected", ChartSnapshot.chart_key, ChartSnapshot.collected_at)

# The track list's sorts, one index per order where NULLs must come last both ways (app.db.sort_keys).
_tracks = Track.__table__.c
Index(
    "ix_tracks_sort_publish_date_asc",
    *sort_key(_tracks.publish_date, _tracks.id, nullable=True, descending=False),
)
Index(
    "ix_tracks_sort_publish_date_desc",
    *sort_key(_tracks.publish_date, _tracks.id, nullable=True, descending=True),
)
Index("ix_tracks_sort_bpm_asc", *sort_key(_tracks.bpm, _tracks.id, nullable=True, descending=False))
Index("ix_tracks_sort_bpm_desc", *sort_key(_tracks.bpm, _tracks.id, nullable=True, descending=True))
Index("ix_tracks_sort_name", *sort_key(_tracks.name, _tracks.id, nullable=False, descending=False))
Index(
    "ix_tracks_sort_created_at", *sort_key(_tracks.created_at, _tracks.id, nullable=False, descending=False)
)
# Filters with the id beside them: "filter = x, by id" (the default list) is an ordered index range, and a
# range filter's ids are read from the index alone, then sorted (no visit to each matching row). Ranges of
# bpm and publish_date use the descending sort indexes above (app.db.track_filters).
Index("ix_tracks_genre_by_id", _tracks.genre_id, _tracks.id)
Index("ix_tracks_label_by_id", _tracks.label_id, _tracks.id)
Index("ix_tracks_camelot_by_id", _tracks.camelot, _tracks.id)
# Match review: rows without a match method or score are left out, so collecting costs nothing here.
Index(
    "ix_tracks_match_method_by_id",
    _tracks.spotify_match_method,
    _tracks.id,
    postgresql_where=_tracks.spotify_match_method.is_not(None),
    sqlite_where=_tracks.spotify_match_method.is_not(None),
)
Index(
    "ix_tracks_match_score_by_id",
    _tracks.spotify_match_score,
    _tracks.id,
    postgresql_where=_tracks.spotify_match_score.is_not(None),
    sqlite_where=_tracks.spotify_match_score.is_not(None),
)
# Both at once (the review of low-scored search matches): a bounded count is an index-only range. On
# PostgreSQL, extended statistics on the pair go with it (alembic/versions/…_match_review_index.py).
Index(
    "ix_tracks_match_review",
    _tracks.spotify_match_method,
    _tracks.spotify_match_score,
    postgresql_where=_tracks.spotify_match_score.is_not(None),
    sqlite_where=_tracks.spotify_match_score.is_not(None),
)
# Name substring filters (`LIKE '%…%'` on lower(name)): trigram indexes, PostgreSQL only (pg_trgm).
Index(
    "ix_labels_name_trgm",
    func.lower(Label.name).label("lower_name"),
    postgresql_using="gin",
    postgresql_ops={"lower_name": "gin_trgm_ops"},
).ddl_if(dialect="postgresql")
Index(
    "ix_artists_name_trgm",
    func.lower(Artist.name).label("lower_name"),
    postgresql_using="gin",
    postgresql_ops={"lower_name": "gin_trgm_ops"},
).ddl_if(dialect="postgresql")


class CollectionPage(Base):
    """A page one collection run stored, with that page's counts: a retried or redelivered run (the same task
    id) resumes after its stored pages and still reports counts for the whole target."""

    __tablename__ = "collection_pages"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    target: Mapped[str] = mapped_column(String(500), primary_key=True)  # Target.path(): kind, slug and id
    page: Mapped[int] = mapped_column(Integer, primary_key=True)
    served_by: Mapped[str] = mapped_column(Text)  # as in the summary's `sources`: "pages", "api (…)"
    tracks_seen: Mapped[int] = mapped_column(Integer)
    tracks_created: Mapped[int] = mapped_column(Integer)
    tracks_updated: Mapped[int] = mapped_column(Integer)
    tracks_unchanged: Mapped[int] = mapped_column(Integer)
    # What the page said about the whole list, so a resumed run knows the page count and size without asking.
    total_count: Mapped[int | None] = mapped_column(Integer)
    per_page: Mapped[int | None] = mapped_column(Integer)
    chart_snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("chart_snapshots.id", ondelete="CASCADE")
    )
    stored_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ApiKey(Base):
    """An API key: only its SHA-256 is kept (keys are random 256-bit tokens, so a fast hash is enough)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    scope: Mapped[str] = mapped_column(String(10))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to tell keys apart in lists
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint("scope IN ('read', 'write', 'admin')", name="scope"),)


class Watchlist(Base):
    """Labels, artists and charts someone follows: run on a cron (through the scheduler) or on request; what a
    run stores for the first time is new to it (`WatchlistTrack`), shown in its Atom feed and sent to its
    webhook."""

    __tablename__ = "watchlists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    targets: Mapped[list[str]] = mapped_column(
        JSON
    )  # canonical paths (Target.path()), validated on the way in
    max_pages: Mapped[int | None] = mapped_column(Integer)  # per label/artist target; None: the default
    cron: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    # Sealed with SECRET_KEY (app/sealed.py): admins may read it again, so it is encrypted, not hashed.
    webhook_secret_sealed: Mapped[str | None] = mapped_column(Text)
    # SHA-256 of the feed token: the token is shown when it is made, like an API key.
    feed_token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_run_id: Mapped[str | None] = mapped_column(String(64))
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_run_new_tracks: Mapped[int | None] = mapped_column(Integer)
    # {"playlist_id", "name"}: after a run with new tracks, enrich them and mirror the watchlist into that playlist.
    sync: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class WatchlistTrack(Base):
    """A track is new to a watchlist the first time a run of that watchlist stores it; later runs keep the row."""

    __tablename__ = "watchlist_tracks"

    watchlist_id: Mapped[int] = mapped_column(
        ForeignKey("watchlists.id", ondelete="CASCADE"), primary_key=True
    )
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id"), primary_key=True)
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    run_id: Mapped[str] = mapped_column(String(64))  # the run_watchlist task that stored it first


Index("ix_watchlist_tracks_first_seen", WatchlistTrack.watchlist_id, WatchlistTrack.first_seen_at)
Index("ix_watchlist_tracks_run", WatchlistTrack.watchlist_id, WatchlistTrack.run_id)


class SpotifyAccount(Base):
    """The Spotify account whose playlists Cratedigger writes (one at most: id 1). Its tokens are sealed with
    SECRET_KEY (app.sealed); consent lasts six months from `consented_at`."""

    __tablename__ = "spotify_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    spotify_user_id: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(Text)
    refresh_token_sealed: Mapped[str] = mapped_column(Text)
    access_token_sealed: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    consented_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    connected_by: Mapped[str] = mapped_column(String(100))  # the API key's name
    refreshed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    refresh_token_rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Spotify refused the refresh token (invalid_grant): nothing works until the user connects again.
    needs_reconsent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reconsent_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (CheckConstraint("id = 1", name="one_account"),)


class SpotifyAuthorization(Base):
    """A connection started by GET /auth/spotify/login and not finished yet: used once, or expired. Only the
    state's hash is kept, and the PKCE verifier sealed; `caller_*` is the API key that started it."""

    __tablename__ = "spotify_authorizations"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    code_verifier_sealed: Mapped[str] = mapped_column(Text)
    caller_name: Mapped[str] = mapped_column(String(100))
    caller_key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class PlaylistSync(Base):
    """A source mirrored into a playlist of a Spotify user: the playlist it went to last, and what the playlist
    held (`uris`) at `snapshot_id` after that sync."""

    __tablename__ = "playlist_syncs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    spotify_user_id: Mapped[str] = mapped_column(String(200))
    source_key: Mapped[str] = mapped_column(String(300))
    source: Mapped[dict[str, Any]] = mapped_column(JSON)
    playlist_id: Mapped[str] = mapped_column(String(64))
    snapshot_id: Mapped[str | None] = mapped_column(String(200))
    uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    synced_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("spotify_user_id", "source_key"),)
