"""What the CLI prints, and its exit statuses: 0 done, 1 failed (the API's message or the task's error, never a
traceback), 2 usage (input the API refused with 422), 130 interrupted."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.cli.api_client import ApiClient, ApiError
from app.config import Settings

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@contextmanager
def api() -> Iterator[ApiClient]:
    """A client for CRATEDIGGER_URL; an API error ends the command with its message and exit status."""
    client = ApiClient.from_settings(Settings())  # read now: the environment of this command
    try:
        yield client
    except ApiError as error:
        err.print(f"[red]Error:[/red] {error.message}", highlight=False, markup=True)
        if error.status == 401:
            err.print("Set CRATEDIGGER_API_KEY, or run where `cratedigger serve` wrote data/api-key.")
        raise typer.Exit(EXIT_USAGE if error.status == 422 else EXIT_FAILED) from None
    finally:
        client.close()


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> None:
    shown = Table(*columns, title=title)
    for row in rows:
        shown.add_row(*("" if cell is None else str(cell) for cell in row))
    out.print(shown)


def task_line(status: dict[str, Any]) -> str:
    progress = status.get("progress") or {}
    done = f" {progress.get('done')}/{progress.get('total')}" if progress.get("total") else ""
    error = status.get("error") or {}
    detail = f": {error.get('type')}: {error.get('message')}" if error else ""
    return f"{status['task_id']}  {status['task_name']}  {status['state']}{done}{detail}"


def follow(client: ApiClient, task_id: str, summarize: Callable[[dict[str, Any]], str]) -> None:
    """Show the task's progress live until it ends; exit 0 on success (printing `summarize(result)`), 1 on a
    failure or cancellation (with the error in words), 130 on Ctrl-C (offering to cancel when interactive)."""
    final: dict[str, Any] | None = None
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            shown = bar.add_task("queued", total=None)
            for status in client.task_updates(task_id):
                progress = status.get("progress") or {}
                message = progress.get("message") or status["state"]
                bar.update(
                    shown,
                    description=message,
                    completed=progress.get("done") or 0,
                    total=progress.get("total"),
                )
                final = status
    except KeyboardInterrupt:
        _interrupted(client, task_id)
    assert final is not None
    if final["state"] == "success":
        out.print(summarize(final.get("result") or {}), highlight=False)
        return
    err.print(f"[red]Task {final['state']}[/red]: {task_line(final)}", highlight=False)
    raise typer.Exit(EXIT_FAILED)


def _interrupted(client: ApiClient, task_id: str) -> None:
    if sys.stdin.isatty() and typer.confirm(f"\nCancel task {task_id}?", default=False):
        client.request("DELETE", f"/tasks/{task_id}")
        err.print(f"Asked task {task_id} to stop.")
    else:
        err.print(f"\nTask {task_id} goes on running; `cratedigger cancel {task_id}` stops it.")
    raise typer.Exit(EXIT_INTERRUPTED)
