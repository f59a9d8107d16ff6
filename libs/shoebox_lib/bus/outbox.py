"""The transactional outbox (a change and its events commit together) and the inbox (a consumer
applies an event once, however often it is delivered)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

import asyncpg
from nats.errors import Error as NatsError
from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, Text, delete, func, select, text
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.bus.connection import Bus
from shoebox_lib.db.database import Database
from shoebox_lib.events import Envelope, Payload
from shoebox_lib.waiting import wait_event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BusTables:
    outbox: Table
    inbox: Table

    @property
    def channel(self) -> str:
        return f"{self.outbox.schema}_outbox"


def bus_tables(metadata: MetaData) -> BusTables:
    """The outbox and inbox tables, declared in a service's own schema."""
    outbox = Table(
        "outbox", metadata,
        Column("id", UUID(as_uuid=True), primary_key=True),
        Column("subject", String(200), nullable=False),
        Column("envelope", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index("ix_outbox_created_at", "created_at"),
    )
    inbox = Table(
        "inbox", metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", UUID(as_uuid=True), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("note", Text),
    )
    return BusTables(outbox=outbox, inbox=inbox)


async def emit(session: AsyncSession, tables: BusTables, payload: Payload, *, event_id: uuid.UUID | None = None
               ) -> Envelope:
    """Write an event in the caller's transaction; the relay publishes it after commit. `event_id` sends an
    event again under its first id: consumers that applied it skip it (their inbox), the others apply it."""
    envelope = Envelope.wrap(payload)
    row_id = envelope.id
    if event_id is not None:
        # The row's id is the message's for JetStream, which drops a second one within its duplicate window:
        # sent again, the event is a message of its own, and the consumers' inboxes know it by its first id.
        envelope.id, row_id = event_id, uuid.uuid4()
    await session.execute(
        tables.outbox.insert().values(
            id=row_id, subject=payload.subject(), envelope=envelope.model_dump(mode="json"),
        )
    )
    # NOTIFY is delivered on commit only, so the relay wakes exactly when there is something to send.
    await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": tables.channel})
    return envelope


@asynccontextmanager
async def handle_once(db: Database, tables: BusTables, consumer: str, event_id: object
                      ) -> AsyncIterator[AsyncSession | None]:
    """A transaction in which to apply an event, or None when this consumer has applied it already."""
    async with db.transaction() as session:
        inserted = await session.execute(
            insert(tables.inbox).values(consumer=consumer, event_id=event_id)
            .on_conflict_do_nothing().returning(tables.inbox.c.event_id)
        )
        yield session if inserted.first() is not None else None


class OutboxRelay:
    """Publishes committed outbox rows to JetStream with the event id as `Nats-Msg-Id`, then deletes them.

    A crash between publish and delete republishes on restart; JetStream's duplicate window and the
    consumers' inboxes make that harmless.
    """

    BATCH = 200
    IDLE_POLL_SECONDS = 2.0

    def __init__(self, db: Database, bus: Bus, tables: BusTables, listen_url: str) -> None:
        self.db = db
        self.bus = bus
        self.tables = tables
        self.listen_url = listen_url
        self._wake = asyncio.Event()
        self._listening = True  # so the first failure to LISTEN is logged, and then once per outage

    async def relay_once(self) -> int:
        table = self.tables.outbox
        async with self.db.transaction() as session:
            rows = (await session.execute(
                select(table.c.id, table.c.subject, table.c.envelope)
                .order_by(table.c.created_at).limit(self.BATCH).with_for_update(skip_locked=True)
            )).all()
            for row in rows:
                body = Envelope.model_validate(row.envelope).model_dump_json().encode()
                await self.bus.publish(row.subject, body, msg_id=str(row.id))
            if rows:
                await session.execute(delete(table).where(table.c.id.in_([r.id for r in rows])))
        return len(rows)

    async def _listen(self) -> asyncpg.Connection | None:
        try:
            conn = await asyncpg.connect(self.listen_url.replace("+asyncpg", ""))
            await conn.add_listener(self.tables.channel, lambda *_: self._wake.set())
            # The connection dropping (a database restart) wakes the loop, which listens again.
            conn.add_termination_listener(lambda *_: self._wake.set())
        except (OSError, asyncpg.PostgresError) as exc:
            if self._listening:
                log.warning("outbox relay cannot LISTEN (%s); polling every %.0f s until it can", exc,
                            self.IDLE_POLL_SECONDS)
            self._listening = False
            return None
        if not self._listening:
            log.info("outbox relay listens again")
        self._listening = True
        return conn

    async def run(self) -> None:
        conn: asyncpg.Connection | None = None
        try:
            while True:
                if conn is None or conn.is_closed():
                    conn = await self._listen()  # what was committed meanwhile is relayed just below
                try:
                    while await self.relay_once() == self.BATCH:
                        pass
                except (NatsError, OSError, DBAPIError) as down:  # the bus or the database away: no stack
                    log.warning("outbox relay failed (%r); retrying", down)
                    await asyncio.sleep(1)
                except Exception:
                    log.exception("outbox relay failed; retrying")
                    await asyncio.sleep(1)
                await wait_event(self._wake, self.IDLE_POLL_SECONDS)
                self._wake.clear()
        finally:
            if conn is not None:
                with suppress(Exception):
                    await conn.close()
