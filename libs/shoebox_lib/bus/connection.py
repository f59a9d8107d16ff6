from __future__ import annotations

import json
import logging

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError, ServiceUnavailableError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from shoebox_lib.bus.topology import STREAMS, ConsumerSpec, stream_name
from shoebox_lib.settings import Settings

log = logging.getLogger(__name__)


def nats_servers(url: str) -> list[str]:
    """The servers of `Settings.nats_url`: one URL, or several separated by commas (a cluster's)."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise ValueError(f"no NATS server in {url!r}")
    return servers


class Bus:
    """One NATS connection per process; reconnects forever once connected."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.prefix = settings.bus_prefix
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("the bus is not connected")
        return self._js

    @property
    def core(self) -> Client:
        """The connection itself, for core NATS request/reply (compute's worker protocol)."""
        if self._nc is None:
            raise RuntimeError("the bus is not connected")
        return self._nc

    def stream_name(self, stream: str) -> str:
        return stream_name(self.prefix, stream)

    def subject(self, suffix: str) -> str:
        return f"{self.prefix}.{suffix}"

    async def connect(self) -> None:
        # A server just started (or busy) may refuse connections, or answer JetStream's API late (nats'
        # TimeoutError), and a cluster electing its leaders answers 503: all are tried again for a while
        # before a service gives up starting.
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(30), wait=wait_exponential(max=2),
            retry=retry_if_exception_type(
                (OSError, nats.errors.NoServersError, TimeoutError, ServiceUnavailableError)),
            reraise=True,
        ):
            with attempt:
                if self._nc is None:
                    # Every server listed, so a process starts while any one of them is down; once connected,
                    # the client also learns the cluster's other servers from the one it reached.
                    self._nc = await nats.connect(
                        nats_servers(self.settings.nats_url), max_reconnect_attempts=-1,
                        reconnect_time_wait=0.5, connect_timeout=2, allow_reconnect=True,
                    )
                    self._js = self._nc.jetstream()
                await self.ensure_streams()

    async def ensure_streams(self) -> None:
        for spec in STREAMS:
            config = spec.config(self.prefix, self.settings.bus_stream_replicas)
            try:
                await self.js.add_stream(config)
            except BadRequestError:
                # It exists with another configuration, as after `bus_stream_replicas` changed: a cluster
                # moves it to the new replica count in place (followers catch up from the leader).
                await self.js.update_stream(config)

    async def ensure_consumer(self, spec: ConsumerSpec) -> None:
        stream = self.stream_name(spec.stream)
        config = ConsumerConfig(
            durable_name=spec.durable,
            filter_subject=self.subject(spec.subject),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.settings.bus_ack_wait_seconds,
            max_deliver=-1,  # we count deliveries ourselves and dead-letter at the bound
            max_ack_pending=1000,
            # num_replicas unset (0): the consumer's state is kept on the stream's servers, as many as it
            # has, and moves with it when `bus_stream_replicas` changes; a count of its own would not.
        )
        await self.js.add_consumer(stream, config=config)

    async def publish(self, suffix: str, body: bytes, msg_id: str | None = None,
                      headers: dict[str, str] | None = None) -> None:
        all_headers = dict(headers or {})
        if msg_id:
            all_headers["Nats-Msg-Id"] = msg_id
        await self.js.publish(self.subject(suffix), body, headers=all_headers or None)

    async def publish_json(self, suffix: str, value: object, msg_id: str | None = None) -> None:
        await self.publish(suffix, json.dumps(value).encode(), msg_id)

    async def ping(self) -> None:
        if self._nc is None or not self._nc.is_connected:
            raise ConnectionError("not connected to NATS")
        await self._nc.flush(timeout=2)

    async def close(self) -> None:
        # Not drain(): our pull fetchers are already cancelled, and drain would wait on them. Anything
        # fetched but not acked is redelivered, which consumers are built for.
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()
