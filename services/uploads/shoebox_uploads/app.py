from __future__ import annotations

from pathlib import Path

from shoebox_lib.db import Migrations
from shoebox_lib.runtime import Runtime, every
from shoebox_lib.settings import Settings, get_settings
from shoebox_lib.web import ServiceApp, create_app
from shoebox_uploads import __version__
from shoebox_uploads.api import ente, ente_public, ente_v2, uppy, v1
from shoebox_uploads.config import UploadsSettings
from shoebox_uploads.ente import item_stored
from shoebox_uploads.metadata_client import MetadataClient
from shoebox_uploads.models import BUS, SCHEMA
from shoebox_uploads.sessions import Uploads
from shoebox_uploads.sweeper import Sweeper

NAME = "uploads"
MIGRATIONS = Migrations(schema=SCHEMA, directory=Path(__file__).parent / "migrations")


def create_service(settings: Settings | None = None, config: UploadsSettings | None = None) -> ServiceApp:
    settings = settings or get_settings()
    config = config or UploadsSettings()
    runtime = Runtime(settings, NAME, BUS)
    assert runtime.storage is not None
    metadata = MetadataClient(runtime.http, settings.metadata_url)
    uploads = Uploads(runtime.db, runtime.storage, metadata, settings.presign_expiry_seconds, config,
                      settings.public_url)
    sweeper = Sweeper(uploads)
    runtime.state.update(uploads=uploads, sweeper=sweeper)
    runtime.apply_once("uploads-item-stored", item_stored)
    runtime.apply_once("uploads-variant-stored", item_stored)
    runtime.background("upload-sweeper", lambda: every(config.sweep_interval_seconds, sweeper.sweep))
    runtime.background("upload-finalizer", lambda: every(config.finalize_interval_seconds, sweeper.finalize_forms))
    runtime.background("checksum-verifier", lambda: every(config.finalize_interval_seconds, sweeper.verify))
    routers = [v1.router, ente.router, ente_v2.router, ente_public.router, uppy.router]
    return create_app(NAME, __version__, routers, lifespan=runtime.lifespan, checks=runtime.checks())
