"""Business logic: collection (Beatport) and enrichment (Spotify). Called by tasks, never by routers."""
