"""The one place that reads the environment (and `.env`)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, HttpUrl, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
# Where Beatport data comes from (BEATPORT_SOURCE; see the Beatport API block at the end of Settings).
BeatportSource = Literal["pages", "api", "auto"]
LogFormat = Literal["json", "text"]


class Settings(BaseSettings):
    """Every configuration name in the contract (docs/design.md); defaults are the embedded mode's."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./data/cratedigger.db"
    redis_url: str | None = None

    beatport_base_url: HttpUrl = HttpUrl("https://www.beatport.com")
    beatport_requests_per_second: PositiveFloat = 1.0
    beatport_user_agent: str = "Mozilla/5.0 (compatible; Cratedigger/0.1; +https://github.com/cratedigger)"
    # Extra request headers for www.beatport.com as JSON, e.g. {"Accept-Language": "de-DE"}; they win over defaults.
    beatport_headers: dict[str, str] = Field(default_factory=dict)
    beatport_connect_timeout_seconds: PositiveFloat = 5.0
    beatport_read_timeout_seconds: PositiveFloat = 30.0
    beatport_max_response_bytes: PositiveInt = 5 * 1024 * 1024
    # Short transient failures are retried inside one fetch first; after that the task's retry policy applies.
    beatport_fetch_attempts: PositiveInt = 3

    spotify_client_id: str | None = None
    spotify_client_secret: SecretStr | None = None
    spotify_api_url: HttpUrl = HttpUrl("https://api.spotify.com/v1/")
    spotify_auth_url: HttpUrl = HttpUrl("https://accounts.spotify.com/api/token")
    spotify_market: str = Field(default="US", min_length=2, max_length=2)
    spotify_requests_per_second: PositiveFloat = 2.0
    # The user's own account (playlists): PKCE authorization on SPOTIFY_ACCOUNTS_URL (/authorize, /api/token),
    # answered at SPOTIFY_REDIRECT_URI, which must be registered in the Spotify app exactly as written here.
    spotify_accounts_url: HttpUrl = HttpUrl("https://accounts.spotify.com")
    spotify_redirect_uri: HttpUrl = HttpUrl("http://127.0.0.1:8000/auth/spotify/callback")
    playlist_sync_task_timeout_seconds: PositiveFloat = 15 * 60

    worker_concurrency: PositiveInt = 10
    # Larger request bodies are refused with 413 before they are read (contract, second part: "Limits").
    max_request_bytes: PositiveInt = 1024 * 1024
    # Seals stored user tokens (Beatport API tokens in Redis); required with REDIS_URL.
    secret_key: SecretStr | None = None
    # Access (contract, second part): an admin key from the environment (compose, automation), whether
    # /metrics needs a key, and the browser origins allowed to call the API (CORS; none by default).
    api_admin_key: SecretStr | None = None
    metrics_require_key: bool = False
    # Requests each API key may make per calendar minute (429 with Retry-After beyond); 0: no limit.
    api_key_requests_per_minute: NonNegativeInt = 0
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Watchlist webhooks may go to private, loopback or link-local addresses (a LAN service, tests); off: only
    # hosts that resolve to public addresses, checked when the watchlist is made and at every delivery.
    webhook_allow_private: bool = False
    collect_max_pages: PositiveInt = 50  # the largest max_pages a collection may ask for
    schedules_max: PositiveInt = 100  # schedules that may exist (settings' and the API's)
    schedule_min_interval_minutes: PositiveInt = 15  # a cron that fires more often is refused
    task_visibility_timeout_seconds: PositiveInt = 60
    task_result_ttl_seconds: PositiveInt = 604800

    # Reliability (docs/reliability.md): reclaim, retries, timeouts, shutdown.
    task_reclaim_interval_seconds: PositiveFloat = 5.0
    task_max_attempts: PositiveInt = 5
    task_retry_base_seconds: PositiveFloat = 2.0
    task_retry_max_seconds: PositiveFloat = 600.0
    collection_task_timeout_seconds: PositiveFloat = 15 * 60
    enrichment_task_timeout_seconds: PositiveFloat = 60 * 60
    worker_shutdown_grace_seconds: PositiveFloat = 30.0

    # Scheduled work (`taskiq scheduler app.scheduler:scheduler`); cron text is checked when the scheduler starts.
    schedule_beatport_top100_genres: Annotated[list[str], NoDecode] = Field(default_factory=list)
    schedule_beatport_cron: str = "0 6 * * *"
    schedule_enrich_cron: str | None = "0 * * * *"  # empty → no scheduled enrichment
    schedule_timezone: str = "UTC"

    # The `cratedigger` CLI's API and key (the key defaults to the contents of data/api-key).
    cratedigger_url: str = "http://127.0.0.1:8000"
    cratedigger_api_key: SecretStr | None = None

    # --- operations (docs/operations.md): logs, metrics, tracing, worker processes ---
    # Empty: json with REDIS_URL (deployed: one JSON object a line for a log shipper), text without (embedded).
    log_format: LogFormat | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Set: every process of this host writes its metrics here and /metrics sums them (prometheus-client's
    # multiprocess mode: api processes and every taskiq worker process). Unset: /metrics shows its own process.
    prometheus_multiproc_dir: Path | None = None
    # Catalogue counts in /metrics are counted at most this often (a scrape reads the last count).
    metrics_catalogue_refresh_seconds: PositiveFloat = 60.0
    # Set: FastAPI and taskiq spans exported over OTLP/HTTP to this base URL (e.g. http://collector:4318).
    # Unset: OpenTelemetry is not even imported.
    otel_exporter_otlp_endpoint: HttpUrl | None = None
    otel_service_name: str = "cratedigger"
    # Processes `taskiq worker` starts (its --workers); `cratedigger health worker` expects as many heartbeats.
    worker_processes: PositiveInt = 2

    @property
    def effective_log_format(self) -> LogFormat:
        if self.log_format is not None:
            return self.log_format
        return "json" if self.redis_url else "text"

    @field_validator("schedule_beatport_top100_genres", "cors_allow_origins", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Accept `tech-house,afro-house` as well as a JSON list."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("secret_key", "api_admin_key", "cratedigger_api_key", mode="before")
    @classmethod
    def _empty_secret_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("spotify_redirect_uri")
    @classmethod
    def _redirect_spotify_accepts(cls, value: HttpUrl) -> HttpUrl:
        """Spotify refuses `localhost` and plain http anywhere but a loopback address (2025 rules)."""
        loopback = value.host in ("127.0.0.1", "[::1]", "::1")
        if value.host == "localhost" or (value.scheme == "http" and not loopback):
            raise ValueError(
                "SPOTIFY_REDIRECT_URI must be https, or http on 127.0.0.1 (Spotify refuses localhost and other "
                "plain-http redirects)"
            )
        return value

    @field_validator(
        "schedule_enrich_cron",
        "log_format",
        "prometheus_multiproc_dir",
        "otel_exporter_otlp_endpoint",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def spotify_configured(self) -> bool:
        return bool(self.spotify_client_id and self.spotify_client_secret)

    def missing_spotify_settings(self) -> list[str]:
        missing = []
        if not self.spotify_client_id:
            missing.append("SPOTIFY_CLIENT_ID")
        if not self.spotify_client_secret:
            missing.append("SPOTIFY_CLIENT_SECRET")
        return missing

    # --- Beatport API v4 source (issue 8): the fallback for when www.beatport.com pages are challenged ---
    # pages: page fetcher only; api: API only; auto: pages first, the API once a page is challenged
    # (only when API credentials are configured).
    beatport_source: BeatportSource = "auto"
    beatport_api_url: HttpUrl = HttpUrl("https://api.beatport.com/v4/")
    beatport_username: str | None = None
    beatport_password: SecretStr | None = None
    # A token pasted from the browser: the raw access token or the JSON of /v4/auth/o/token/.
    beatport_api_token: SecretStr | None = None
    beatport_api_requests_per_second: PositiveFloat = 1.0
    # In `auto`, how long a challenged page sends later collections straight to the API (0: try pages first
    # every time). Challenges tend to last hours, and each retried challenged fetch costs time and budget.
    beatport_challenge_memory_seconds: NonNegativeInt = 900

    @property
    def beatport_api_configured(self) -> bool:
        """Credentials for the API exist: a username and password, or a pasted token."""
        has_login = bool(
            self.beatport_username and self.beatport_password and self.beatport_password.get_secret_value()
        )
        return has_login or bool(self.beatport_api_token and self.beatport_api_token.get_secret_value())


@lru_cache
def get_settings() -> Settings:
    return Settings()
