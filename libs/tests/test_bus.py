"""The outbox, relay and consumer against a real PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import nats.errors
import nats.js
import pytest
from sqlalchemy import MetaData, text

from shoebox_lib.bus import Bus, Consumer, OutboxRelay, bus_tables, emit, handle_once
from shoebox_lib.bus import consumer as consumer_module
from shoebox_lib.bus.dead_letters import DeadLetters
from shoebox_lib.bus.topology import ConsumerSpec
from shoebox_lib.db import Database
from shoebox_lib.errors import InvalidInput, UpstreamUnavailable
from shoebox_lib.events import Envelope, ReplicaStored
from shoebox_lib.settings import Settings

SPEC = ConsumerSpec("test-replica-stored", "EVENTS", ReplicaStored, "events.replica.stored")


@pytest.fixture
async def world(make_settings: Callable[..., Settings]) -> AsyncIterator[dict[str, Any]]:
    settings = make_settings()
    schema = "bustest"
    metadata = MetaData(schema=schema)
    tables = bus_tables(metadata)
    db = Database(settings.database_url)
    async with db.engine.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA {schema}"))
        await conn.run_sync(metadata.create_all)
    bus = Bus(settings)
    await bus.connect()
    relay = OutboxRelay(db, bus, tables, settings.database_url)
    relay_task = asyncio.create_task(relay.run())
    yield {"settings": settings, "db": db, "bus": bus, "tables": tables, "relay": relay}
    relay_task.cancel()
    await asyncio.gather(relay_task, return_exceptions=True)
    await bus.close()
    await db.close()


def replica(n: int) -> ReplicaStored:
    return ReplicaStored(object_key=f"k/{n}", tier="secondary", size=n)


async def wait_until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_events_committed_are_delivered_once_and_rolled_back_never(world: dict[str, Any]) -> None:
    db, tables, bus = world["db"], world["tables"], world["bus"]
    seen: list[int] = []
    applied: list[int] = []

    async def handler(envelope: Envelope, payload: ReplicaStored) -> None:
        seen.append(payload.size)
        async with handle_once(db, tables, SPEC.durable, envelope.id) as session:
            if session is not None:
                applied.append(payload.size)

    consumer_task = asyncio.create_task(Consumer(bus, SPEC, handler).run())
    async with db.transaction() as session:
        await emit(session, tables, replica(1))

    async def failing_change() -> None:
        async with db.transaction() as session:
            await emit(session, tables, replica(2))
            raise RuntimeError("the change fails, so its event must not leave")

    with pytest.raises(RuntimeError):
        await failing_change()
    async with db.transaction() as session:
        envelope = await emit(session, tables, replica(3))
    await wait_until(lambda: sorted(applied) == [1, 3])

    # A redelivery of the same event (same id) is recognised and not applied twice.
    await bus.publish("events.replica.stored", envelope.model_dump_json().encode(), msg_id=str(uuid.uuid4()))
    await wait_until(lambda: len(seen) == 3)
    consumer_task.cancel()
    await asyncio.gather(consumer_task, return_exceptions=True)
    assert sorted(applied) == [1, 3]
    async with db.transaction() as session:
        left = (await session.execute(tables.outbox.select())).all()
    assert left == []


async def test_an_event_breaking_a_rule_backs_off_then_dead_letters(world: dict[str, Any]) -> None:
    db, tables, bus = world["db"], world["tables"], world["bus"]
    attempts: list[float] = []

    async def always_fails(envelope: Envelope, payload: ReplicaStored) -> None:
        attempts.append(asyncio.get_running_loop().time())
        raise InvalidInput("poison")

    consumer_task = asyncio.create_task(Consumer(bus, SPEC, always_fails, max_deliver=3).run())
    dead = await bus.js.subscribe(bus.subject(SPEC.dead_subject))
    async with db.transaction() as session:
        await emit(session, tables, replica(7))
    message = await dead.next_msg(timeout=20)
    consumer_task.cancel()
    await asyncio.gather(consumer_task, return_exceptions=True)
    assert len(attempts) == 3
    # Backoff: the third try came at least 1 s after the second (0.5 s, then 1 s).
    assert attempts[2] - attempts[1] >= 0.9
    assert message.headers is not None
    assert "poison" in message.headers["Shoebox-Error"]
    assert Envelope.model_validate_json(message.data).data["size"] == 7


async def test_a_dependency_down_past_the_bounded_tries_is_tried_until_it_is_back(world: dict[str, Any],
                                                                                  monkeypatch: pytest.MonkeyPatch
                                                                                  ) -> None:
    """A database, a disk or another service down longer than the bounded tries is no reason to drop the
    event: it is applied once the dependency is back, and nothing is dead-lettered."""
    db, tables, bus = world["db"], world["tables"], world["bus"]
    monkeypatch.setattr(consumer_module, "backoff_seconds", lambda delivery: 0.05)
    failures = [ConnectionRefusedError("the database refuses connections"), OSError(28, "No space left on device"),
                UpstreamUnavailable("The metadata service cannot be reached"), TimeoutError()] * 2
    applied: list[int] = []

    async def down_for_a_while(envelope: Envelope, payload: ReplicaStored) -> None:
        if failures:
            raise failures.pop(0)
        applied.append(payload.size)

    consumer_task = asyncio.create_task(Consumer(bus, SPEC, down_for_a_while, max_deliver=3).run())
    dead = await bus.js.subscribe(bus.subject(SPEC.dead_subject))
    async with db.transaction() as session:
        await emit(session, tables, replica(9))
    await wait_until(lambda: applied == [9])
    consumer_task.cancel()
    await asyncio.gather(consumer_task, return_exceptions=True)
    assert failures == []  # eight failed tries, past the bound of three
    with pytest.raises(nats.errors.TimeoutError):
        await dead.next_msg(timeout=1)


async def test_malformed_message_goes_straight_to_dead_letter(world: dict[str, Any]) -> None:
    bus = world["bus"]
    calls: list[object] = []

    async def handler(envelope: Envelope, payload: ReplicaStored) -> None:
        calls.append(payload)

    consumer_task = asyncio.create_task(Consumer(bus, SPEC, handler).run())
    dead = await bus.js.subscribe(bus.subject(SPEC.dead_subject))
    await bus.publish("events.replica.stored", b"{not json", msg_id="bad-1")
    message = await dead.next_msg(timeout=10)
    consumer_task.cancel()
    await asyncio.gather(consumer_task, return_exceptions=True)
    assert message.data == b"{not json"
    assert calls == []


async def test_the_relay_listens_again_after_its_connection_drops(world: dict[str, Any]) -> None:
    """A database restart cuts the relay's LISTEN connection: it listens again, rather than falling back for
    good to polling. Its poll is made an hour here, so only a notification can move the event below."""
    db, tables, relay = world["db"], world["tables"], world["relay"]
    relay.IDLE_POLL_SECONDS = 3600

    async def relayed() -> None:
        async with db.transaction() as session:
            await emit(session, tables, replica(7))
        async with asyncio.timeout(10):
            while True:
                async with db.transaction() as session:
                    if not (await session.execute(tables.outbox.select())).all():
                        return
                await asyncio.sleep(0.05)

    async def listeners() -> list[int]:
        async with db.transaction() as session:
            return list((await session.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE query = :q"), {"q": f'LISTEN "{tables.channel}"'})).scalars())

    await relayed()  # the relay is in its loop, and waits on notifications from now on
    [before] = await listeners()
    async with db.transaction() as session:
        await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": before})
    async with asyncio.timeout(10):
        while (found := await listeners()) in ([], [before]):
            await asyncio.sleep(0.05)
    assert before not in found
    await relayed()


async def test_a_dead_letter_is_listed_and_once_sent_again_applied(world: dict[str, Any]) -> None:
    db, tables, bus = world["db"], world["tables"], world["bus"]
    broken = True
    applied: list[int] = []

    async def handler(envelope: Envelope, payload: ReplicaStored) -> None:
        async with handle_once(db, tables, SPEC.durable, envelope.id) as session:
            if session is not None:
                if broken:
                    raise InvalidInput("no such tier yet")
                applied.append(payload.size)

    consumer_task = asyncio.create_task(Consumer(bus, SPEC, handler, max_deliver=2).run())
    letters = DeadLetters(bus)
    async with db.transaction() as session:
        envelope = await emit(session, tables, replica(11))
    async with asyncio.timeout(20):
        while not (found := await letters.list()):
            await asyncio.sleep(0.1)
    [letter] = found
    assert (letter.consumer, letter.subject, letter.event_id, letter.event_type) == (
        SPEC.durable, bus.subject("events.replica.stored"), str(envelope.id), envelope.type)
    assert "no such tier yet" in letter.error

    broken = False  # what broke is fixed: the operator sends it again
    assert await letters.retry(letter.seq) is not None
    await wait_until(lambda: applied == [11])
    assert await letters.list() == []
    assert await letters.retry(letter.seq) is None  # gone: nothing is sent twice
    consumer_task.cancel()
    await asyncio.gather(consumer_task, return_exceptions=True)
    assert applied == [11]


async def test_a_handler_slower_than_ack_wait_keeps_its_event_from_the_other_consumer(world: dict[str, Any]) -> None:
    """Two processes share a durable consumer. One works on an event for longer than `ack_wait`: it reports
    progress meanwhile, so the other is not handed the event too. The short `ack_wait` also reaches a durable
    consumer an older release made with a longer one."""
    db, tables, settings = world["db"], world["tables"], world["settings"]
    spec = ConsumerSpec("test-slow-replica", "EVENTS", ReplicaStored, "events.replica.stored")
    await world["bus"].ensure_consumer(spec)  # as before: ack_wait of the default
    quick = Bus(settings.model_copy(update={"bus_ack_wait_seconds": 1.0}))
    await quick.connect()
    calls: list[int] = []
    done = asyncio.Event()

    async def slow(envelope: Envelope, payload: ReplicaStored) -> None:
        calls.append(payload.size)
        await asyncio.sleep(3.5)  # three and a half times ack_wait
        done.set()

    consumers = [asyncio.create_task(Consumer(quick, spec, slow).run()) for _ in range(2)]
    try:
        async with db.transaction() as session:
            await emit(session, tables, replica(5))
        async with asyncio.timeout(20):
            await done.wait()
        info = await quick.js.consumer_info(f"{quick.prefix.upper()}_EVENTS", spec.durable)
        assert info.config.ack_wait == 1.0
        await asyncio.sleep(2)  # a redelivery to the idle consumer would have come by now
        assert calls == [5]
    finally:
        for task in consumers:
            task.cancel()
        await asyncio.gather(*consumers, return_exceptions=True)
        await quick.close()


async def test_a_cancel_lost_inside_the_client_library_still_stops_the_consumer(world: dict[str, Any],
                                                                                 monkeypatch: pytest.MonkeyPatch
                                                                                 ) -> None:
    """On Python 3.11, `asyncio.wait_for` inside nats-py's fetch can swallow a cancel that lands as its wait ends
    (a CI run hung here, in the test above, until pytest's timeout). The fetch below loses every cancel that
    way, answering a timeout instead; the consumer stops all the same."""
    pull = nats.js.JetStreamContext.PullSubscription
    real_fetch = pull.fetch

    async def fetch_losing_cancels(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await real_fetch(self, *args, **kwargs)
        except asyncio.CancelledError:
            raise nats.errors.TimeoutError from None

    async def never_called(envelope: Envelope, payload: ReplicaStored) -> None:
        raise AssertionError("nothing was published")

    monkeypatch.setattr(pull, "fetch", fetch_losing_cancels)
    spec = ConsumerSpec("test-cancel-lost", "EVENTS", ReplicaStored, "events.replica.never")
    consumer = asyncio.create_task(Consumer(world["bus"], spec, never_called).run())
    await asyncio.sleep(1)  # well into its first fetch
    consumer.cancel()
    finished, _ = await asyncio.wait([consumer], timeout=15)
    assert finished, "the consumer fetched on after it was cancelled"
    assert consumer.cancelled()
