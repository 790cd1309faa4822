"""Adapters to the outside world: Beatport pages and the Spotify Web API. No database access here."""
