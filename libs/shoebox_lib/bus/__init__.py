"""NATS JetStream: topology in one place, a transactional outbox and its relay, idempotent consumers."""

from shoebox_lib.bus.connection import Bus
from shoebox_lib.bus.consumer import Consumer, Handler
from shoebox_lib.bus.outbox import BusTables, OutboxRelay, bus_tables, emit, handle_once
from shoebox_lib.bus.topology import CONSUMERS, ConsumerSpec

__all__ = [
    "CONSUMERS", "Bus", "BusTables", "Consumer", "ConsumerSpec", "Handler", "OutboxRelay", "bus_tables",
    "emit", "handle_once",
]
