"""The tables the track read side selects from (app.db.track_queries, app.db.track_export): Core tables, so
rows come back as plain tuples without ORM loading, and a track with the genre, sub-genre, label and release it
names, joined once here for both."""

from __future__ import annotations

from app.db.models import Artist, Genre, Label, Release, SubGenre, Track, TrackArtist

TRACKS = Track.__table__
CREDITS = TrackArtist.__table__
ARTISTS = Artist.__table__
GENRE = Genre.__table__.alias("g")
SUB_GENRE = SubGenre.__table__.alias("sg")
LABEL = Label.__table__.alias("l")
RELEASE = Release.__table__.alias("r")

TRACKS_WITH_REFERENCES = (
    TRACKS.outerjoin(GENRE, GENRE.c.id == TRACKS.c.genre_id)
    .outerjoin(SUB_GENRE, SUB_GENRE.c.id == TRACKS.c.sub_genre_id)
    .outerjoin(LABEL, LABEL.c.id == TRACKS.c.label_id)
    .outerjoin(RELEASE, RELEASE.c.id == TRACKS.c.release_id)
)
