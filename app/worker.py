"""Worker entrypoint: `taskiq worker app.worker:broker`.

Importing this module registers every task on the broker; `taskiq_fastapi` (set up in app.broker) runs the
FastAPI lifespan inside the worker, so tasks get the same resources the API has.
"""

from app.broker import broker
from app.tasks import collection_tasks, playlist_tasks, watchlist_tasks  # noqa: F401  (registers the tasks)

__all__ = ["broker"]
