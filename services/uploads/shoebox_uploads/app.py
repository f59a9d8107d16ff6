from __future__ import annotations

from pathlib import Path

from shoebox_lib.db import Migrations
from shoebox_lib.runtime import Runtime
from shoebox_lib.settings import Settings, get_settings
from shoebox_lib.web import ServiceApp, create_app
from shoebox_uploads import __version__
from shoebox_uploads.api import v1
from shoebox_uploads.metadata_client import MetadataClient
from shoebox_uploads.models import BUS, SCHEMA
from shoebox_uploads.sessions import Uploads

NAME = "uploads"
MIGRATIONS = Migrations(schema=SCHEMA, directory=Path(__file__).parent / "migrations")


def create_service(settings: Settings | None = None) -> ServiceApp:
    settings = settings or get_settings()
    runtime = Runtime(settings, NAME, BUS)
    assert runtime.storage is not None
    metadata = MetadataClient(runtime.http, settings.metadata_url)
    runtime.state["uploads"] = Uploads(runtime.db, runtime.storage, metadata, settings.presign_expiry_seconds)
    return create_app(NAME, __version__, [v1.router], lifespan=runtime.lifespan, checks=runtime.checks())
