from __future__ import annotations

from pathlib import Path

from shoebox_compute import __version__
from shoebox_compute.broker import Broker
from shoebox_compute.models import BUS, SCHEMA
from shoebox_compute.workers import BUILT_IN, BuiltInWorker
from shoebox_lib.db import Migrations
from shoebox_lib.runtime import Runtime
from shoebox_lib.settings import Settings, get_settings
from shoebox_lib.web import ServiceApp, create_app

NAME = "compute"
MIGRATIONS = Migrations(schema=SCHEMA, directory=Path(__file__).parent / "migrations")


def create_service(settings: Settings | None = None) -> ServiceApp:
    settings = settings or get_settings()
    runtime = Runtime(settings, NAME, BUS)
    assert runtime.storage is not None
    broker = Broker()
    runtime.apply_once("compute-item-stored", broker.on_item_stored)
    for task_type in BUILT_IN:
        worker = BuiltInWorker(runtime.db, runtime.storage.primary, task_type)
        runtime.consume(f"compute-work-{task_type}", worker.handle)
    runtime.state["broker"] = broker
    return create_app(NAME, __version__, [], lifespan=runtime.lifespan, checks=runtime.checks())
