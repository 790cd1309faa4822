"""Catalogue commands: `tracks`, `charts`, `movers`, `match set|clear`, `schedules list|add|rm`."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.api_client import ApiClient
from app.cli.output import api, err, out, print_json, table
from app.cli.task_commands import JsonFlag

match = typer.Typer(help="Match review: set or clear a track's Spotify match by hand.", no_args_is_help=True)
schedules = typer.Typer(
    help="Cron schedules of collections (admin key to add or remove).", no_args_is_help=True
)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


Text = Annotated[str | None, typer.Option()]


def tracks(
    genre: Annotated[str | None, typer.Option(help="genre id, slug or name")] = None,
    label: Annotated[str | None, typer.Option(help="label id or part of its name")] = None,
    artist: Annotated[str | None, typer.Option(help="artist id or part of a name")] = None,
    bpm_min: Annotated[int | None, typer.Option()] = None,
    bpm_max: Annotated[int | None, typer.Option()] = None,
    key: Annotated[str | None, typer.Option(help="Camelot code (8A) or key name")] = None,
    isrc: Text = None,
    enriched: Annotated[bool | None, typer.Option("--enriched/--not-enriched", show_default=False)] = None,
    published_from: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    published_to: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    sort: Annotated[str, typer.Option(help="id, name, bpm, publish_date, created_at, …")] = "id",
    order: Annotated[str, typer.Option(help="asc or desc")] = "asc",
    page_size: Annotated[int, typer.Option(help="tracks per page")] = 50,
    output_format: Annotated[
        Format, typer.Option("--format", help="table, csv (every match) or json")
    ] = Format.table,
    output: Annotated[Path | None, typer.Option(help="write to this file instead of the terminal")] = None,
    every_page: Annotated[bool, typer.Option("--all", help="every matching track, page after page")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Collected tracks, filtered and sorted as on `GET /tracks`.

    Examples: `cratedigger tracks --genre tech-house --bpm-min 124 --bpm-max 128`;
    `cratedigger tracks --label drumcode --format csv --output drumcode.csv`; `cratedigger tracks --all --json`
    """
    params: dict[str, Any] = {
        "genre": genre, "label": label, "artist": artist, "bpm_min": bpm_min, "bpm_max": bpm_max, "key": key,
        "isrc": isrc, "published_from": published_from, "published_to": published_to, "sort": sort, "order": order,
        "enriched": None if enriched is None else str(enriched).lower(),
    }  # fmt: skip
    params = {name: value for name, value in params.items() if value is not None}
    fmt = Format.json if as_json else output_format
    with api() as client:
        if fmt is Format.csv:
            _export_csv(client, params, output)
            return
        items = list(_pages(client, {**params, "page_size": page_size}, every_page=every_page))
    if fmt is Format.json:
        _write_json(items, output)
        return
    rows = [
        (t["id"], ", ".join(a["name"] for a in t["artists"]), _title(t), t.get("bpm"), t.get("camelot"),
         (t.get("label") or {}).get("name"), t.get("publish_date"), "yes" if t.get("enriched") else "")
        for t in items
    ]  # fmt: skip
    table(("id", "artists", "title", "bpm", "key", "label", "published", "spotify"), rows)


def _title(track: dict[str, Any]) -> str:
    return f"{track['name']} ({track['mix_name']})" if track.get("mix_name") else str(track["name"])


def _pages(client: ApiClient, params: dict[str, Any], *, every_page: bool) -> Any:
    cursor: str | None = None
    while True:
        page = client.get("/tracks", **params, cursor=cursor)
        yield from page["items"]
        cursor = page["paging"].get("next_cursor") if every_page else None
        if not cursor:
            return


def _export_csv(client: ApiClient, params: dict[str, Any], output: Path | None) -> None:
    """The API's CSV export, streamed to the file (or stdout) without holding the rows."""
    query = {**params, "format": "csv"}
    if output is None:
        client.download("/tracks", query, sys.stdout.buffer)
        return
    with output.open("wb") as handle:
        written = client.download("/tracks", query, handle)
    err.print(f"Wrote {written:,} bytes to {output}.")


def _write_json(items: list[dict[str, Any]], output: Path | None) -> None:
    if output is None:
        print_json(items)
        return
    import json

    output.write_text(json.dumps(items, indent=2, ensure_ascii=False) + "\n")
    err.print(f"Wrote {len(items)} tracks to {output}.")


def charts(as_json: JsonFlag = False) -> None:
    """Every chart collected at least once.

    Example: `cratedigger charts`
    """
    with api() as client:
        found = client.get("/charts")
    if as_json:
        print_json(found)
        return
    rows = [(c["chart_key"], c["title"], c["kind"], c["snapshots"], c["last_collected_at"]) for c in found]
    table(("chart", "title", "kind", "snapshots", "last collected"), rows)


