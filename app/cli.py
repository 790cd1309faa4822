"""`cratedigger` command: `serve` (migrate, then run the API; embedded mode when REDIS_URL is unset), `migrate`."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def migrate(database_url: str | None = None) -> None:
    from alembic.config import Config

    from alembic import command

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    if database_url:
        config.attributes["database_url"] = database_url
    command.upgrade(config, "head")


def ensure_secret_key(data_dir: Path) -> Path | None:
    """Embedded mode without SECRET_KEY: use `data/secret-key`, made (mode 0600) on first start. Returns its path
    when it was used; with REDIS_URL the key must come from the environment (the processes refuse to start)."""
    if os.environ.get("SECRET_KEY") or os.environ.get("REDIS_URL"):
        return None
    path = data_dir / "secret-key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    os.environ["SECRET_KEY"] = path.read_text().strip()
    return path


def serve(host: str, port: int) -> None:
    import uvicorn

    from app.config import get_settings

    made = ensure_secret_key(Path("data"))
    if made is not None:
        logging.getLogger("app").info("SECRET_KEY unset: using the key in %s", made)
    settings = get_settings()
    migrate(settings.database_url)
    uvicorn.run("app.main:app", host=host, port=port, log_level="info")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="cratedigger", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve_cmd = sub.add_parser(
        "serve", help="apply migrations, then run the API (and in-process tasks without REDIS_URL)"
    )
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8000)
    sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        serve(args.host, args.port)
    else:
        migrate()


if __name__ == "__main__":
    main()
