"""Long-lived clients the services use, shared by routes and tasks: opened once by the lifespan, in the API and
in each worker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.session import create_engine, create_sessionmaker
from app.services.spotify_account import SpotifyAccounts
from app.sources import webhook
from app.sources.beatport.api import BeatportApiClient
from app.sources.beatport.auth import TokenStore, token_store_for
from app.sources.beatport.challenges import ChallengeMemory
from app.sources.beatport.fetcher import BeatportFetcher
from app.sources.cooldown import Cooldown
from app.sources.ratelimit import AsyncRateLimiter
from app.sources.shared_budget import request_budget
from app.sources.spotify import spotify_quota_key


@dataclass
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    beatport_http: httpx.AsyncClient
    webhook_http: httpx.AsyncClient  # watchlist webhooks: no redirects, a short timeout
    # Request budgets: one per deployment through Redis (every worker process), per process in embedded mode.
    beatport_limiter: AsyncRateLimiter
    spotify_limiter: AsyncRateLimiter
    # Beatport API v4 (only with API credentials and BEATPORT_SOURCE api|auto): its own client and budget,
    # and the token store every task of the process shares (Redis when REDIS_URL is set, else memory).
    beatport_api_http: httpx.AsyncClient | None = None
    beatport_api_limiter: AsyncRateLimiter | None = None
    beatport_token_store: TokenStore | None = None
    # Shared state of all workers (Beatport token, cooldowns) when REDIS_URL is set: the runtime's pool.
    redis: Redis | None = None
    # `auto` only: remembers a recent page challenge for every worker.
    challenge_memory: ChallengeMemory | None = None
    # "Spotify's quota is spent until …", seen by every enrichment task (of every worker, with Redis).
    spotify_quota: Cooldown | None = None
    # One refresh of the user's Spotify tokens at a time in this process (PostgreSQL also locks the row).
    spotify_refresh_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def open(cls, settings: Settings, *, redis: Redis | None) -> Resources:
        engine = create_engine(settings.database_url)
        api_http: httpx.AsyncClient | None = None
        api_limiter: AsyncRateLimiter | None = None
        token_store: TokenStore | None = None
        challenges: ChallengeMemory | None = None
        if settings.beatport_source != "pages" and settings.beatport_api_configured:
            api_http = BeatportApiClient.build_client(settings)
            api_limiter = request_budget(
                redis, site="beatport-api", rate_per_second=settings.beatport_api_requests_per_second
            )
            token_store = token_store_for(
                api_url=str(settings.beatport_api_url),
                username=settings.beatport_username,
                pasted_token=settings.beatport_api_token,
                redis=redis,
                secret_key=settings.secret_key,
            )
            if settings.beatport_source == "auto":
                challenges = ChallengeMemory(seconds=settings.beatport_challenge_memory_seconds, redis=redis)
        return cls(
            settings=settings,
            engine=engine,
            sessions=create_sessionmaker(engine),
            beatport_http=BeatportFetcher.build_client(settings),
            webhook_http=webhook.build_client(),
            beatport_limiter=request_budget(
                redis, site="beatport-pages", rate_per_second=settings.beatport_requests_per_second
            ),
            spotify_limiter=request_budget(
                redis, site="spotify", rate_per_second=settings.spotify_requests_per_second
            ),
            beatport_api_http=api_http,
            beatport_api_limiter=api_limiter,
            beatport_token_store=token_store,
            redis=redis,
            challenge_memory=challenges,
            spotify_quota=Cooldown(key=spotify_quota_key(settings.spotify_client_id), redis=redis),
        )

    def beatport_fetcher(self) -> BeatportFetcher:
        return BeatportFetcher.from_settings(
            self.settings, client=self.beatport_http, limiter=self.beatport_limiter
        )

    def beatport_api(self) -> BeatportApiClient | None:
        """The API client for a task, or None when the API is not configured (or BEATPORT_SOURCE=pages)."""
        if (
            self.beatport_api_http is None
            or self.beatport_api_limiter is None
            or self.beatport_token_store is None
        ):
            return None
        return BeatportApiClient.from_settings(
            self.settings,
            client=self.beatport_api_http,
            limiter=self.beatport_api_limiter,
            token_store=self.beatport_token_store,
        )

    def spotify_accounts(self) -> SpotifyAccounts:
        """The user's Spotify account (connection, tokens, playlist client) on this deployment's budget."""
        return SpotifyAccounts(
            settings=self.settings,
            sessions=self.sessions,
            refresh_lock=self.spotify_refresh_lock,
            limiter=self.spotify_limiter,
        )

    async def close(self) -> None:
        if self.beatport_api_http is not None:
            await self.beatport_api_http.aclose()
        await self.beatport_http.aclose()
        await self.webhook_http.aclose()
        await self.engine.dispose()
