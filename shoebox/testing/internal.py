"""Reaching a running system's internal routes and events as another Shoebox service would: calls signed
like `shoebox_lib.internal.InternalClient` signs them, with the system's secret, and events published on
its bus."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pydantic import BaseModel
from sqlalchemy import select

from shoebox.testing import RunningSystem
from shoebox_lib.events import Envelope, Payload
from shoebox_lib.internal import SIGNATURE_HEADER, InternalClient, signature
from shoebox_lib.runtime import Runtime

CALLER = "tests"


def _runtime(system: RunningSystem, service: str) -> Runtime:
    runtime = system.services[service].runtime
    assert runtime is not None, f"{service} has no runtime"
    return runtime


@asynccontextmanager
async def _http(system: RunningSystem, service: str) -> AsyncIterator[httpx.AsyncClient]:
    # Straight to the service's app, as a service in the all-in-one reaches another: never through the port.
    transport = httpx.ASGITransport(app=system.services[service].app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{service}") as http:
        yield http


@asynccontextmanager
async def internal_client(system: RunningSystem, service: str, caller: str = CALLER
                          ) -> AsyncIterator[InternalClient]:
    """A typed client of the service's internal routes (answers parsed, errors raised again)."""
    async with _http(system, service) as http:
        yield InternalClient(caller, service, http, system.settings.secret_key)


async def call_internal(system: RunningSystem, service: str, method: str, path: str,
                        body: BaseModel | None = None, params: dict[str, str | int] | None = None,
                        caller: str = CALLER) -> httpx.Response:
    """One signed call to an internal route, answered as it is (status and JSON), for tests of the route."""
    content = body.model_dump_json().encode() if body is not None else b""
    async with _http(system, service) as http:
        request = http.build_request(method, path, content=content or None, params=params,
                                     headers={"content-type": "application/json"} if content else None)
        at = int(time.time())
        query = request.url.query.decode("latin-1")
        target = f"{request.url.raw_path.decode('ascii').split('?', 1)[0]}{'?' + query if query else ''}"
        signed = signature(system.settings.secret_key, caller, at, method, target, content)
        request.headers[SIGNATURE_HEADER] = f"{caller}:{at}:{signed}"
        return await http.send(request)


async def deliver(system: RunningSystem, service: str, payload: Payload, within: float = 30) -> None:
    """Publish an event on the system's bus, as its producer's outbox relay would, and wait until `service`
    has applied it (its inbox holds the event's id)."""
    runtime = _runtime(system, service)
    envelope = Envelope.wrap(payload)
    await runtime.bus.publish(payload.subject(), envelope.model_dump_json().encode(), msg_id=str(envelope.id))
    inbox = runtime.tables.inbox
    async with asyncio.timeout(within):
        while True:
            async with runtime.db.transaction() as session:
                applied = (await session.execute(
                    select(inbox.c.event_id).where(inbox.c.event_id == envelope.id))).first()
            if applied is not None:
                return
            await asyncio.sleep(0.05)
