"""The compute service's cores, built once in `app.create_service`."""

from __future__ import annotations

from dataclasses import dataclass

from shoebox_compute.broker import Broker
from shoebox_compute.workers import BuiltInWorker


@dataclass(frozen=True)
class Container:
    broker: Broker
    workers: tuple[BuiltInWorker, ...]
