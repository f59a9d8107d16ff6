"""A durable pull consumer: explicit ack and backoff on failure. An event that cannot be read, or that breaks a
rule after a bounded number of tries, is dead-lettered; any other failure is tried again until it passes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from prometheus_client import Counter
from pydantic import ValidationError

from shoebox_lib.bus.connection import Bus
from shoebox_lib.bus.dead_letters import ERROR, ORIGINAL_SUBJECT
from shoebox_lib.bus.topology import ConsumerSpec
from shoebox_lib.errors import ShoeboxError
from shoebox_lib.events import Envelope, Payload

log = logging.getLogger(__name__)

Handler = Callable[[Envelope, Any], Awaitable[None]]

HANDLED = Counter("shoebox_bus_messages_total", "Bus messages handled", ["consumer", "outcome"])


def breaks_a_rule(exc: Exception) -> bool:
    """Whether a failed event can never succeed however often it is tried: it breaks one of the domain's
    rules (a 4xx), so it is dead-lettered after the bounded tries. Anything else, a dependency down (database,
    bus, storage, another service, a full disk) or a bug to be fixed, is tried again for as long as it
    fails: dead-lettering it would lose the work."""
    if isinstance(exc, ShoeboxError):
        return exc.is_refusal
    return isinstance(exc, ValidationError)


def backoff_seconds(delivery: int) -> float:
    """0.5 s, 1 s, 2 s, … capped at a minute."""
    return float(min(60.0, 0.5 * 2 ** max(0, delivery - 1)))


def _stop_if_cancelled() -> None:
    """nats-py's fetch waits with `asyncio.wait_for` in a task of its own, and on Python 3.11 that can swallow a
    cancel landing just as a message or a timeout does: the consumer would fetch on for ever and its service
    never stop. The task still counts the cancel it was asked for, so it is honoured here."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Consumer:
    def __init__(self, bus: Bus, spec: ConsumerSpec, handler: Handler, *, max_deliver: int | None = None,
                 batch: int = 10) -> None:
        self.bus = bus
        self.spec = spec
        self.handler = handler
        self.max_deliver = max_deliver or bus.settings.bus_max_deliver
        self.batch = batch

    async def run(self) -> None:
        await self.bus.ensure_consumer(self.spec)
        sub = await self.bus.js.pull_subscribe_bind(
            self.spec.durable, stream=self.bus.stream_name(self.spec.stream)
        )
        while True:
            _stop_if_cancelled()
            try:
                messages = await sub.fetch(self.batch, timeout=2)
            except (NatsTimeout, TimeoutError):
                continue
            except ConnectionClosedError:
                if self.bus.core.is_closed:
                    # Closed for good: the service is stopping. nats-py turns a cancel that lands as the
                    # connection closes into this error; looping on it would keep a stopped consumer alive.
                    return
                await asyncio.sleep(1)
                continue
            except NatsError as down:  # the server gone, or a cluster electing a leader: expected, no stack
                log.warning("%s: fetch failed: %r", self.spec.durable, down)
                await asyncio.sleep(1)
                continue
            except Exception:
                log.exception("%s: fetch failed", self.spec.durable)
                await asyncio.sleep(1)
                continue
            _stop_if_cancelled()  # nothing fetched is acked: it comes again, to whoever runs next
            pending = list(messages)
            alive = asyncio.create_task(self._keep_alive(pending))
            try:
                while pending:
                    await self.handle(pending[0])
                    pending.pop(0)
            finally:
                alive.cancel()

    async def _keep_alive(self, pending: list[Msg]) -> None:
        """Tell the server, a third of `ack_wait` apart, that the batch's messages are being worked on, so that
        `ack_wait` can be short (a killed consumer's messages come back within seconds) and yet a slow handler,
        or a message waiting its turn in the batch, is not handed to another consumer meanwhile."""
        while True:
            await asyncio.sleep(self.bus.settings.bus_ack_wait_seconds / 3)
            for msg in list(pending):
                with suppress(Exception):  # an ack lost here only means a redelivery, which is harmless
                    await msg.in_progress()

    async def handle(self, msg: Msg) -> None:
        delivery = msg.metadata.num_delivered or 1
        try:
            envelope = Envelope.model_validate_json(msg.data)
            payload: Payload = self.spec.payload.model_validate(envelope.data)
        except ValidationError as exc:
            # A message that cannot be read will never be readable: no retries.
            await self._dead_letter(msg, f"malformed: {exc}")
            return
        try:
            await self.handler(envelope, payload)
        except Exception as exc:
            if breaks_a_rule(exc) and delivery >= self.max_deliver:
                log.warning("%s: giving up on %s after %d tries: %s", self.spec.durable, envelope.id, delivery, exc)
                await self._dead_letter(msg, f"{type(exc).__name__}: {exc}")
                return
            if delivery == self.max_deliver:  # still failing: its stack once, then tries go on for as long
                log.exception("%s: %s still fails after %d tries; trying again for as long as it does",
                              self.spec.durable, envelope.id, delivery)
            else:
                log.warning("%s: %s failed (try %d): %s", self.spec.durable, envelope.id, delivery, exc)
            HANDLED.labels(self.spec.durable, "retried").inc()
            await msg.nak(delay=backoff_seconds(delivery))
            return
        await msg.ack()
        HANDLED.labels(self.spec.durable, "ok").inc()

    async def _dead_letter(self, msg: Msg, reason: str) -> None:
        headers = {ORIGINAL_SUBJECT: msg.subject, ERROR: reason[:1000]}
        await self.bus.publish(self.spec.dead_subject, msg.data, headers=headers)
        await msg.term()
        HANDLED.labels(self.spec.durable, "dead").inc()
