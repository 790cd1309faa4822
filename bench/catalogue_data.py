"""A plausible Beatport catalogue of any size, for bench/catalogue.py: deterministic from a seed.

Shapes follow what collections store: ~1 release per 4 tracks, ~1 label per 50 tracks, ~1 artist per 7 tracks
(1-3 artists a track, a remixer on ~15%), 30 genres, BPMs around each genre's tempo, and the holes real pages
have (no BPM on ~2%, no key on ~3%, no publish date on ~1%, no ISRC on ~5%). Names are made of syllables and
words, so substring filters find some rows and not others, as on a real catalogue. Track ids are Beatport-like
(7-8 digits) and arrive in shuffled order, like pages of charts, labels and artists collected over time.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from decimal import Decimal

from app.sources.beatport.entities import (
    BeatportArtist,
    BeatportGenre,
    BeatportLabel,
    BeatportRelease,
    BeatportTrack,
)

FIRST_TRACK_ID = 10_000_000
KEYS = [
    (f"{note} {mode}", f"{number}{letter}")
    for mode, letter, notes in (
        ("Minor", "A", ("Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "Gb", "Db")),
        ("Major", "B", ("B", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E")),
    )
    for number, note in enumerate(notes, start=1)
]
GENRES = [
    (11, "Tech House", 126),
    (5, "House", 124),
    (6, "Techno (Peak Time / Driving)", 132),
    (92, "Techno (Raw / Deep / Hypnotic)", 130),
    (12, "Deep House", 122),
    (1, "Drum & Bass", 174),
    (90, "Melodic House & Techno", 123),
    (93, "Organic House", 118),
    (15, "Progressive House", 124),
    (7, "Trance (Main Floor)", 138),
    (14, "Minimal / Deep Tech", 127),
    (3, "Electronica", 110),
    (96, "Mainstage", 128),
    (89, "Afro House", 122),
    (8, "Hard Techno", 150),
    (81, "Indie Dance", 120),
    (37, "Nu Disco / Disco", 118),
    (16, "Dubstep", 140),
    (18, "Hard Dance / Hardcore", 160),
    (86, "Bass House", 128),
    (17, "Breaks / Breakbeat / UK Bass", 132),
    (95, "UK Garage / Bassline", 132),
    (65, "Funky House", 124),
    (97, "Jackin House", 125),
    (91, "Bass / Club", 130),
    (85, "Dance / Pop", 122),
    (41, "Downtempo", 100),
    (39, "Trap / Future Bass", 145),
    (94, "Amapiano", 113),
    (98, "Psy-Trance", 142),
]
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ra",
    "ven",
    "dor",
    "sel",
    "tu",
    "an",
    "bri",
    "che",
    "das",
    "el",
    "fo",
    "gar",
    "hu",
    "is",
    "jo",
    "kem",
    "lu",
    "mar",
    "nel",
    "os",
    "pa",
    "qui",
    "ros",
    "sa",
    "ti",
    "ul",
    "vo",
    "wex",
    "yn",
    "zo",
]
WORDS = [
    "night",
    "fire",
    "deep",
    "sun",
    "moon",
    "body",
    "soul",
    "move",
    "feel",
    "love",
    "dark",
    "light",
    "city",
    "dream",
    "wave",
    "echo",
    "storm",
    "gold",
    "rain",
    "step",
    "groove",
    "acid",
    "space",
    "time",
    "heart",
    "river",
    "stone",
    "glass",
    "wild",
    "loop",
    "pulse",
    "drive",
    "shadow",
    "summer",
    "rush",
    "bounce",
]
LABEL_SUFFIXES = ("Records", "Music", "Recordings", "Audio", "Sounds", "Digital", "Trax", "Label")
MIXES = ("Original Mix", "Extended Mix", "Club Mix", "Dub Mix", "Radio Edit")


def _name(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def _people(rng: random.Random, count: int, first_id: int) -> list[BeatportArtist]:
    people = []
    for index in range(count):
        name = (
            f"{_name(rng, rng.randint(1, 3))} {_name(rng, rng.randint(1, 3))}"
            if rng.random() < 0.6
            else _name(rng, rng.randint(2, 4))
        )
        people.append(BeatportArtist(first_id + index, name, name.lower().replace(" ", "-")))
    return people


def _labels(rng: random.Random, count: int) -> list[BeatportLabel]:
    labels = []
    for index in range(count):
        name = f"{_name(rng, rng.randint(1, 3))} {rng.choice(LABEL_SUFFIXES)}"
        labels.append(BeatportLabel(500_000 + index, name, name.lower().replace(" ", "-")))
    return labels


def catalogue_batches(total: int, *, batch_size: int = 1000, seed: int = 14) -> Iterator[list[BeatportTrack]]:
    """`total` tracks in batches of `batch_size`, the ids of all batches a shuffled range."""
    rng = random.Random(seed)
    genres = [BeatportGenre(gid, name, name.lower().replace(" ", "-")) for gid, name, _ in GENRES]
    tempo = {gid: bpm for gid, _, bpm in GENRES}
    artists = _people(rng, max(10, total // 7), 1_000_000)
    labels = _labels(rng, max(5, total // 50))
    ids = list(range(FIRST_TRACK_ID, FIRST_TRACK_ID + total))
    rng.shuffle(ids)
    batch: list[BeatportTrack] = []
    for index, track_id in enumerate(ids):
        batch.append(_track(rng, track_id, index, _release(track_id, labels), genres, tempo, artists))
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _release(track_id: int, labels: list[BeatportLabel]) -> BeatportRelease:
    """Four neighbouring track ids share a release, the same whichever of them comes first."""
    number = (track_id - FIRST_TRACK_ID) // 4
    words = len(WORDS)
    return BeatportRelease(
        5_000_000 + number,
        f"{WORDS[number % words].title()} {WORDS[number // words % words].title()} EP",
        None,
        f"https://geo-media.beatport.com/image_size/1400x1400/{number}.jpg",
        labels[number * 7919 % len(labels)],
    )


def _track(
    rng: random.Random,
    track_id: int,
    index: int,
    release: BeatportRelease,
    genres: list[BeatportGenre],
    tempo: dict[int, int],
    artists: list[BeatportArtist],
) -> BeatportTrack:
    genre = genres[min(int(rng.expovariate(0.15)), len(genres) - 1)]
    credited = tuple(rng.sample(artists, rng.choice((1, 1, 1, 2, 2, 3))))
    remixers = (rng.choice(artists),) if rng.random() < 0.15 else ()
    key = rng.choice(KEYS) if rng.random() >= 0.03 else None
    day = dt.date(2026, 11, 30) - dt.timedelta(days=int(rng.triangular(0, 7300, 0)))
    name = " ".join(rng.choice(WORDS).title() for _ in range(rng.randint(1, 3)))
    return BeatportTrack(
        id=track_id,
        name=name,
        mix_name=f"{remixers[0].name} Remix" if remixers else rng.choice(MIXES),
        slug=name.lower().replace(" ", "-"),
        artists=credited,
        remixers=remixers,
        bpm=int(rng.gauss(tempo[genre.id], 4)) if rng.random() >= 0.02 else None,
        key_name=key[0] if key else None,
        camelot=key[1] if key else None,
        genre=genre,
        release=release,
        isrc=f"QZ{track_id:010d}" if rng.random() >= 0.05 else None,
        catalog_number=f"CAT{release.id}",
        length_ms=rng.randint(150_000, 480_000),
        publish_date=day if rng.random() >= 0.01 else None,
        new_release_date=day,
        sample_url=f"https://geo-samples.beatport.com/track/{index}.LOFI.mp3",
        is_explicit=rng.random() < 0.05,
        price_value=Decimal(rng.choice(("1.49", "1.69", "2.49"))),
        price_currency="USD",
    )


# Spotify fields for 68% of the catalogue, set in one statement (enriching a million tracks through the
# Spotify client is another benchmark): 45% matched by ISRC, 15% by search with scores 0.55-0.99, 8% searched
# without a match ('none'). The rest were never checked.
SPOTIFY_FIELDS_SQL = """
UPDATE tracks SET
  spotify_match_method = CASE WHEN x.h < 45 THEN 'isrc' WHEN x.h < 60 THEN 'search' ELSE 'none' END,
  spotify_match_score = CASE WHEN x.h < 45 THEN 1.0 WHEN x.h < 60 THEN 0.55 + (x.h2 % 45) / 100.0 END,
  spotify_id = CASE WHEN x.h < 60 THEN 'sp' || tracks.id END,
  spotify_url = CASE WHEN x.h < 60 THEN 'https://open.spotify.com/track/sp' || tracks.id END,
  spotify_enriched_at = now()
