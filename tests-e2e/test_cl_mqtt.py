"""What a CL client sees over MQTT, with an ordinary MQTT library (paho-mqtt, as CL's SDK uses), from the
NATS server Shoebox runs: the workers that are up (retained), every job's progress, and the store's items
and their processing."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from PIL import Image
from sqlalchemy import select

from shoebox.testing import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSystem
from shoebox.testing.cl_client import ClClient, ClEntity
from shoebox_compute.models import Job
from shoebox_lib.mqtt_topics import store_port

WAIT_SECONDS = 60


@dataclass
class Heard:
    messages: list[tuple[str, dict[str, Any] | None, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, topic: str, payload: bytes, retained: bool) -> None:
        with self.lock:
            self.messages.append((topic, json.loads(payload) if payload else None, retained))

    def on(self, topic: str) -> list[dict[str, Any] | None]:
        with self.lock:
            return [body for t, body, _ in self.messages if t == topic]

    def matching(self, prefix: str) -> list[tuple[str, dict[str, Any] | None, bool]]:
        with self.lock:
            return [m for m in self.messages if m[0].startswith(prefix)]


def subscriber(url: str, heard: Heard, topics: list[str]) -> mqtt.Client:
    parts = urlsplit(url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="cl-test-client")
    client.on_message = lambda _c, _u, message: heard.add(message.topic, message.payload, bool(message.retain))
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    for topic in topics:
        client.subscribe(topic, qos=1)
    client.loop_start()
    return client


async def until(what: str, check: Any) -> Any:
    async with asyncio.timeout(WAIT_SECONDS):
        while not (found := check()):
            await asyncio.sleep(0.1)
    return found


def png() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((64, 48), 40).convert("RGB").save(out, format="PNG")
    return out.getvalue()


async def test_a_cl_client_sees_workers_jobs_and_the_stores_items_over_mqtt(api: RunningSystem) -> None:
    port = store_port(api.settings.public_url)
    heard = Heard()
    client = subscriber(api.settings.mqtt_url, heard, [
        "inference/workers/+", "inference/events", f"store/{port}/items", f"mInsight/{port}/entity_item_status/+"])
    try:
        # the built-in worker, retained: a client that subscribes after it came up still learns of it
        workers = await until("a worker", lambda: [b for t, b, _ in heard.matching("inference/workers/builtin-")
                                                   if b is not None])
        assert {"thumbnail", "media_thumbnail", "exif"} <= set(workers[-1]["capabilities"])
        assert isinstance(workers[-1]["idle_count"], int)

        cl = ClClient(api.client)
        await cl.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        entity: ClEntity = await cl.upload(png(), filename="noise.png", content_type="image/png")

        items = await until("the item", lambda: [b for b in heard.on(f"store/{port}/items")
                                                 if b is not None and b["id"] == entity.id])
        assert items[0]["md5"] == entity.md5
        status_topic = f"mInsight/{port}/entity_item_status/{entity.id}"
        await until("its processing done", lambda: any(
            b is not None and b["status"] == "completed" for b in heard.on(status_topic)))
        answer = (await cl.get_entity(entity.id)).json()
        assert answer["intelligence_data"]["overall_status"] == "completed"

        db = api.services["compute"].app.state.runtime.db
        async with db.transaction() as session:
            job_ids = set((await session.execute(select(Job.id).where(Job.item_id == entity.id))).scalars())
        assert len(job_ids) == 3  # thumb, medium, metadata
        events = [b for b in heard.on("inference/events") if b is not None and b["job_id"] in job_ids]
        for job_id in job_ids:
            kinds = [e["event_type"] for e in events if e["job_id"] == job_id]
            assert (kinds[0], kinds[-1]) == ("queued", "completed"), kinds
            assert "in_progress" in kinds
        assert all(isinstance(e["timestamp"], int) for e in events)
    finally:
        client.loop_stop()
        client.disconnect()
