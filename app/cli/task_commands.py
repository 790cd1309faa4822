"""Work commands: `collect`, `enrich`, `status`, `tasks`, `cancel`, `dead-letters`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from app.cli.output import api, err, follow, out, print_json, table, task_line

JsonFlag = Annotated[bool, typer.Option("--json", help="print the API's JSON (for scripts)")]
WaitFlag = Annotated[
    bool, typer.Option("--wait", help="follow the task with a live progress bar until it ends")
]
dead_letters = typer.Typer(help="Tasks that failed for good: list them, retry one.", no_args_is_help=True)


def _collected(result: dict[str, Any]) -> str:
    return (
        f"{result.get('tracks_seen', 0)} tracks collected from {result.get('target')} "
        f"({result.get('tracks_created', 0)} new, {result.get('tracks_updated', 0)} updated, "
        f"{result.get('tracks_unchanged', 0)} unchanged; {result.get('pages_fetched', 0)} page(s))"
    )


def _enriched(result: dict[str, Any]) -> str:
    summary = (
        f"{result.get('tracks_considered', 0)} tracks checked on Spotify: {result.get('matched_isrc', 0)} matched "
        f"by ISRC, {result.get('matched_search', 0)} by search, {result.get('unmatched', 0)} not found"
    )
    if result.get("resumed_by_task_id"):
        summary += f"; {result.get('remaining_tracks')} left for task {result['resumed_by_task_id']}"
        if result.get("paused_until"):
            summary += f" (paused until {result['paused_until']}: {result.get('paused_reason')})"
    return summary


def start_task(
    path: str, body: dict[str, Any] | None, *, wait: bool, summarize: Callable[[dict[str, Any]], str]
) -> None:
    """Enqueue; print the task id, or with `wait` follow the task to its end."""
    with api() as client:
        answer = client.request("POST", path, json=body)
        task_id: str = answer["task_id"]
        if answer.get("duplicate_of_active"):
            err.print(f"Already queued or running: task {task_id}.")
        else:
            err.print(f"Queued task {task_id}.")
        if wait:
            follow(client, task_id, summarize)
        else:
            out.print(task_id)


def collect(
    url: Annotated[
        str | None, typer.Argument(help="a Beatport URL or path (chart, genre Top 100, label, …)")
    ] = None,
    genre: Annotated[str | None, typer.Option(help="a genre slug or id: its Top 100")] = None,
    max_pages: Annotated[
        int | None, typer.Option(help="at most this many pages (label/artist lists)")
    ] = None,
    wait: WaitFlag = False,
) -> None:
    """Collect a Beatport page into the catalogue.

    Examples: `cratedigger collect https://www.beatport.com/genre/tech-house/11/top-100 --wait`;
    `cratedigger collect --genre afro-house`; `cratedigger collect /label/drumcode/1/tracks --max-pages 5`
    """
    if (url is None) == (genre is None):
        err.print("Give a URL or --genre (one of them).")
        raise typer.Exit(2)
    body: dict[str, Any] = {"url": url} if url is not None else {"genre": genre}
    if max_pages is not None:
        body["max_pages"] = max_pages
    start_task("/collect/beatport/collect", body, wait=wait, summarize=_collected)


def enrich(
    only_missing: Annotated[
        bool, typer.Option("--only-missing/--all-tracks", help="only tracks never matched")
    ] = True,
    limit: Annotated[int | None, typer.Option(help="at most this many tracks")] = None,
    force: Annotated[bool, typer.Option(help="also re-check tracks recorded as not on Spotify")] = False,
    wait: WaitFlag = False,
) -> None:
    """Match collected tracks on Spotify.

    Examples: `cratedigger enrich --wait`; `cratedigger enrich --limit 500`; `cratedigger enrich --all-tracks --force`
    """
    body: dict[str, Any] = {"only_missing": only_missing, "force": force}
    if limit is not None:
        body["limit"] = limit
    start_task("/collect/spotify/enrich", body, wait=wait, summarize=_enriched)


def status(task_id: Annotated[str, typer.Argument(help="a task id")], as_json: JsonFlag = False) -> None:
    """One task's state, progress, result or error.

    Example: `cratedigger status 3f2a…`
    """
    with api() as client:
        found = client.get(f"/tasks/status/{task_id}")
    if as_json:
        print_json(found)
        return
    out.print(task_line(found), highlight=False)
    if found.get("result"):
        print_json(found["result"])


def tasks(
    state: Annotated[
        str | None, typer.Option(help="queued, running, retrying, success, failure, cancelled")
    ] = None,
    task_name: Annotated[str | None, typer.Option(help="collect_bp_tracks or enrich_spotify_data")] = None,
    limit: Annotated[int, typer.Option(help="how many, newest first")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Recent tasks, newest first.

    Example: `cratedigger tasks --state running`
    """
    with api() as client:
        page = client.get("/tasks", state=state, task_name=task_name, limit=limit)
    if as_json:
        print_json(page)
        return
    rows = [
        (t["task_id"], t["task_name"], t["state"], _progress(t), t.get("enqueued_at")) for t in page["items"]
    ]
    table(("task", "name", "state", "progress", "enqueued"), rows)


def _progress(status: dict[str, Any]) -> str:
    progress = status.get("progress") or {}
    return f"{progress.get('done')}/{progress.get('total')}" if progress.get("total") else ""


def cancel(task_id: Annotated[str, typer.Argument(help="a task id")]) -> None:
    """Cancel a task: a queued one never runs, a running one stops at its next page or track.

    Example: `cratedigger cancel 3f2a…`
    """
    with api() as client:
        answer = client.request("DELETE", f"/tasks/{task_id}")
    out.print(task_line(answer), highlight=False)


@dead_letters.command("list")
def list_dead_letters(
    limit: Annotated[int, typer.Option(help="how many, newest first")] = 20, as_json: JsonFlag = False
) -> None:
    """Tasks that failed for good.

    Example: `cratedigger dead-letters list`
    """
    with api() as client:
        page = client.get("/tasks/dead-letters", limit=limit)
    if as_json:
        print_json(page)
        return
    rows = [
        (
            d["id"],
            d["task_name"],
            d["attempts"],
            f"{d['error_type']}: {d['error_message']}",
            d["last_failed_at"],
        )
        for d in page["items"]
    ]
    table(("id", "task", "attempts", "error", "failed at"), rows)


@dead_letters.command()
def retry(dead_letter_id: Annotated[int, typer.Argument(help="the id `dead-letters list` shows")]) -> None:
    """Run a dead letter's task again (admin key).

    Example: `cratedigger dead-letters retry 7`
    """
    with api() as client:
        answer = client.request("POST", f"/tasks/dead-letters/{dead_letter_id}/retry")
    out.print(answer["task_id"])


def register(app: typer.Typer) -> None:
    for command in (collect, enrich, status, tasks, cancel):
        app.command()(command)
    app.add_typer(dead_letters, name="dead-letters")
