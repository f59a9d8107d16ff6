from __future__ import annotations

from pathlib import Path

from shoebox_lib.bus.topology import REPLICATOR_ITEM_DELETED, REPLICATOR_ITEM_STORED, REPLICATOR_VARIANT_STORED
from shoebox_lib.db import Migrations
from shoebox_lib.runtime import Runtime
from shoebox_lib.settings import Settings, get_settings
from shoebox_lib.web import ServiceApp, create_app
from shoebox_replicator import __version__
from shoebox_replicator.container import Container
from shoebox_replicator.models import BUS, SCHEMA
from shoebox_replicator.settings import ReplicatorSettings

NAME = "replicator"
MIGRATIONS = Migrations(schema=SCHEMA, directory=Path(__file__).parent / "migrations")

def create_service(settings: Settings | None = None,
                   replicator_settings: ReplicatorSettings | None = None) -> ServiceApp:
    settings = settings or get_settings()
    runtime = Runtime(settings, NAME, BUS)
    assert runtime.storage is not None
    container = Container.build(runtime.db, runtime.storage, replicator_settings or ReplicatorSettings())
    runtime.apply_once(REPLICATOR_ITEM_STORED, container.copier.replicate)
    runtime.apply_once(REPLICATOR_VARIANT_STORED, container.copier.replicate)
    runtime.apply_once(REPLICATOR_ITEM_DELETED, container.copier.erase)
    runtime.background("copy-worker", container.worker.run)
    runtime.background("backfill", container.backfill.run)
    runtime.background("scrubber", container.scrubber.run)
    runtime.container = container
    return create_app(NAME, __version__, [], runtime=runtime)
