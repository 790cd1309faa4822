"""PKCE as Spotify wants it: an S256 challenge of a fresh, long enough verifier, the playlist scopes and the state
in the authorize URL; consent that ends six calendar months later."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.services.spotify_account import consent_expiry
from app.sources.spotify.user_auth import PLAYLIST_SCOPES, UserAuthorization


def authorization() -> UserAuthorization:
    return UserAuthorization(
        client_id="cid",
        redirect_uri="http://127.0.0.1:8000/auth/spotify/callback",
        accounts_url="https://accounts.example/",
    )


def test_the_authorize_url_carries_an_s256_challenge_of_the_verifier() -> None:
    request = authorization().authorization_request("state-123")
    parts = urlsplit(request.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://accounts.example/authorize"
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    expected = base64.urlsafe_b64encode(hashlib.sha256(request.code_verifier.encode()).digest()).decode()
    assert query["code_challenge"] == expected.rstrip("=")
    assert query["code_challenge_method"] == "S256"
    assert query["response_type"] == "code" and query["client_id"] == "cid"
    assert query["redirect_uri"] == "http://127.0.0.1:8000/auth/spotify/callback"
    assert query["state"] == "state-123"
    assert set(query["scope"].split()) == set(PLAYLIST_SCOPES)
    # RFC 7636: 43-128 characters of the unreserved set; and never in the URL itself
    assert re.fullmatch(r"[A-Za-z0-9._~-]{43,128}", request.code_verifier)
    assert request.code_verifier not in request.url


def test_each_authorization_has_its_own_verifier() -> None:
    auth = authorization()
    first, second = auth.authorization_request("a"), auth.authorization_request("b")
    assert first.code_verifier != second.code_verifier


@pytest.mark.parametrize(
    ("consented", "expires"),
    [
        (dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.UTC), dt.datetime(2027, 6, 3, 10, 0, tzinfo=dt.UTC)),
        (dt.datetime(2026, 8, 31, 23, 59, tzinfo=dt.UTC), dt.datetime(2027, 2, 28, 23, 59, tzinfo=dt.UTC)),
        (dt.datetime(2026, 3, 15, 0, 0, tzinfo=dt.UTC), dt.datetime(2026, 9, 15, 0, 0, tzinfo=dt.UTC)),
    ],
)
def test_consent_expires_six_calendar_months_later(consented: dt.datetime, expires: dt.datetime) -> None:
    assert consent_expiry(consented) == expires


@pytest.mark.parametrize(
    "uri", ["http://localhost:8000/auth/spotify/callback", "http://dj.example/auth/spotify/callback"]
)
def test_a_redirect_uri_spotify_refuses_is_refused_at_start(uri: str) -> None:
    with pytest.raises(ValidationError, match="SPOTIFY_REDIRECT_URI"):
        Settings(_env_file=None, spotify_redirect_uri=uri)


@pytest.mark.parametrize(
    "uri", ["http://127.0.0.1:8000/auth/spotify/callback", "https://dj.example/auth/spotify/callback"]
)
def test_loopback_and_https_redirect_uris_are_taken(uri: str) -> None:
    assert str(Settings(_env_file=None, spotify_redirect_uri=uri).spotify_redirect_uri) == uri
