from __future__ import annotations

from pathlib import Path

from shoebox_lib.db import Migrations
from shoebox_lib.runtime import Runtime, every
from shoebox_lib.settings import Settings, get_settings
from shoebox_lib.web import ServiceApp, create_app
from shoebox_metadata import __version__
from shoebox_metadata.api import ente, ente_public, seed, storage, v1
from shoebox_metadata.items import Items
from shoebox_metadata.library import Library
from shoebox_metadata.links import Links
from shoebox_metadata.models import BUS, SCHEMA
from shoebox_metadata.quota import Quotas
from shoebox_metadata.users import Users

NAME = "metadata"
MIGRATIONS = Migrations(schema=SCHEMA, directory=Path(__file__).parent / "migrations")


def create_service(settings: Settings | None = None) -> ServiceApp:
    settings = settings or get_settings()
    runtime = Runtime(settings, NAME, BUS)
    assert runtime.storage is not None
    quotas = Quotas(runtime.db, settings.default_quota_bytes)
    items = Items(runtime.db, runtime.storage, quotas, settings.presign_expiry_seconds)
    runtime.apply_once("metadata-upload-completed", items.upload_completed)
    runtime.apply_once("metadata-job-completed", items.job_completed)
    runtime.apply_once("metadata-replica-stored", items.replica_stored)
    library = Library(runtime.db, runtime.storage, quotas, settings.presign_expiry_seconds)
    links = Links(runtime.db, library, settings.secret_key, settings.public_url)
    users = Users(runtime.http, settings.auth_url)
    runtime.state.update(items=items, quotas=quotas, library=library, links=links, users=users)
    runtime.background("reservation-sweeper", lambda: every(60, quotas.expire_reservations))
    routers = [v1.router, storage.router, ente.router, ente_public.router, seed.router]
    return create_app(NAME, __version__, routers, lifespan=runtime.lifespan, checks=runtime.checks())
