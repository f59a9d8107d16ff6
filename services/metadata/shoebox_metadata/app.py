from __future__ import annotations

from pathlib import Path

from shoebox_lib.bus.topology import (
    METADATA_JOB_COMPLETED,
    METADATA_OBJECT_DAMAGED,
    METADATA_QUOTA_SET,
    METADATA_REPLICA_DAMAGED,
    METADATA_REPLICA_REPAIRED,
    METADATA_REPLICA_STORED,
    METADATA_UPLOAD_COMPLETED,
    METADATA_UPLOAD_ENDED,
    METADATA_USER_DELETED,
)
from shoebox_lib.db import Migrations
from shoebox_lib.mqtt_topics import ClMqtt
from shoebox_lib.runtime import Runtime, every
from shoebox_lib.settings import Settings, get_settings
from shoebox_lib.web import Face, ServiceApp, create_app
from shoebox_lib.web.access import Access, Mount
from shoebox_metadata import __version__
from shoebox_metadata.api import (
    cl_store,
    ente,
    ente_authenticator,
    ente_filedata,
    ente_public,
    ente_restore,
    internal,
    seed,
    storage,
    v1,
    v1_albums,
    v1_search,
    v1_share_page,
)
from shoebox_metadata.container import Container
from shoebox_metadata.models import BUS, SCHEMA
from shoebox_metadata.settings import MetadataSettings
from shoebox_metadata.users import Users

NAME = "metadata"
MIGRATIONS = Migrations(schema=SCHEMA, directory=Path(__file__).parent / "migrations")

# One face and one access per router; `/public-collection/…` and `/public/…` routes check the link's
# token themselves.
MOUNTS = [
    Mount(internal.router, Face.INTERNAL, Access.INTERNAL),
    Mount(v1.router, Face.V1, Access.USER),
    Mount(v1_search.router, Face.V1, Access.USER),
    Mount(v1.public_router, Face.V1, Access.ANYONE),
    Mount(v1_albums.router, Face.V1, Access.USER),
    Mount(v1_share_page.router, Face.V1, Access.LINK),
    Mount(storage.router, Face.ENTE, Access.USER),
    Mount(ente.router, Face.ENTE, Access.USER),
    Mount(ente_restore.router, Face.ENTE, Access.USER),
    Mount(ente_public.router, Face.ENTE, Access.USER),
    Mount(ente_public.link_router, Face.ENTE, Access.LINK),
    Mount(ente_authenticator.router, Face.ENTE, Access.USER),
    Mount(ente_filedata.router, Face.ENTE, Access.USER, max_body_size=ente_filedata.MAX_BODY),
    Mount(ente_filedata.link_router, Face.ENTE, Access.LINK),
    Mount(seed.router, Face.ENTE, Access.USER),
    Mount(seed.link_router, Face.ENTE, Access.LINK),
    Mount(seed.admin_router, Face.ENTE, Access.ADMIN),
    # CL's store. The admin's routes first: `DELETE /entities/collection` is not an entity's id.
    Mount(cl_store.public_router, Face.CL, Access.PUBLIC),
    Mount(cl_store.admin_router, Face.CL, Access.ADMIN, admin_refusal=cl_store.ADMIN_REFUSAL),
    Mount(cl_store.router, Face.CL, Access.SPACE),
    Mount(cl_store.upload_router, Face.CL, Access.SPACE, max_body_size=None),
]


def create_service(settings: Settings | None = None, metadata_settings: MetadataSettings | None = None
                   ) -> ServiceApp:
    settings = settings or get_settings()
    store = metadata_settings or MetadataSettings()
    runtime = Runtime(settings, NAME, BUS)
    assert runtime.storage is not None
    mqtt = ClMqtt.from_settings(settings, NAME)
    runtime.on_stop.append(mqtt.stop)
    container = Container.build(
        runtime.db, runtime.storage, Users(runtime.internal("auth", settings.auth_url)),
        default_quota=settings.default_quota_bytes, presign_seconds=settings.presign_expiry_seconds,
        secret=settings.secret_key, public_url=settings.public_url, store=store,
        mqtt=mqtt,
    )
    runtime.container = container
    runtime.apply_once(METADATA_UPLOAD_COMPLETED, container.reports.upload_completed)
    runtime.apply_once(METADATA_UPLOAD_ENDED, container.quotas.upload_ended)
    runtime.apply_once(METADATA_JOB_COMPLETED, container.reports.job_completed)
    runtime.apply_once(METADATA_REPLICA_STORED, container.reports.replica_stored)
    runtime.apply_once(METADATA_REPLICA_DAMAGED, container.reports.replica_damaged)
    runtime.apply_once(METADATA_REPLICA_REPAIRED, container.reports.replica_repaired)
    runtime.apply_once(METADATA_OBJECT_DAMAGED, container.reports.object_damaged)
    runtime.apply_once(METADATA_USER_DELETED, container.reports.user_deleted)
    runtime.apply_once(METADATA_QUOTA_SET, container.reports.quota_set)
    runtime.background("reservation-sweeper", lambda: every(60, container.quotas.expire_reservations))
    runtime.background("file-data-upload-sweeper", lambda: every(60, container.file_data.sweep_uploads))
    runtime.background("trash-purge", lambda: every(store.trash_purge_interval_seconds, container.trash.purge_due))
    runtime.background("reannouncer", lambda: every(store.reconcile_interval_seconds, container.reannouncer.sweep))
    return create_app(NAME, __version__, mounts=MOUNTS, runtime=runtime)
