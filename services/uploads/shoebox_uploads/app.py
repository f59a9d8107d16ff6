"""The upload signer's process: its cores, the routers each face is mounted with, and what runs beside them."""

from __future__ import annotations

from pathlib import Path

from shoebox_lib.bus.topology import UPLOADS_ITEM_STORED, UPLOADS_VARIANT_STORED
from shoebox_lib.db import Migrations
from shoebox_lib.runtime import Runtime, every
from shoebox_lib.settings import Settings, get_settings
from shoebox_lib.web import ServiceApp, create_app
from shoebox_lib.web.access import Access, Mount
from shoebox_lib.web.faces import Face
from shoebox_uploads import __version__
from shoebox_uploads.api import ente, ente_public, ente_v2, uppy, v1
from shoebox_uploads.container import Container
from shoebox_uploads.models import BUS, SCHEMA
from shoebox_uploads.settings import UploadsSettings
from shoebox_uploads.signer import outcomes
from shoebox_uploads.signer.library import Library

NAME = "uploads"
MIGRATIONS = Migrations(schema=SCHEMA, directory=Path(__file__).parent / "migrations")

MOUNTS = (
    Mount(v1.router, Face.V1, Access.USER),
    Mount(ente.router, Face.ENTE, Access.USER),
    Mount(ente_v2.router, Face.ENTE, Access.USER),
    # A public link's guests: the route checks the link itself (through metadata).
    Mount(ente_public.router, Face.ENTE, Access.LINK),
    Mount(uppy.router, Face.UPPY, Access.USER),
)


def create_service(settings: Settings | None = None, uploads_settings: UploadsSettings | None = None) -> ServiceApp:
    settings = settings or get_settings()
    uploads_settings = uploads_settings or UploadsSettings()
    runtime = Runtime(settings, NAME, BUS)
    assert runtime.storage is not None
    library = Library(runtime.internal("metadata", settings.metadata_url))
    container = Container.build(runtime.db, runtime.storage.primary, library, uploads_settings,
                                presign_seconds=settings.presign_expiry_seconds, public_url=settings.public_url)
    runtime.container = container
    sweeper = container.sweeper
    runtime.apply_once(UPLOADS_ITEM_STORED, outcomes.recorded)
    runtime.apply_once(UPLOADS_VARIANT_STORED, outcomes.recorded)
    runtime.background("upload-sweeper", lambda: every(uploads_settings.sweep_interval_seconds, sweeper.sweep))
    runtime.background("upload-finalizer",
                       lambda: every(uploads_settings.finalize_interval_seconds, sweeper.finalize_forms))
    runtime.background("checksum-verifier", lambda: every(uploads_settings.finalize_interval_seconds, sweeper.verify))
    return create_app(NAME, __version__, mounts=MOUNTS, runtime=runtime)
