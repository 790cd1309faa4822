"""`watchlists list|add|rm|run|tracks|feed`: follow labels, artists and charts from the terminal."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from app.cli.output import api, err, out, print_json, table
from app.cli.task_commands import JsonFlag, WaitFlag, start_task

watchlists = typer.Typer(
    help="Watchlists: labels, artists and charts followed on a cron; what is new, as a feed and a webhook.",
    no_args_is_help=True,
)
WatchlistId = Annotated[int, typer.Argument(help="the id `watchlists list` shows")]


def _last_run(watchlist: dict[str, Any]) -> str:
    run = watchlist.get("last_run")
    return f"{run['finished_at']}: {run['new_tracks']} new" if run else "never"


@watchlists.command("list")
def list_watchlists(as_json: JsonFlag = False) -> None:
    """Every watchlist with its targets, next run and last run.

    Example: `cratedigger watchlists list`
    """
    with api() as client:
        found = client.get("/watchlists")
    if as_json:
        print_json(found)
        return
    rows = [
        (w["id"], w["name"], "\n".join(w["targets"]), w["cron"], w["next_run_at"], _last_run(w))
        for w in found
    ]
    table(("id", "name", "targets", "cron", "next run", "last run"), rows)


@watchlists.command("add")
def add_watchlist(
    name: Annotated[str, typer.Argument(help="what to call it")],
    targets: Annotated[
        list[str],
        typer.Argument(help="Beatport URLs or paths: label or artist tracks, charts, genre Top 100s"),
    ],
    cron: Annotated[str, typer.Option(help="when to run it, five fields")] = "0 7 * * *",
    timezone: Annotated[str, typer.Option(help="the cron's time zone")] = "UTC",
    max_pages: Annotated[int | None, typer.Option(help="pages per label/artist target")] = None,
    webhook_url: Annotated[
        str | None, typer.Option(help="POSTed to (signed) after a run with new tracks")
    ] = None,
    sync: Annotated[
        bool,
        typer.Option(
            "--sync", help="after a run with new tracks: enrich, then mirror into a Spotify playlist"
        ),
    ] = False,
    playlist_id: Annotated[
        str | None, typer.Option(help="the playlist --sync writes to (default: a new private one)")
    ] = None,
    public: Annotated[bool, typer.Option("--public", help="--sync's new playlist is public")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Follow labels, artists or charts (write key). Prints the feed URL, and the webhook secret once.

    Example: `cratedigger watchlists add "Drumcode" /label/drumcode/1/tracks --cron '0 7 * * 1'`
    """
    body: dict[str, Any] = {"name": name, "targets": targets, "cron": cron, "timezone": timezone}
    if max_pages is not None:
        body["max_pages"] = max_pages
    if webhook_url is not None:
        body["webhook_url"] = webhook_url
    if sync or playlist_id is not None or public:
        body["sync"] = {"playlist_id": playlist_id, "name": name, **({"public": True} if public else {})}
    with api() as client:
        made = client.request("POST", "/watchlists", json=body)
    if as_json:
        print_json(made)
        return
    out.print(f"{made['id']}: {made['name']}, next run {made['next_run_at'] or 'on `watchlists run` only'}")
    out.print(f"feed: {made['feed_url']}", highlight=False)
    if made.get("webhook_secret"):
        out.print(f"webhook secret (shown once; admin keys can read it again): {made['webhook_secret']}")


@watchlists.command("rm")
def remove_watchlist(watchlist_id: WatchlistId) -> None:
    """Delete a watchlist, its schedule and its feed (write key).

    Example: `cratedigger watchlists rm 3`
    """
    with api() as client:
        client.request("DELETE", f"/watchlists/{watchlist_id}")
    out.print(f"{watchlist_id}: removed")


def _ran(result: dict[str, Any]) -> str:
    summary = f"{result.get('new_tracks', 0)} new tracks from {len(result.get('targets', []))} target(s)"
    failed = result.get("failed_targets") or []
    if failed:
        summary += "; failed: " + "; ".join(f"{f['target']}: {f['error']}" for f in failed)
    if result.get("webhook_task_id"):
        summary += f"; webhook sent by task {result['webhook_task_id']}"
    return summary


@watchlists.command("run")
def run_watchlist(watchlist_id: WatchlistId, wait: WaitFlag = False) -> None:
    """Run a watchlist now (write key).

    Example: `cratedigger watchlists run 3 --wait`
    """
    start_task(f"/watchlists/{watchlist_id}/run", None, wait=wait, summarize=_ran)


@watchlists.command("tracks")
def watchlist_tracks(
    watchlist_id: WatchlistId,
    since: Annotated[
        str | None, typer.Option(help="first seen at or after (ISO 8601, e.g. 2026-12-01)")
    ] = None,
    limit: Annotated[int, typer.Option(help="at most this many (1–500)")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """The tracks new to a watchlist, newest first.

    Example: `cratedigger watchlists tracks 3 --since 2026-11-30`
    """
    with api() as client:
        found = client.get(f"/watchlists/{watchlist_id}/tracks", since=since, limit=limit)
    if as_json:
        print_json(found)
        return
    rows = [
        (
            t["first_seen_at"],
            t["id"],
            ", ".join(a["name"] for a in t.get("artists", [])),
            f"{t['name']} ({t['mix_name']})" if t.get("mix_name") else t["name"],
            (t.get("label") or {}).get("name"),
        )
        for t in found["items"]
    ]
    table(("first seen", "id", "artists", "title", "label"), rows, title=f"{found['total']} new")


@watchlists.command("feed")
def new_feed_url(
    watchlist_id: WatchlistId,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask first")] = False,
) -> None:
    """Make a new feed URL for a watchlist (write key). Only a hash of the feed token is kept, so the URL cannot
    be shown again: this makes a new one, and the old URL stops working.

    Example: `cratedigger watchlists feed 3 --yes`
    """
    if not yes and not typer.confirm(
        f"Make a new feed URL for watchlist {watchlist_id}? The old one stops working"
    ):
        err.print("Nothing changed.")
        raise typer.Exit(1)
    with api() as client:
        made = client.request("POST", f"/watchlists/{watchlist_id}/feed-token")
    out.print(made["feed_url"], highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(watchlists, name="watchlists")
