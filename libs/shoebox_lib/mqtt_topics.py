"""The MQTT topics and payloads CL's clients read, and `ClMqtt`, the calls the services make to publish them.

Topics (CL's SDK subscribes to exactly these; times are milliseconds since the epoch):
- `inference/workers/<worker_id>`: retained `{worker_id, capabilities: [task], idle_count, timestamp}`;
  an empty retained payload when the worker leaves. Clients wait for a worker with an idle task.
- `inference/events`: `{job_id, event_type, timestamp, progress}`, one per status change and progress
  report; `event_type` is the job's status (queued, in_progress, completed, failed, cancelled), and a
  client's completion callback fires on completed/failed. `progress` 100 once completed.
- `store/<port>/items`: `{id, md5, timestamp}` when an entity's file is created or replaced.
- `mInsight/<port>/entity_item_status/<entity_id>`: retained `{entity_id, status, timestamp, ...}` as the
  entity's processing goes (extra keys flattened in: CL's `face_detection`, `face_count`, ...); cleared
  (empty retained payload) when the entity is deleted.

`<port>` is the store's public port: `store_port(settings.public_url)` (CL clients name a store by it).

Wiring (the lead's, for example):

    mqtt = ClMqtt.from_settings(settings, "compute")                  # one per service, at startup
    broker.listeners.append(lambda e: mqtt.job_event(e.job_id, e.status, e.progress, at_ms=e.at_ms))
    await mqtt.worker_seen("w1", ["media_thumbnail"], idle_count=1)   # retained
    await mqtt.worker_left("w1")                                      # cleared
    await mqtt.item_stored(entity_id, md5)                            # metadata's store
    await mqtt.entity_status(entity_id, "completed", thumbnail="completed")
    await mqtt.entity_status_cleared(entity_id)
    await mqtt.stop()                                                 # at shutdown

Every call returns at once (see `shoebox_lib.mqtt.MqttPublisher`); topic parts that MQTT or NATS cannot
carry (`+`, `#`, `/`, spaces) raise ValueError.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shoebox_lib.mqtt import MqttPublisher, check_topic

if TYPE_CHECKING:
    from shoebox_lib.settings import Settings

WORKERS_PREFIX = "inference/workers"
JOB_EVENTS = "inference/events"


def now_ms() -> int:
    return int(time.time() * 1000)


def _part(value: str | int) -> str:
    text = str(value)
    if not text or "/" in text:
        raise ValueError(f"not one topic level: {text!r}")
    check_topic(text)
    return text


def store_port(public_url: str) -> int:
    """The port CL clients name the store by: the public URL's, else its scheme's default."""
    parts = urlsplit(public_url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def worker_topic(worker_id: str) -> str:
    return f"{WORKERS_PREFIX}/{_part(worker_id)}"


def worker_payload(worker_id: str, capabilities: Iterable[str], idle_count: int, *,
                   at_ms: int | None = None) -> dict[str, Any]:
    return {"worker_id": worker_id, "capabilities": [str(c) for c in capabilities], "idle_count": idle_count,
            "timestamp": now_ms() if at_ms is None else at_ms}


def job_event_payload(job_id: str, event_type: str, progress: float | None = None, *,
                      at_ms: int | None = None) -> dict[str, Any]:
    return {"job_id": job_id, "event_type": str(event_type), "timestamp": now_ms() if at_ms is None else at_ms,
            "progress": progress}


def store_items_topic(port: int) -> str:
    return f"store/{port}/items"


def store_item_payload(entity_id: int, md5: str | None, *, at_ms: int | None = None) -> dict[str, Any]:
    return {"id": entity_id, "md5": md5, "timestamp": now_ms() if at_ms is None else at_ms}


def entity_status_topic(port: int, entity_id: int) -> str:
    return f"mInsight/{port}/entity_item_status/{_part(entity_id)}"


def entity_status_payload(entity_id: int, status: str, *, at_ms: int | None = None,
                          **details: Any) -> dict[str, Any]:
    return {**details, "entity_id": entity_id, "status": str(status),
            "timestamp": now_ms() if at_ms is None else at_ms}


class ClMqtt:
    """What Shoebox tells CL's clients, on one publisher (one per service process)."""

    def __init__(self, publisher: MqttPublisher, *, store_port: int) -> None:
        self.publisher = publisher
        self.store_port = store_port

    @classmethod
    def from_settings(cls, settings: Settings, name: str) -> ClMqtt:
        return cls(MqttPublisher(settings.mqtt_url, name=name), store_port=store_port(settings.public_url))

    async def worker_seen(self, worker_id: str, capabilities: Iterable[str], idle_count: int, *,
                          at_ms: int | None = None) -> None:
        await self.publisher.publish(worker_topic(worker_id),
                                     worker_payload(worker_id, capabilities, idle_count, at_ms=at_ms), retain=True)

    async def worker_left(self, worker_id: str) -> None:
        await self.publisher.clear(worker_topic(worker_id))

    async def job_event(self, job_id: str, event_type: str, progress: float | None = None, *,
                        at_ms: int | None = None) -> None:
        await self.publisher.publish(JOB_EVENTS, job_event_payload(job_id, event_type, progress, at_ms=at_ms))

    async def item_stored(self, entity_id: int, md5: str | None, *, at_ms: int | None = None) -> None:
        await self.publisher.publish(store_items_topic(self.store_port),
                                     store_item_payload(entity_id, md5, at_ms=at_ms))

    async def entity_status(self, entity_id: int, status: str, *, at_ms: int | None = None,
                            **details: Any) -> None:
        await self.publisher.publish(entity_status_topic(self.store_port, entity_id),
                                     entity_status_payload(entity_id, status, at_ms=at_ms, **details), retain=True)

    async def entity_status_cleared(self, entity_id: int) -> None:
        await self.publisher.clear(entity_status_topic(self.store_port, entity_id))

    async def stop(self) -> None:
        await self.publisher.stop()
