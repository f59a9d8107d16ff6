"""The MQTT publisher against the embedded NATS serving MQTT, read by paho-mqtt as CL's clients read it."""

from __future__ import annotations

import asyncio
import json
import queue
import socket
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from shoebox_lib.embedded import EmbeddedNats, free_port
from shoebox_lib.mqtt import MqttPublisher
from shoebox_lib.mqtt_topics import (
    JOB_EVENTS,
    ClMqtt,
    entity_status_topic,
    store_items_topic,
    store_port,
    worker_topic,
)

WAIT = 20.0  # a bound on every wait below, never a measured time


class Subscriber:
    """A CL-style client: paho-mqtt 2.x on its own network thread, subscribing at QoS 0 as CL's SDK does."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 1883
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"cl-test-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.messages: queue.Queue[paho.MQTTMessage] = queue.Queue()
        self.ping = f"cl-test/ping/{uuid.uuid4().hex}"
        self._connected = threading.Event()
        self._acked: set[int] = set()
        self._acks = threading.Condition()

    def _on_connect(self, client: paho.Client, userdata: Any, flags: paho.ConnectFlags, reason: ReasonCode,
                    properties: Properties | None) -> None:
        if not reason.is_failure:
            self._connected.set()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self.messages.put(message)

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: list[ReasonCode],
                      properties: Properties | None) -> None:
        with self._acks:
            self._acked.add(mid)
            self._acks.notify_all()

    async def __aenter__(self) -> Subscriber:
        await asyncio.to_thread(self.client.connect, self.host, self.port, 30)
        self.client.loop_start()
        assert await asyncio.to_thread(self._connected.wait, WAIT), "the MQTT client did not connect"
        await self.subscribe(self.ping)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    async def subscribe(self, *topics: str) -> None:
        _, mid = self.client.subscribe([(topic, 0) for topic in topics])

        def acked() -> bool:
            with self._acks:
                return self._acks.wait_for(lambda: mid in self._acked, WAIT)

        assert await asyncio.to_thread(acked), f"no SUBACK for {topics}"

    async def next(self, topic: str, where: Callable[[paho.MQTTMessage], bool] = lambda m: True
                   ) -> paho.MQTTMessage:
        """The next message on `topic` that `where` accepts (others are passed over)."""
        async with asyncio.timeout(WAIT):
            while True:
                message = await asyncio.to_thread(self.messages.get, True, WAIT)
                if message.topic == topic and where(message):
                    return message

    async def everything_so_far(self) -> list[paho.MQTTMessage]:
        """All messages delivered before a ping this client sends itself now: the broker handles one
        connection's packets in order, so retained messages of earlier subscriptions come first."""
        self.client.publish(self.ping, b"ping", qos=1)
        seen: list[paho.MQTTMessage] = []
        async with asyncio.timeout(WAIT):
            while True:
                message = await asyncio.to_thread(self.messages.get, True, WAIT)
                if message.topic == self.ping:
                    return seen
                seen.append(message)


def body(message: paho.MQTTMessage) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(message.payload)
    return decoded


async def flushed(publisher: MqttPublisher) -> None:
    """Until the broker has acknowledged everything published so far."""
    async with asyncio.timeout(WAIT):
        while publisher.pending:
            await asyncio.sleep(0.02)


def for_job(job_id: str) -> Callable[[paho.MQTTMessage], bool]:
    return lambda message: bool(message.payload) and body(message).get("job_id") == job_id


async def test_events_reach_a_subscribed_client(mqtt_url: str) -> None:
    port = store_port(f"http://127.0.0.1:{free_port()}")
    mqtt = ClMqtt(MqttPublisher(mqtt_url, name="test"), store_port=port)
    job_id = f"job_{uuid.uuid4().hex}"
    try:
        async with Subscriber(mqtt_url) as client:
            await client.subscribe(JOB_EVENTS, store_items_topic(port))
            await mqtt.job_event(job_id, "in_progress", 40)
            await mqtt.job_event(job_id, "completed", 100, at_ms=1_700_000_000_000)
            await mqtt.item_stored(41, "0" * 32)

            progress = await client.next(JOB_EVENTS, for_job(job_id))
            assert not progress.retain
            event = body(progress)
            assert event["event_type"] == "in_progress"
            assert event["progress"] == 40
            assert isinstance(event["timestamp"], int)
            assert body(await client.next(JOB_EVENTS, for_job(job_id))) == {
                "job_id": job_id, "event_type": "completed", "timestamp": 1_700_000_000_000, "progress": 100}

            item = body(await client.next(store_items_topic(port)))
            assert item["id"] == 41
            assert item["md5"] == "0" * 32
            assert isinstance(item["timestamp"], int)
    finally:
        await mqtt.stop()
    assert mqtt.publisher.dropped == 0


