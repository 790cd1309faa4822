"""`spotify connect|status|disconnect` and `playlists sync`: the user's own Spotify account, and playlists that
mirror a chart, a watchlist or a track query."""

from __future__ import annotations

import webbrowser
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qsl

import typer

from app.cli.output import api, err, out, print_json
from app.cli.task_commands import JsonFlag, WaitFlag, start_task

spotify = typer.Typer(
    help="Your own Spotify account, whose playlists Cratedigger writes.", no_args_is_help=True
)
playlists = typer.Typer(
    help="Spotify playlists that mirror a chart, a watchlist or a track query.", no_args_is_help=True
)


@spotify.command("connect")
def connect(
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="open the URL in this machine's browser")
    ] = True,
) -> None:
    """Start connecting your Spotify account (admin key): prints Spotify's page to approve Cratedigger on, valid
    for ten minutes and for this key only.

    Example: `cratedigger spotify connect --no-open`, then open the printed URL where you are signed in to Spotify
    """
    with api() as client:
        url = client.redirect_target("/auth/spotify/login")
    out.print(url, highlight=False, soft_wrap=True)
    err.print("Approve on that page; then `cratedigger spotify status` shows the account.")
    if open_browser:
        webbrowser.open(url)


@spotify.command("status")
def status(as_json: JsonFlag = False) -> None:
    """The connected Spotify account: who, until when consent lasts, whether Spotify wants it connected again.

    Example: `cratedigger spotify status`
    """
    with api() as client:
        account = client.get("/auth/spotify")
    if as_json:
        print_json(account)
        return
    who = account.get("display_name") or account["spotify_user_id"]
    out.print(
        f"{who} (Spotify user {account['spotify_user_id']}), connected by key {account['connected_by']}"
    )
    out.print(f"consent lasts until {account['consent_expires_at']}")
    if account.get("needs_reconsent"):
        err.print(
            f"[yellow]{account.get('note') or 'Spotify wants it connected again'}[/yellow]", markup=True
        )
        raise typer.Exit(1)


@spotify.command("disconnect")
def disconnect(yes: Annotated[bool, typer.Option("--yes", help="do not ask first")] = False) -> None:
    """Forget the connected account and its tokens (admin key). Playlists already written stay on Spotify.

    Example: `cratedigger spotify disconnect --yes`
    """
    if not yes and not typer.confirm(
        "Forget the connected Spotify account? Syncs stop until one is connected"
    ):
        err.print("Nothing changed.")
        raise typer.Exit(1)
    with api() as client:
        client.request("DELETE", "/auth/spotify")
    out.print("Spotify account forgotten; remove Cratedigger under Apps in your Spotify account as well.")


# GET /tracks parameters a track query may carry, and the JSON type each has in a sync's source.
_QUERY_TYPES: dict[str, Callable[[str], Any]] = {
    "bpm_min": int,
    "bpm_max": int,
    "match_score_lt": float,
    "enriched": lambda text: {"true": True, "false": False}[text.lower()],
    **dict.fromkeys(
        (
            "genre",
            "label",
            "artist",
            "key",
            "isrc",
            "published_from",
            "published_to",
            "match_method",
            "sort",
            "order",
        ),
        str,
    ),
}


def track_query(query: str) -> dict[str, Any]:
    """`label=drumcode&sort=publish_date&order=desc` as a sync's `tracks` source; exit 2 on what cannot be one."""
    selection: dict[str, Any] = {}
    for name, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        convert = _QUERY_TYPES.get(name)
        if convert is None:
            err.print(f"--query: {name!r} is not a track filter; use {', '.join(_QUERY_TYPES)}")
            raise typer.Exit(2)
        try:
            selection[name] = convert(value)
        except (ValueError, KeyError):
            err.print(f"--query: {name}={value!r} is not a valid value")
            raise typer.Exit(2) from None
    if not selection:
        err.print(
            "--query: give filters as on GET /tracks, e.g. 'label=drumcode&sort=publish_date&order=desc'"
        )
        raise typer.Exit(2)
    return selection


def _synced(result: dict[str, Any]) -> str:
    summary = (
        f"playlist {result.get('playlist_id')}: {result.get('added', 0)} added, {result.get('removed', 0)} "
        f"removed, {result.get('kept', 0)} kept; {result.get('unmatched', 0)} track(s) without a Spotify match"
    )
    if result.get("note"):
        summary += f" ({result['note']})"
    return summary


@playlists.command("sync")
def sync(
    chart: Annotated[str | None, typer.Option(help="a chart key as `cratedigger charts` lists it")] = None,
    watchlist: Annotated[int | None, typer.Option(help="a watchlist id: its new tracks")] = None,
    query: Annotated[
        str | None, typer.Option(help="GET /tracks filters, sort and order, e.g. 'label=drumcode&sort=bpm'")
    ] = None,
    playlist_id: Annotated[
        str | None,
        typer.Option(help="a playlist of the account (default: this source's last, else a new one)"),
    ] = None,
    name: Annotated[str | None, typer.Option(help="the name of a new playlist")] = None,
    public: Annotated[
        bool, typer.Option("--public", help="a new playlist is public (default: private)")
    ] = False,
    wait: WaitFlag = False,
) -> None:
    """Make a playlist of the connected account hold exactly the source's tracks that are on Spotify, in the
    source's order, with the fewest writes (write key). Enrich first: tracks without a match are counted, never
    guessed.

    Examples: `cratedigger playlists sync --chart genre-top-100-11 --name "Tech House Top 100" --wait`;
    `cratedigger playlists sync --query 'label=drumcode&sort=publish_date&order=desc'`
    """
    given = [kind for kind, value in (("chart", chart), ("watchlist", watchlist), ("query", query)) if value]
    if len(given) != 1:
        err.print("Give exactly one source: --chart, --watchlist or --query.")
        raise typer.Exit(2)
    if chart is not None:
        source: dict[str, Any] = {"chart_key": chart}
    elif watchlist is not None:
        source = {"watchlist_id": watchlist}
    else:
        source = {"tracks": track_query(query or "")}
    body: dict[str, Any] = {"source": source, "playlist_id": playlist_id, "name": name}
    if public:
        body["public"] = True
    start_task("/playlists/sync", body, wait=wait, summarize=_synced)


def register(app: typer.Typer) -> None:
    app.add_typer(spotify, name="spotify")
    app.add_typer(playlists, name="playlists")
