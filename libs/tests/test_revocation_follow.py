"""Every process follows `sessions.revoked` through a NATS restart: its ordered consumer, lost with the
server, is made again and the revocations sent after the restart are applied too."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from shoebox_lib.auth.revocation import RevocationList
from shoebox_lib.bus import Bus
from shoebox_lib.embedded import EmbeddedNats
from shoebox_lib.events import Envelope, SessionsRevoked
from shoebox_lib.settings import Settings


async def revoke(bus: Bus, session_id: str) -> None:
    event = SessionsRevoked(user_id=7, session_ids=[session_id], revoked_at=datetime.now(UTC))
    await bus.publish(event.subject(), Envelope.wrap(event).model_dump_json().encode())


async def applied(revocations: RevocationList, session_id: str) -> None:
    async with asyncio.timeout(60):
        while not revocations.is_revoked(7, session_id, time.time()):
            await asyncio.sleep(0.05)


async def test_revocations_are_followed_through_a_restart_of_nats(
        tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    first = EmbeddedNats(tmp_path / "nats")
    await asyncio.to_thread(first.start)
    again: EmbeddedNats | None = None
    bus = Bus(make_settings(nats_url=first.url))
    revocations = RevocationList(token_ttl_seconds=3600)
    following: asyncio.Task[None] | None = None
    try:
        await bus.connect()
        following = asyncio.create_task(revocations.follow(bus))
        await revoke(bus, "before")
        await applied(revocations, "before")

        await asyncio.to_thread(first.stop)
        again = EmbeddedNats(tmp_path / "nats", port=first.port, mqtt_port=first.mqtt_port)
        await asyncio.to_thread(again.start)
        async with asyncio.timeout(30):
            while not bus.core.is_connected:
                await asyncio.sleep(0.05)
        await revoke(bus, "after")
        await applied(revocations, "after")
    finally:
        if following is not None:
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
        await bus.close()
        for server in (first, again):
            if server is not None:
                await asyncio.to_thread(server.stop)
