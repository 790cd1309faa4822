"""The Spotify Web API source: `SpotifyClient` (client.py) over spotipy (spotipy_setup.py)."""

from app.sources.spotify.client import (
    CREDENTIALS_REJECTED,
    SpotifyClient,
    SpotifyNotConfigured,
    SpotifyNotFound,
    SpotifyQuotaExceeded,
    process_limiter,
    spotify_quota_key,
)

__all__ = [
    "CREDENTIALS_REJECTED",
    "SpotifyClient",
    "SpotifyNotConfigured",
    "SpotifyNotFound",
    "SpotifyQuotaExceeded",
    "process_limiter",
    "spotify_quota_key",
]
