"""Alembic environment: the database URL comes from Settings (DATABASE_URL), the schema from app.db.models."""

import asyncio
import logging

from sqlalchemy.engine import Connection

from alembic import context
from app.config import get_settings
from app.db import models  # noqa: F401  (registers every table on Base.metadata)
from app.db.base import Base
from app.db.session import create_engine
from app.observability.logs import configure_logging

config = context.config
if config.attributes.get("configure_logger", True):
    # `alembic upgrade head` (compose's migrate) logs like the other processes (LOG_FORMAT, secrets redacted).
    configure_logging(get_settings())
    logging.getLogger("alembic").setLevel(logging.INFO)

target_metadata = Base.metadata


def _database_url() -> str:
    # Tests and tools may pass a URL explicitly; otherwise the service's own setting is used.
    return config.attributes.get("database_url") or get_settings().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode rebuilds a table (copy, drop, rename). With foreign keys on, dropping the old table would
        # cascade into the tables that reference it (or be refused): off while migrating, checked afterwards.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    # Batch mode lets later migrations alter tables on SQLite, which has no ALTER COLUMN.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
        if broken:
            raise RuntimeError(f"the migration left rows whose foreign keys point nowhere: {broken[:5]}")


async def run_async_migrations() -> None:
    engine = create_engine(_database_url())
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_async_migrations())
