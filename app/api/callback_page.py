"""What a person's browser shows at the end of connecting Spotify (`GET /auth/spotify/callback` asked with
`Accept: text/html`): a short page in words instead of the JSON a script gets."""

from __future__ import annotations

from html import escape

from starlette.requests import Request

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · Cratedigger</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}}</style>
</head><body><h1>{title}</h1>{body}</body></html>
"""


def wants_html(request: Request) -> bool:
    """A browser navigating here asks for HTML first; scripts and the CLI take JSON (`*/*` or nothing)."""
    return "text/html" in request.headers.get("accept", "")


def connected_page(*, display_name: str | None, spotify_user_id: str, consent_expires_at: str) -> str:
    who = escape(display_name or spotify_user_id)
    body = (
        f"<p>Cratedigger can now keep playlists of <strong>{who}</strong> (Spotify user "
        f"{escape(spotify_user_id)}) in step with charts, watchlists and track queries.</p>"
        f"<p>Consent lasts until {escape(consent_expires_at)}; connect again before then. "
        "You can close this tab.</p>"
    )
    return _PAGE.format(title="Spotify connected", body=body)


def refused_page(detail: str) -> str:
    body = (
        f"<p>{escape(detail)}</p>"
        "<p>Start again with <code>cratedigger spotify connect</code> (or <code>GET /auth/spotify/login</code>"
        " with an admin key).</p>"
    )
    return _PAGE.format(title="Spotify was not connected", body=body)
