"""The compute service's cores, built once in `app.create_service`."""

from __future__ import annotations

from dataclasses import dataclass

from shoebox_compute.broker import Broker
from shoebox_compute.dispatcher import Dispatcher


@dataclass(frozen=True)
class Container:
    broker: Broker
    dispatcher: Dispatcher
