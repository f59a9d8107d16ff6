"""The compute service's cores, built once in `app.create_service`."""

from __future__ import annotations

from dataclasses import dataclass

from shoebox_compute.broker import Broker
from shoebox_compute.dispatcher import Dispatcher
from shoebox_compute.library import Library
from shoebox_compute.retention import Retention
from shoebox_compute.settings import ComputeSettings
from shoebox_lib.storage import Storage


@dataclass(frozen=True)
class JobFace:
    """What CL's job API uses besides the broker: the library it asks about items, the retention of old
    jobs' files, storage, and compute's own settings."""

    library: Library
    retention: Retention
    storage: Storage
    settings: ComputeSettings


@dataclass(frozen=True)
class Container:
    broker: Broker
    dispatcher: Dispatcher
    jobs: JobFace
