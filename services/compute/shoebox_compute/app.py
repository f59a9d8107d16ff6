from __future__ import annotations

import os
import socket
from pathlib import Path

from shoebox_compute import __version__
from shoebox_compute.api import jobs
from shoebox_compute.broker import Broker, builtin_credential
from shoebox_compute.builtin import register
from shoebox_compute.container import Container, JobFace
from shoebox_compute.dispatcher import Dispatcher
from shoebox_compute.library import Library
from shoebox_compute.models import BUS, SCHEMA
from shoebox_compute.retention import Retention
from shoebox_compute.settings import ComputeSettings
from shoebox_lib.bus.topology import COMPUTE_ITEM_STORED
from shoebox_lib.db import Migrations
from shoebox_lib.mqtt_topics import ClMqtt
from shoebox_lib.runtime import Runtime, every
from shoebox_lib.settings import Settings, get_settings
from shoebox_lib.web import Face, ServiceApp, create_app
from shoebox_lib.web.access import Access, Holder, Mount
from shoebox_lib.worker.runtime import Worker

NAME = "compute"
MIGRATIONS = Migrations(schema=SCHEMA, directory=Path(__file__).parent / "migrations")
SWEEP_SECONDS = 5.0

# CL's compute face (the job API). The admin's routes before the others, as the store's are.
MOUNTS = [
    Mount(jobs.public_router, Face.CL, Access.PUBLIC),
    Mount(jobs.admin_router, Face.CL, Access.ADMIN, admin_refusal=jobs.ADMIN_REFUSAL),
    # The mode is the store's; the jobs are their creators'.
    Mount(jobs.router, Face.CL, Access.SPACE, holder=Holder.CALLER),
    Mount(jobs.upload_router, Face.CL, Access.SPACE, max_body_size=None, holder=Holder.CALLER),
]


def create_service(settings: Settings | None = None, compute_settings: ComputeSettings | None = None
                   ) -> ServiceApp:
    settings = settings or get_settings()
    runtime = Runtime(settings, NAME, BUS)
    assert runtime.storage is not None
    broker = Broker(runtime.db, runtime.storage, settings.secret_key, settings.presign_expiry_seconds)
    dispatcher = Dispatcher(runtime.bus, broker)
    broker.wake = dispatcher.wake
    runtime.apply_once(COMPUTE_ITEM_STORED, broker.on_item_stored)
    runtime.background("dispatcher", dispatcher.run)
    runtime.background("lease-sweeper", lambda: every(SWEEP_SECONDS, broker.expire_leases))
    runtime.background("worker-registry-sweeper", lambda: every(SWEEP_SECONDS, broker.forget_silent_workers))
    compute_settings = compute_settings or ComputeSettings()
    # The built-in tasks run on the worker runtime any plug-in uses, over the bus, in this process.
    if compute_settings.builtin_slots:
        worker = register(Worker(nats_url=settings.nats_url, prefix=settings.bus_prefix,
                                 credential=builtin_credential(settings.secret_key),
                                 worker_id=f"builtin-{socket.gethostname()}-{os.getpid()}",
                                 slots=compute_settings.builtin_slots))
        runtime.background("builtin-worker", worker.run)
    # What CL's clients watch over MQTT: workers coming and going, and every job's progress.
    mqtt = ClMqtt.from_settings(settings, NAME)
    broker.listeners.append(lambda event: mqtt.job_event(event.job_id, event.status, event.progress,
                                                         at_ms=event.at_ms))
    broker.worker_listeners.append(lambda status, worker_id: mqtt.worker_left(worker_id) if status is None
                                   else mqtt.worker_seen(worker_id, status.capabilities,
                                                         sum(status.idle.values())))
    runtime.on_stop.append(mqtt.stop)
    jobs = JobFace(library=Library(runtime.internal("metadata", settings.metadata_url)),
                   retention=Retention(runtime.db, runtime.storage), storage=runtime.storage,
                   settings=compute_settings)
    runtime.container = Container(broker=broker, dispatcher=dispatcher, jobs=jobs)
    return create_app(NAME, __version__, MOUNTS, runtime=runtime)
