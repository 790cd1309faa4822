"""Beatport's 46 genres (id, slug, display name).

Ids and slugs as in Beatport's own genre navigation (fomoplayer's genres.js, 2026-06); display names as
shown in the header genre menu of the real 2026-07 tech-house Top 100 capture (`header-subnav-link-genre<ID>`).
Genres change rarely; an unknown id in a page is still parsed, this list only drives the genre shorthand.
"""

from __future__ import annotations

from app.sources.beatport.entities import BeatportGenre

GENRES: tuple[BeatportGenre, ...] = (
    BeatportGenre(1, "Drum & Bass", "drum-bass"),
    BeatportGenre(2, "Hard Techno", "hard-techno"),
    BeatportGenre(3, "Electronica", "electronica"),
    BeatportGenre(5, "House", "house"),
    BeatportGenre(6, "Techno (Peak Time / Driving)", "techno-peak-time-driving"),
    BeatportGenre(7, "Trance (Main Floor)", "trance-main-floor"),
    BeatportGenre(8, "Hard Dance / Hardcore / Neo Rave", "hard-dance-hardcore-neo-rave"),
    BeatportGenre(9, "Breaks / Breakbeat / UK Bass", "breaks-breakbeat-uk-bass"),
    BeatportGenre(11, "Tech House", "tech-house"),
    BeatportGenre(12, "Deep House", "deep-house"),
    BeatportGenre(13, "Psy-Trance", "psy-trance"),
    BeatportGenre(14, "Minimal / Deep Tech", "minimal-deep-tech"),
    BeatportGenre(15, "Progressive House", "progressive-house"),
    BeatportGenre(16, "DJ Tools / Acapellas", "dj-tools-acapellas"),
    BeatportGenre(18, "Dubstep", "dubstep"),
    BeatportGenre(37, "Indie Dance", "indie-dance"),
    BeatportGenre(38, "Trap / Future Bass", "trap-future-bass"),
    BeatportGenre(39, "Dance / Pop", "dance-pop"),
    BeatportGenre(50, "Nu Disco / Disco", "nu-disco-disco"),
    BeatportGenre(63, "Downtempo", "downtempo"),
    BeatportGenre(81, "Funky House", "funky-house"),
    BeatportGenre(85, "Bass / Club", "bass-club"),
    BeatportGenre(86, "UK Garage / Bassline", "uk-garage-bassline"),
    BeatportGenre(89, "Afro House", "afro-house"),
    BeatportGenre(90, "Melodic House & Techno", "melodic-house-techno"),
    BeatportGenre(91, "Bass House", "bass-house"),
    BeatportGenre(92, "Techno (Raw / Deep / Hypnotic)", "techno-raw-deep-hypnotic"),
    BeatportGenre(93, "Organic House", "organic-house"),
    BeatportGenre(94, "Electro (Classic / Detroit / Modern)", "electro-classic-detroit-modern"),
    BeatportGenre(95, "140 / Deep Dubstep / Grime", "140-deep-dubstep-grime"),
    BeatportGenre(96, "Mainstage", "mainstage"),
    BeatportGenre(97, "Jackin House", "jackin-house"),
    BeatportGenre(98, "Amapiano", "amapiano"),
    BeatportGenre(99, "Trance (Raw / Deep / Hypnotic)", "trance-raw-deep-hypnotic"),
    BeatportGenre(100, "Ambient / Experimental", "ambient-experimental"),
    BeatportGenre(101, "Brazilian Funk", "brazilian-funk"),
    BeatportGenre(102, "African", "african"),
    BeatportGenre(103, "Caribbean", "caribbean"),
    BeatportGenre(104, "Country", "country"),
    BeatportGenre(105, "Hip-Hop", "hip-hop"),
    BeatportGenre(106, "Latin", "latin"),
    BeatportGenre(107, "Pop", "pop"),
    BeatportGenre(108, "R&B", "rb"),
    BeatportGenre(109, "Rock", "rock"),
    BeatportGenre(110, "DJ Edits", "dj-edits"),
    BeatportGenre(111, "Latin Electronic", "latin-electronic"),
)

_BY_ID: dict[int, BeatportGenre] = {g.id: g for g in GENRES}
_BY_SLUG: dict[str, BeatportGenre] = {g.slug: g for g in GENRES if g.slug}
_BY_NAME: dict[str, BeatportGenre] = {g.name.casefold(): g for g in GENRES}


def genre_by_id(genre_id: int) -> BeatportGenre | None:
    return _BY_ID.get(genre_id)


def genre_by_slug(slug: str) -> BeatportGenre | None:
    """Case-insensitive; surrounding whitespace and slashes are ignored."""
    return _BY_SLUG.get(slug.strip().strip("/").lower())


def genre_by_name(name: str) -> BeatportGenre | None:
    """Match a display name such as "Tech House" (case-insensitive)."""
    return _BY_NAME.get(name.strip().casefold())