FROM (SELECT id, (id * 2654435761) % 100 AS h, (id * 40503) % 1000 AS h2 FROM tracks) AS x
WHERE x.id = tracks.id AND x.h < 68
"""


def weekly_charts(
    track_ids: list[int], *, charts: int, weeks: int, size: int = 100, seed: int = 52
) -> Iterator[tuple[str, int, list[tuple[int, int]]]]:
    """(chart_key, week, [(position, track id)]) for `charts` charts over `weeks` weeks, oldest week first:
    each week about a tenth of a chart's entries drop out for new ones, and the rest move a few places."""
    rng = random.Random(seed)
    current = {f"genre-top-100-{gid}": rng.sample(track_ids, size) for gid, _, _ in GENRES[:charts]}
    for week in range(weeks):
        for key, entries in current.items():
            if week:
                for _ in range(size // 10):
                    entries[rng.randrange(size)] = rng.choice(track_ids)
                for _ in range(size // 4):
                    a, b = rng.randrange(size), rng.randrange(size)
                    entries[a], entries[b] = entries[b], entries[a]
                entries[:] = list(dict.fromkeys(entries))  # a track is on a chart once
                while len(entries) < size:
                    candidate = rng.choice(track_ids)
                    if candidate not in entries:
                        entries.append(candidate)
            yield key, week, [(position, tid) for position, tid in enumerate(entries, start=1)]
