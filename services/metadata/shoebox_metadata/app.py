from __future__ import annotations

from pathlib import Path

from shoebox_lib.db import Migrations
from shoebox_lib.runtime import Runtime, every
from shoebox_lib.settings import Settings, get_settings
from shoebox_lib.web import ServiceApp, create_app

from shoebox_metadata import __version__
from shoebox_metadata.api import storage, v1
from shoebox_metadata.items import Items
from shoebox_metadata.models import BUS, SCHEMA
from shoebox_metadata.quota import Quotas

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
    runtime.state.update(items=items, quotas=quotas)
    runtime.background("reservation-sweeper", lambda: every(60, quotas.expire_reservations))
    return create_app(NAME, __version__, [v1.router, storage.router], lifespan=runtime.lifespan,
                      checks=runtime.checks())