def movers(
    chart_key: Annotated[str, typer.Argument(help="a chart key, as `cratedigger charts` shows")],
    from_snapshot: Annotated[
        int | None, typer.Option("--from", help="snapshot id (default: the one before --to)")
    ] = None,
    to_snapshot: Annotated[int | None, typer.Option("--to", help="snapshot id (default: the latest)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """What moved between two collections of a chart.

    Example: `cratedigger movers genre-top-100-11`
    """
    with api() as client:
        found = client.get(f"/charts/{chart_key}/movers", **{"from": from_snapshot, "to": to_snapshot})
    if as_json:
        print_json(found)
        return
    rows = []
    for kind, arrow in (("new", "★"), ("up", "▲"), ("down", "▼"), ("dropped", "✕")):
        for item in found[kind]:
            track = item["track"]
            artists = ", ".join(a["name"] for a in track.get("artists", []))
            rows.append(
                (arrow, item.get("previous_position"), item.get("position"), f"{artists} – {_title(track)}")
            )
    table(("", "was", "now", "track"), rows, title=f"{chart_key}: {found['unchanged']} unchanged")


@match.command("set")
def set_match(
    track_id: Annotated[int, typer.Argument(help="a Beatport track id")],
    spotify_id: Annotated[
        str | None, typer.Argument(help="a Spotify track id; leave out for 'not on Spotify'")
    ] = None,
) -> None:
    """Lock a track's Spotify match (write key).

    Example: `cratedigger match set 21432917 4uLU6hMCjMI75M1A2tKUQC`
    """
    with api() as client:
        found = client.request("PUT", f"/tracks/{track_id}/spotify", json={"spotify_id": spotify_id})
    spotify = found["spotify"]
    out.print(
        f"{track_id}: {spotify['id'] or 'not on Spotify'} (manual, locked by {spotify['match_locked_by']})"
    )


@match.command("clear")
def clear_match(track_id: Annotated[int, typer.Argument(help="a Beatport track id")]) -> None:
    """Unlock and clear a track's match; the next enrichment matches it again.

    Example: `cratedigger match clear 21432917`
    """
    with api() as client:
        client.request("DELETE", f"/tracks/{track_id}/spotify")
    out.print(f"{track_id}: cleared")


@schedules.command("list")
def list_schedules(as_json: JsonFlag = False) -> None:
    """Every schedule with its next run and last run.

    Example: `cratedigger schedules list`
    """
    with api() as client:
        found = client.get("/schedules")
    if as_json:
        print_json(found)
        return
    rows = [
        (
            s["id"],
            s["cron"],
            s["description"],
            s["source"],
            s["next_run_at"],
            task_line_or_none(s.get("last_run")),
        )
        for s in found
    ]
    table(("id", "cron", "what", "from", "next run", "last run"), rows)


def task_line_or_none(run: dict[str, Any] | None) -> str:
    return f"{run['task_id']} {run['state']}" if run else ""


@schedules.command("add")
def add_schedule(
    cron: Annotated[str, typer.Argument(help="five fields, e.g. '0 6 * * *'")],
    url: Annotated[str | None, typer.Option(help="a Beatport URL or path to collect")] = None,
    genre: Annotated[str | None, typer.Option(help="a genre's Top 100 to collect")] = None,
    timezone: Annotated[str, typer.Option(help="the cron's time zone")] = "UTC",
) -> None:
    """Collect on a schedule (admin key).

    Example: `cratedigger schedules add '0 6 * * 1' --genre tech-house`
    """
    if (url is None) == (genre is None):
        err.print("Give --url or --genre (one of them).")
        raise typer.Exit(2)
    collect = {"url": url} if url is not None else {"genre": genre}
    with api() as client:
        made = client.request(
            "POST", "/schedules", json={"cron": cron, "timezone": timezone, "collect": collect}
        )
    out.print(f"{made['id']}: {made['description']}, next run {made['next_run_at']}")


@schedules.command("rm")
def remove_schedule(
    schedule_id: Annotated[str, typer.Argument(help="the id `schedules list` shows")],
) -> None:
    """Remove a schedule added through the API (admin key).

    Example: `cratedigger schedules rm 5b1c…`
    """
    with api() as client:
        client.request("DELETE", f"/schedules/{schedule_id}")
    out.print(f"{schedule_id}: removed")


def register(app: typer.Typer) -> None:
    for command in (tracks, charts, movers):
        app.command()(command)
    app.add_typer(match, name="match")
    app.add_typer(schedules, name="schedules")
