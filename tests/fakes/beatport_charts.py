"""Other weeks of a chart for the loopback Beatport: the recorded tech-house Top 100 page listing a chosen
selection of its recorded tracks, in a chosen order (positions follow the order). Serve it with
`FakeBeatport.serve_genre_top100(html)` or at GENRE_TOP100_PATH of a FakeHTTPServer."""

from __future__ import annotations

from collections.abc import Sequence

from tests.fixtures.beatport import genre_top100_html, genre_top100_next_data, replace_next_data

TOP100_QUERY_PREFIX = "genre-11-top-100-tracks"


def genre_top100_week(indices: Sequence[int]) -> str:
    """The Top 100 page listing the recorded tracks at `indices` (0-99, page order), position 1 first."""
    data = genre_top100_next_data()
    for query in data["props"]["pageProps"]["dehydratedState"]["queries"]:
        if query["queryKey"][0].startswith(TOP100_QUERY_PREFIX):
            listing = query["state"]["data"]
            listing["results"] = [listing["results"][i] for i in indices]
            if "count" in listing:
                listing["count"] = len(indices)
            return replace_next_data(genre_top100_html(), data)
    raise AssertionError("the Top 100 capture has no top-100 tracks query")
