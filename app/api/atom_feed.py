"""A watchlist's new tracks as an Atom 1.0 document (RFC 4287). Pure: read models in, bytes out.

Ids are tag: URIs (RFC 4151) made of the watchlist's id and creation time and the Beatport track id, so an
entry keeps its id across requests, token resets and restarts, and two deployments' watchlist 1 differ. The
document depends only on what is stored (no "now"), so an unchanged feed has the same bytes and ETag.
"""

from __future__ import annotations

import datetime as dt
import html
import xml.etree.ElementTree as ET

from app.db.read_models import WatchlistTrackRead

ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
BEATPORT_TRACK_URL = "https://www.beatport.com/track/{slug}/{id}"


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def feed_id(*, watchlist_id: int, created_at: dt.datetime) -> str:
    return f"tag:cratedigger,{created_at:%Y-%m-%d}:watchlist/{watchlist_id}/{int(created_at.timestamp())}"


def entry_title(track: WatchlistTrackRead) -> str:
    """ "Artist, Artist – Title (Mix) [Label]"."""
    artists = ", ".join(artist.name for artist in track.artists) or "Unknown artist"
    title = f"{artists} – {track.name}"
    if track.mix_name:
        title += f" ({track.mix_name})"
    if track.label:
        title += f" [{track.label.name}]"
    return title


def entry_content(track: WatchlistTrackRead) -> str:
    """What a DJ looks at first, as escaped HTML (Atom's type="html")."""
    key = " ".join(part for part in (track.key_name, f"({track.camelot})" if track.camelot else None) if part)
    facts = [
        ("BPM", str(track.bpm) if track.bpm is not None else None),
        ("Key", key or None),
        ("Genre", track.genre.name if track.genre else None),
        ("Release", track.release.name if track.release else None),
        ("Label", track.label.name if track.label else None),
        ("Remixers", ", ".join(remixer.name for remixer in track.remixers) or None),
        ("Released", track.publish_date.isoformat() if track.publish_date else None),
    ]
    items = "".join(f"<li>{name}: {html.escape(value)}</li>" for name, value in facts if value is not None)
    return f"<ul>{items}</ul>"


def _add(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


def render_feed(
    *,
    watchlist_id: int,
    name: str,
    created_at: dt.datetime,
    self_url: str,
    tracks: list[WatchlistTrackRead],
) -> bytes:
    """The feed of `tracks` (newest first, as given)."""
    feed = ET.Element("feed", {"xmlns": ATOM_NAMESPACE})
    base_id = feed_id(watchlist_id=watchlist_id, created_at=created_at)
    _add(feed, "id", base_id)
    _add(feed, "title", f"Cratedigger watchlist: {name}")
    _add(feed, "subtitle", "Tracks new to this watchlist, newest first")
    _add(feed, "updated", _time(max((t.first_seen_at for t in tracks), default=created_at)))
    _add(_add(feed, "author"), "name", "Cratedigger")
    _add(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _add(feed, "generator", "Cratedigger")
    for track in tracks:
        entry = _add(feed, "entry")
        _add(entry, "id", f"{base_id}/track/{track.id}")
        _add(entry, "title", entry_title(track))
        _add(entry, "updated", _time(track.first_seen_at))
        if track.publish_date is not None:
            _add(entry, "published", f"{track.publish_date.isoformat()}T00:00:00Z")
        url = BEATPORT_TRACK_URL.format(slug=track.slug or "_", id=track.id)
        _add(entry, "link", rel="alternate", type="text/html", href=url)
        if track.genre is not None:
            _add(entry, "category", term=track.genre.name)
        _add(entry, "content", entry_content(track), type="html")
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document
