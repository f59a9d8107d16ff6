"""The dead letters: events a consumer gave up on, kept in the DEAD stream for a person to look at and, once
what broke is fixed, to send again (`shoebox dead list|retry`).

An event sent again goes to its original subject, so every consumer of that subject sees it once more; those
that applied it already skip it (their inbox has its id), so only the one that gave up applies it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from nats.js.errors import NotFoundError

from shoebox_lib.bus.connection import Bus

ORIGINAL_SUBJECT = "Shoebox-Original-Subject"
ERROR = "Shoebox-Error"


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    consumer: str  # the durable consumer that gave up
    subject: str  # where the event was published, prefix included
    error: str
    event_id: str | None
    event_type: str | None
    dead_at: datetime | None
    data: bytes


class DeadLetters:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.stream = bus.stream_name("DEAD")

    async def list(self) -> list[DeadLetter]:
        info = await self.bus.js.stream_info(self.stream)
        if not info.state.messages:
            return []
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            letter = await self.get(seq)
            if letter is not None:
                found.append(letter)
        return found

    async def get(self, seq: int) -> DeadLetter | None:
        try:
            raw = await self.bus.js.get_msg(self.stream, seq)
        except NotFoundError:
            return None  # sent again, or past the stream's age
        headers = raw.headers or {}
        event_id = event_type = None
        try:
            envelope = json.loads(raw.data or b"")
            if isinstance(envelope, dict):
                event_id, event_type = envelope.get("id"), envelope.get("type")
        except ValueError:
            pass  # unreadable: that may be why it is here
        dead_prefix = f"{self.bus.prefix}.dead."
        subject = raw.subject or ""
        return DeadLetter(
            seq=seq, consumer=subject.removeprefix(dead_prefix), subject=headers.get(ORIGINAL_SUBJECT, ""),
            error=headers.get(ERROR, ""), event_id=str(event_id) if event_id else None,
            event_type=str(event_type) if event_type else None, dead_at=raw.time, data=raw.data or b"")

    async def retry(self, seq: int) -> DeadLetter | None:
        """Send the event again to its subject and drop it from the dead letters: the letter sent, or None."""
        letter = await self.get(seq)
        if letter is None or not letter.subject.startswith(f"{self.bus.prefix}."):
            return None
        # A new message id: the original one may still be in the stream's duplicate window.
        await self.bus.js.publish(letter.subject, letter.data, headers={"Nats-Msg-Id": f"redrive-{seq}"})
        await self.bus.js.delete_msg(self.stream, seq)
        return letter
