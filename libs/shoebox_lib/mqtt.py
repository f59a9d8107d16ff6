"""MQTT out of the services, for CL's clients and workers (NATS serves MQTT: `SHOEBOX_MQTT_URL`).

    publisher = MqttPublisher(settings.mqtt_url, name="compute")      # or publisher_for(settings, "compute")
    await publisher.publish("inference/events", {"job_id": ..., ...})   # JSON; or bytes as they are
    await publisher.publish("inference/workers/w1", {...}, retain=True) # kept by the broker for later subscribers
    await publisher.clear("inference/workers/w1")                        # empty retained payload: "gone"
    await publisher.stop()                                               # at shutdown: sends what waits, briefly

What the topics and payloads are is `shoebox_lib.mqtt_topics` (with `ClMqtt`, the calls the services make).

Behaviour:
- `publish` and `clear` never wait for the broker: they put the message in memory and return, so a
  request path never blocks on MQTT. One background task (started by the first publish, on the running
  loop) connects, sends in order and waits for each QoS 1 acknowledgement; it reconnects with backoff
  (up to 5 s) when the broker goes away, and re-sends the message it was sending (at least once).
- Bounded: at most `max_pending` plain messages wait; past that the oldest is dropped, with a warning
  (at most one per 30 s, counting them). Retained messages wait apart, one per topic: a newer one
  replaces the older (only the broker's last retained message counts), so a worker's "gone" is never
  lost behind a flood of events; at most `max_retained` topics wait.
- QoS 0 or 1 (NATS has no QoS 2). Topics are published as given: no wildcards (`+`, `#`), no spaces
  (NATS subjects cannot hold them), not empty.
- `stop()` sends what still waits for up to `drain_seconds` (2 s) when connected, then disconnects;
  publishing after it is ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import ssl
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import aiomqtt

from shoebox_lib.waiting import wait_event

if TYPE_CHECKING:
    from shoebox_lib.settings import Settings

log = logging.getLogger("shoebox.mqtt")

Payload = Mapping[str, Any] | bytes

_WARN_EVERY_SECONDS = 30.0
_MAX_BACKOFF_SECONDS = 5.0


def check_topic(topic: str) -> None:
    """A topic one may publish to, else ValueError."""
    if not topic or any(c in topic for c in "+#") or any(c.isspace() or c == "\0" for c in topic):
        raise ValueError(f"not a topic to publish to: {topic!r}")
    if len(topic.encode()) > 65535:
        raise ValueError("topic longer than MQTT allows")


def encode(payload: Payload) -> bytes:
    if isinstance(payload, bytes):
        return payload
    return json.dumps(payload, separators=(",", ":")).encode()


@dataclass(eq=False)
class _Message:
    seq: int
    topic: str
    payload: bytes
    retain: bool
    qos: int


class MqttPublisher:
    def __init__(self, url: str, *, name: str = "shoebox", max_pending: int = 1000, max_retained: int = 10_000,
                 connect_timeout: float = 5.0, publish_timeout: float = 5.0, keepalive: int = 30) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp"):
            raise ValueError(f"not an MQTT URL (mqtt://host:port): {url!r}")
        self.url = url
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._tls = ssl.create_default_context() if parts.scheme == "mqtts" else None
        # A fresh id per publisher: two processes of one service must not take each other's session.
        self.client_id = f"shoebox-{name}-{uuid.uuid4().hex[:12]}"
        self.max_pending = max_pending
        self.max_retained = max_retained
        self.connect_timeout = connect_timeout
        self.publish_timeout = publish_timeout
        self.keepalive = keepalive

        self._events: deque[_Message] = deque()
        self._retained: OrderedDict[str, _Message] = OrderedDict()   # insertion order = send order
        self._seq = itertools.count()
        self._wake = asyncio.Event()      # something was published, or stop
        self._stopping = asyncio.Event()  # stop only: cuts a reconnect's backoff short
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._last_drop_warning = -math.inf
        self._dropped_since_warning = 0

        self.connected = False
        self.published = 0   # acknowledged by the broker (QoS 1) or written (QoS 0)
        self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._events) + len(self._retained)

    async def publish(self, topic: str, payload: Payload, *, retain: bool = False, qos: int = 1) -> None:
        """Queue `payload` (a dict as JSON, or bytes) for `topic`; returns at once."""
        self.publish_nowait(topic, payload, retain=retain, qos=qos)

    async def clear(self, topic: str) -> None:
        """Remove the broker's retained message of `topic` (an empty retained payload: CL's "gone")."""
        self.publish_nowait(topic, b"", retain=True)

    def publish_nowait(self, topic: str, payload: Payload, *, retain: bool = False, qos: int = 1) -> None:
        """`publish` for code that is not a coroutine (still on the event loop's thread)."""
        check_topic(topic)
        if qos not in (0, 1):
            raise ValueError("NATS serves MQTT QoS 0 and 1 only")
        if self._closing:
            log.debug("MQTT publisher %s is stopped: %s not sent", self.client_id, topic)
            return
        message = _Message(next(self._seq), topic, encode(payload), retain, qos)
        if retain:
            self._retained.pop(topic, None)
            self._retained[topic] = message
            if len(self._retained) > self.max_retained:
                self._retained.popitem(last=False)
                self._note_drop()
        else:
            if len(self._events) >= self.max_pending:
                self._events.popleft()
                self._note_drop()
            self._events.append(message)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"mqtt {self.client_id}")

    async def stop(self, drain_seconds: float = 2.0) -> None:
        self._closing = True
        self._wake.set()
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), drain_seconds)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.connected = False
        if self.pending:
            log.warning("MQTT publisher stopped with %d messages unsent to %s", self.pending, self.host)

    # The sender.

    def _note_drop(self) -> None:
        self.dropped += 1
        self._dropped_since_warning += 1
        now = time.monotonic()
        if now - self._last_drop_warning >= _WARN_EVERY_SECONDS:
            log.warning("MQTT broker %s:%d is not taking messages: dropped the %d oldest waiting (%d in all)",
                        self.host, self.port, self._dropped_since_warning, self.dropped)
            self._last_drop_warning = now
            self._dropped_since_warning = 0

    def _head(self) -> _Message | None:
        event = self._events[0] if self._events else None
        retained = next(iter(self._retained.values()), None)
        if event is None or retained is None:
            return event or retained
        return event if event.seq < retained.seq else retained

    def _sent(self, message: _Message) -> None:
        # Only if it is still waiting: meanwhile a newer retained message may have replaced it, or the
        # bound may have dropped it.
        if message.retain:
            if self._retained.get(message.topic) is message:
                del self._retained[message.topic]
        elif self._events and self._events[0] is message:
            self._events.popleft()
        self.published += 1

    async def _idle(self) -> None:
        """Until something is published, or stop."""
        self._wake.clear()
        await self._wake.wait()

    async def _run(self) -> None:
        backoff = 0.2
        down_since: float | None = None
        while not (self._closing and self._head() is None):
            try:
                async with aiomqtt.Client(
                    self.host, self.port, identifier=self.client_id, username=self._username,
                    password=self._password, tls_context=self._tls, clean_session=True,
                    keepalive=self.keepalive, timeout=self.connect_timeout,
                ) as client:
                    self.connected = True
                    if down_since is not None:
                        log.info("MQTT publisher reconnected to %s:%d after %.1f s, %d messages waiting",
                                 self.host, self.port, time.monotonic() - down_since, self.pending)
                    down_since, backoff = None, 0.2
                    await self._send_while_connected(client)
                    return
            except (aiomqtt.MqttError, OSError) as exc:
                self.connected = False
                if self._closing:
                    return
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning("MQTT broker %s:%d unreachable (%s): up to %d messages wait for it",
                                self.host, self.port, exc, self.max_pending)
            except Exception:
                # A bug must not end publishing for good: log it, and start over with a new connection.
                self.connected = False
                log.exception("MQTT publisher failed")
                if self._closing:
                    return
            # Not woken by new messages: while the broker is down, each would be another connection attempt.
            await wait_event(self._stopping, backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)

    async def _send_while_connected(self, client: aiomqtt.Client) -> None:
        """Send until stopped; raises MqttError as soon as the connection is lost, even while idle, so a
        message is never handed to a dead socket (nor waits out the acknowledgement timeout)."""
        sender = asyncio.ensure_future(self._send(client))
        watcher = asyncio.ensure_future(self._watch(client))
        try:
            done, _ = await asyncio.wait((sender, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sender, watcher):
                task.cancel()
            await asyncio.gather(sender, watcher, return_exceptions=True)
        for task in done:
            task.result()

    @staticmethod
    async def _watch(client: aiomqtt.Client) -> None:
        # We subscribe to nothing: the iteration only ends, with MqttError, when the connection is lost.
        async for _ in client.messages:
            pass

    async def _send(self, client: aiomqtt.Client) -> None:
        while True:
            message = self._head()
            if message is None:
                if self._closing:
                    return
                await self._idle()
                continue
            await client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain,
                                 timeout=self.publish_timeout)
            self._sent(message)


def publisher_for(settings: Settings, name: str) -> MqttPublisher:
    """The publisher of one service (`name` goes into its MQTT client id)."""
    return MqttPublisher(settings.mqtt_url, name=name)
