from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.broker import status_store
from app.config import Settings
from app.resources import Resources
from app.status import StatusStore


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


def get_settings_dep(resources: Annotated[Resources, Depends(get_resources)]) -> Settings:
    return resources.settings


def get_status_store() -> StatusStore:
    return status_store


async def get_session(resources: Annotated[Resources, Depends(get_resources)]) -> AsyncIterator[AsyncSession]:
    # Read-only use by routes; commits happen in services, and only on success.
    async with resources.sessions() as session:
        yield session


ResourcesDep = Annotated[Resources, Depends(get_resources)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StatusStoreDep = Annotated[StatusStore, Depends(get_status_store)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
