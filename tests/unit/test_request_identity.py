"""What makes two requests the same work (the duplicate rule keys on it, not on spelling)."""

from __future__ import annotations

from typing import Any

from app.tasks.collection_tasks import collection_identity, enrichment_identity
from app.tasks.playlist_tasks import playlist_sync_identity


def test_enrichments_of_the_catalogue_are_one_piece_of_work_whatever_their_options() -> None:
    asked: list[dict[str, Any]] = [
        {},
        {"only_missing": True, "limit": 5},
        {"force": True, "only_missing": False},
        {"track_ids": None},
    ]
    assert {enrichment_identity(kwargs) for kwargs in asked} == {"catalogue"}


def test_a_track_list_is_the_same_work_in_any_order_and_a_different_list_is_not() -> None:
    same = enrichment_identity({"track_ids": [3, 1, 2]})
    assert enrichment_identity({"track_ids": [1, 2, 3, 3]}) == same
    assert enrichment_identity({"track_ids": [1, 2]}) != same
    assert enrichment_identity({"track_ids": [1, 2, 3]}) != enrichment_identity({})


def test_collections_key_on_kind_and_id_not_slug_or_locale() -> None:
    spellings = ["/chart/a/1", "/chart/b/1", "/de/chart/whatever/1"]
    assert len({collection_identity({"target": t, "max_pages": None}) for t in spellings}) == 1
    assert collection_identity({"target": "/chart/a/1"}) != collection_identity({"target": "/chart/a/2"})


def test_a_sync_is_one_piece_of_work_per_source_and_playlist() -> None:
    query = {"tracks": {"genre": "tech-house", "bpm_min": 124, "sort": "id", "order": "asc"}}
    reordered = {"tracks": {"order": "asc", "sort": "id", "bpm_min": 124, "genre": "tech-house"}}
    chart = {"source": {"chart_key": "genre-top-100-11"}, "playlist_id": None, "name": None}
    assert playlist_sync_identity(chart) == playlist_sync_identity({**chart, "name": "Another name"})
    assert playlist_sync_identity({"source": query}) == playlist_sync_identity({"source": reordered})
    assert playlist_sync_identity({"source": query}) != playlist_sync_identity(chart)
    elsewhere = {**chart, "playlist_id": "5Xfakeplaylist000000009"}
    assert playlist_sync_identity(elsewhere) != playlist_sync_identity(chart)
