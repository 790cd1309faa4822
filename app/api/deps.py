"""Route dependencies as `Annotated` aliases, built on the functions tasks use too (app/tasks/deps.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.runtime import Runtime
from app.runtime.task_status import StatusStore
from app.services.resources import Resources
from app.tasks.dependencies import get_resources, get_runtime

ResourcesDep = Annotated[Resources, Depends(get_resources)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_settings_dep(resources: ResourcesDep) -> Settings:
    return resources.settings


def get_status_store(runtime: RuntimeDep) -> StatusStore:
    return runtime.statuses


async def get_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    # Read-only use by routes; commits happen in services, and only on success.
    async with resources.sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StatusStoreDep = Annotated[StatusStore, Depends(get_status_store)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