async def test_retained_messages_wait_for_late_subscribers_until_cleared(mqtt_url: str) -> None:
    mqtt = ClMqtt(MqttPublisher(mqtt_url, name="test"), store_port=8000)
    worker, entity = f"w-{uuid.uuid4().hex[:12]}", int(uuid.uuid4().int % 10**9)
    topics = (worker_topic(worker), entity_status_topic(8000, entity))
    try:
        await mqtt.worker_seen(worker, ["media_thumbnail", "exif"], idle_count=2)
        await mqtt.entity_status(entity, "queued")
        await mqtt.entity_status(entity, "processing", thumbnail="in_progress")  # replaces the one before
        await flushed(mqtt.publisher)

        async with Subscriber(mqtt_url) as late:
            await late.subscribe(*topics)
            seen = await late.next(topics[0])
            assert seen.retain
            capability = body(seen)
            assert capability["worker_id"] == worker
            assert capability["capabilities"] == ["media_thumbnail", "exif"]
            assert capability["idle_count"] == 2
            assert isinstance(capability["timestamp"], int)
            status = await late.next(topics[1])
            assert status.retain
            assert {k: v for k, v in body(status).items() if k != "timestamp"} == {
                "entity_id": entity, "status": "processing", "thumbnail": "in_progress"}

            # Clearing: a subscribed client sees the empty payload (CL's "the worker left")...
            await mqtt.worker_left(worker)
            await mqtt.entity_status_cleared(entity)
            assert (await late.next(topics[0])).payload == b""
            assert (await late.next(topics[1])).payload == b""
        await flushed(mqtt.publisher)

        # ...and a client subscribing afterwards gets nothing for them.
        async with Subscriber(mqtt_url) as later:
            await later.subscribe(*topics)
            assert [m.topic for m in await later.everything_so_far()] == []
    finally:
        await mqtt.stop()


async def test_the_publisher_survives_a_restart_of_nats(tmp_path: Path) -> None:
    first = EmbeddedNats(tmp_path / "nats")
    await asyncio.to_thread(first.start)
    mqtt = ClMqtt(MqttPublisher(first.mqtt_url, name="test"), store_port=8000)
    job_id = f"job_{uuid.uuid4().hex}"
    again: EmbeddedNats | None = None
    try:
        async with Subscriber(first.mqtt_url) as client:
            await client.subscribe(JOB_EVENTS)
            await mqtt.job_event(job_id, "queued", 0)
            assert body(await client.next(JOB_EVENTS, for_job(job_id)))["event_type"] == "queued"
        await asyncio.to_thread(first.stop)  # the loop runs on meanwhile, as in a service whose NATS dies

        # While NATS is down: publishing returns at once, and the messages wait.
        await mqtt.job_event(job_id, "in_progress", 10)
        await mqtt.worker_seen("w-restart", ["exif"], idle_count=1)
        assert mqtt.publisher.pending >= 1

        again = EmbeddedNats(tmp_path / "nats", port=first.port, mqtt_port=first.mqtt_port)
        await asyncio.to_thread(again.start)
        async with Subscriber(again.mqtt_url) as client:
            await client.subscribe(JOB_EVENTS, worker_topic("w-restart"))
            # The retained message sent while it was down arrives, whether retained or live.
            assert body(await client.next(worker_topic("w-restart")))["worker_id"] == "w-restart"
            await mqtt.job_event(job_id, "completed", 100)
            completed = await client.next(JOB_EVENTS, lambda m: for_job(job_id)(m)
                                          and body(m)["event_type"] == "completed")
            assert body(completed)["progress"] == 100
        assert mqtt.publisher.connected
        assert mqtt.publisher.dropped == 0
    finally:
        await mqtt.stop()
        first.stop()
        if again:
            again.stop()


async def test_messages_wait_bounded_while_the_broker_is_away() -> None:
    publisher = MqttPublisher(f"mqtt://127.0.0.1:{free_port()}", name="test", max_pending=3)
    for n in range(5):
        await publisher.publish(JOB_EVENTS, {"n": n})
    for n in range(4):  # one topic: only the newest retained message of it waits
        await publisher.publish(worker_topic("w-away"), {"n": n}, retain=True)
    await publisher.clear(worker_topic("w-gone"))
    assert publisher.pending == 3 + 2
    assert publisher.dropped == 2
    assert [json.loads(m.payload)["n"] for m in publisher._events] == [2, 3, 4]
    assert json.loads(publisher._retained[worker_topic("w-away")].payload) == {"n": 3}
    async with asyncio.timeout(WAIT):
        await publisher.stop()
    assert not publisher.connected
    await publisher.publish(JOB_EVENTS, {"n": 5})  # after stop: ignored
    assert publisher.pending == 5


@pytest.mark.parametrize("bad", ["", "a/b", "a+b", "a#", "a b"])
def test_topics_refuse_what_mqtt_or_nats_cannot_carry(bad: str) -> None:
    with pytest.raises(ValueError, match="topic"):
        worker_topic(bad)


def test_the_store_port_is_the_public_one() -> None:
    assert store_port("http://127.0.0.1:51234/") == 51234
    assert store_port("https://shoebox.example.com") == 443
    assert store_port("http://localhost") == 80
    assert entity_status_topic(443, 7) == "mInsight/443/entity_item_status/7"
    with pytest.raises(ValueError, match="not an MQTT URL"):
        MqttPublisher("http://127.0.0.1:1883")


def test_the_embedded_nats_moves_off_a_taken_mqtt_port_when_allowed(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="exited"):
            EmbeddedNats(tmp_path / "strict", mqtt_port=port).start()
        server = EmbeddedNats(tmp_path / "lenient", mqtt_port=port, mqtt_port_fallback=True)
        server.start()
        try:
            assert server.mqtt_port != port
            assert server.mqtt_url == f"mqtt://127.0.0.1:{server.mqtt_port}"
        finally:
            server.stop()
