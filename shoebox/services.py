"""Each service's migrations and app factory, looked up by name."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from shoebox_lib.db import Migrations
from shoebox_lib.settings import Settings
from shoebox_lib.web import ServiceApp

SERVICES = ("auth", "metadata", "uploads", "replicator", "compute")


def _module(name: str) -> object:
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; one of {', '.join(SERVICES)}")
    return importlib.import_module(f"shoebox_{name}.app")


def migrations(name: str) -> Migrations:
    found: Migrations = getattr(_module(name), "MIGRATIONS")  # noqa: B009
    return found


def factory(name: str) -> Callable[[Settings], ServiceApp]:
    found: Callable[[Settings], ServiceApp] = getattr(_module(name), "create_service")  # noqa: B009
    return found


def build_all(settings: Settings) -> dict[str, ServiceApp]:
    """Every service's app (auth first: the others verify tokens against its keys). Nothing connects
    until an app's lifespan starts."""
    return {name: factory(name)(settings) for name in SERVICES}


async def migrate_all(settings: Settings) -> None:
    for name in SERVICES:
        await migrations(name).upgrade_async(settings.database_url)
