from __future__ import annotations

from pathlib import Path

from shoebox_compute import __version__
from shoebox_compute.broker import Broker
from shoebox_compute.container import Container
from shoebox_compute.models import BUS, SCHEMA
from shoebox_compute.workers import QUEUES, BuiltInWorker
from shoebox_lib.bus.topology import COMPUTE_ITEM_STORED
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
    runtime.apply_once(COMPUTE_ITEM_STORED, broker.on_item_stored)
    workers = []
    for task_type, queue in QUEUES.items():
        worker = BuiltInWorker(runtime.db, runtime.storage.primary, task_type)
        runtime.consume(queue, worker.handle)
        workers.append(worker)
    runtime.container = Container(broker=broker, workers=tuple(workers))
    return create_app(NAME, __version__, [], runtime=runtime)
