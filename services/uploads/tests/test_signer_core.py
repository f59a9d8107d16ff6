"""The signer's core against a real database and real storage (both drivers), without booting any service:
completion without a lock across remote calls, idempotent and emitting once, and sessions that end with
the event that gives their hold back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update

from shoebox_lib import keys
from shoebox_lib.db import Database
from shoebox_lib.errors import Conflict, InvalidInput, NotFound
from shoebox_lib.events import ItemStored, UploadCompleted, UploadEnded, UploadOutcome
from shoebox_lib.internal import InternalClient
from shoebox_lib.settings import Settings
from shoebox_lib.storage import Storage, StorageDriver
from shoebox_lib.storage.dataplane import dataplane_app
from shoebox_uploads.app import MIGRATIONS
from shoebox_uploads.container import Container
from shoebox_uploads.models import BUS, SessionStatus, UploadKind, UploadSession
from shoebox_uploads.settings import UploadsSettings
from shoebox_uploads.signer.completion import STALE_CLAIM
from shoebox_uploads.signer.ente import Uploader
from shoebox_uploads.signer.library import Library
from shoebox_uploads.signer.limits import TooManyOpenUploads
from shoebox_uploads.signer.outcomes import recorded
from shoebox_uploads.signer.rules import choose_part_size, new_session_id

OWNER = 7
ITEM = 42


@dataclass
class Core:
    container: Container
    db: Database
    driver: StorageDriver
    http: httpx.AsyncClient  # reaches presigned URLs (the filesystem data plane in-process, or S3)

    async def put(self, url: str, data: bytes) -> httpx.Response:
        return await self.http.put(url, content=data)

    async def events(self, payload: type[UploadCompleted] | type[UploadEnded]) -> list[Any]:
        async with self.db.transaction() as session:
            found = (await session.execute(select(BUS.outbox.c.envelope).where(
                BUS.outbox.c.subject == f"events.{payload.event_type}"))).scalars().all()
        return [payload.model_validate(envelope["data"]) for envelope in found]

    async def session(self, session_id: str) -> UploadSession:
        async with self.db.transaction() as session:
            found = await session.get(UploadSession, session_id)
        assert found is not None
        return found


@pytest.fixture(params=["filesystem", "s3"])
async def core(request: pytest.FixtureRequest, make_settings: Callable[..., Settings]) -> AsyncIterator[Core]:
    s3 = request.param == "s3"
    settings = make_settings(**(request.getfixturevalue("s3_settings") if s3 else {}))
    await MIGRATIONS.upgrade_async(settings.database_url)
    db = Database(settings.database_url)
    storage = Storage.from_settings(settings)
    await storage.start()
    # Nothing here may ask metadata: a call would fail (nothing listens there).
    unreachable = httpx.AsyncClient(base_url="http://127.0.0.1:9")
    library = Library(InternalClient("uploads", "metadata", unreachable, settings.secret_key))
    container = Container.build(db, storage.primary, library, UploadsSettings(commit_grace_seconds=0),
                                presign_seconds=300, public_url=settings.public_url)
    transport = None if s3 else httpx.ASGITransport(app=dataplane_app(settings))
    async with httpx.AsyncClient(transport=transport, timeout=60) as http:
        yield Core(container, db, storage.primary, http)
    await unreachable.aclose()
    await storage.close()
    await db.close()


async def v1_session(core: Core, size: int, *, kind: UploadKind = UploadKind.V1) -> UploadSession:
    """A session for an item metadata knows (as `Uploads.start` opens it, less the questions to metadata)."""
    session_id = new_session_id()
    return await core.container.uploads.open(UploadSession(
        id=session_id, kind=kind, owner_id=OWNER, item_id=ITEM, object_key=keys.item_original(OWNER, ITEM, session_id),
        total_bytes=size, part_size=choose_part_size(size), part_count=1, status=SessionStatus.OPEN,
        expires_at=core.container.uploads.lifetime()))


async def upload_part(core: Core, record: UploadSession, data: bytes) -> str:
    signed = await core.container.uploads.sign_part(OWNER, record.id, 1, (record.kind,))
    sent = await core.put(signed.url, data)
    assert sent.status_code == 200, sent.text
    etag: str = sent.headers["etag"]
    return etag


async def test_concurrent_completes_answer_alike_and_emit_once(core: Core) -> None:
    record = await v1_session(core, 11)
    etag = await upload_part(core, record, b"hello world")
    done = await asyncio.gather(*(core.container.uploads.complete(OWNER, record.id, [(1, etag)]) for _ in range(4)))
    assert {(d.status, d.size_bytes, d.etag) for d in done} == {(SessionStatus.COMPLETED, 11, done[0].etag)}
    again = await core.container.uploads.complete(OWNER, record.id, [(1, "whatever, once completed")])
    assert (again.status, again.size_bytes) == (SessionStatus.COMPLETED, 11)
    completed = await core.events(UploadCompleted)
    assert [(e.upload_id, e.item_id, e.size) for e in completed] == [(record.id, ITEM, 11)]
    assert await core.driver.get_bytes(record.object_key) == b"hello world"


async def test_no_lock_is_held_while_storage_assembles(core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    record = await v1_session(core, 3)
    etag = await upload_part(core, record, b"abc")
    assemble = core.driver.complete_multipart
    seen: list[str] = []

    async def while_assembling(key: str, upload_id: str, parts: list[tuple[int, str]]) -> Any:
        # Another transaction can take the session's row at once: nobody holds it across this call.
        async with core.db.transaction() as session:
            await session.execute(text("SET LOCAL lock_timeout = '1s'"))
            status = (await session.execute(select(UploadSession.status).where(UploadSession.id == record.id)
                                            .with_for_update(nowait=True))).scalar_one()
            seen.append(status)
        return await assemble(key, upload_id, parts)

    monkeypatch.setattr(core.driver, "complete_multipart", while_assembling)
    done = await core.container.uploads.complete(OWNER, record.id, [(1, etag)])
    assert done.status == SessionStatus.COMPLETED
    assert seen == [SessionStatus.COMPLETING]


async def test_parts_storage_refuses_leave_the_session_open(core: Core) -> None:
    record = await v1_session(core, 3)
    etag = await upload_part(core, record, b"abc")
    with pytest.raises(InvalidInput):
        await core.container.uploads.complete(OWNER, record.id, [(1, '"00000000000000000000000000000000"')])
    assert (await core.session(record.id)).status == SessionStatus.OPEN
    done = await core.container.uploads.complete(OWNER, record.id, [(1, etag)])
    assert done.status == SessionStatus.COMPLETED


async def test_a_size_other_than_declared_fails_gives_the_hold_back_and_removes_the_object(core: Core) -> None:
    record = await v1_session(core, 100)
    etag = await upload_part(core, record, b"ten bytes!")
    with pytest.raises(InvalidInput, match="declared"):
        await core.container.uploads.complete(OWNER, record.id, [(1, etag)])
    assert (await core.session(record.id)).status == SessionStatus.FAILED
    assert await core.driver.head(record.object_key) is None
    assert [(e.upload_id, e.outcome) for e in await core.events(UploadEnded)] == [(record.id, UploadOutcome.FAILED)]
    with pytest.raises(Conflict):
        await core.container.uploads.complete(OWNER, record.id, [(1, etag)])
    assert await core.events(UploadCompleted) == []


async def test_a_stale_claim_is_taken_over_by_a_retry(core: Core) -> None:
    record = await v1_session(core, 5)
    etag = await upload_part(core, record, b"12345")
    completion = core.container.uploads.completion
    claimed = await completion.claim(OWNER, record.id, [(1, etag)], (UploadKind.V1,))
    assert claimed is not None
    assert not isinstance(claimed, UploadSession)
    # Its completer died here (or lost the database, so never gave the claim back). While the claim is fresh a
    # retry waits; once stale, a couple of minutes on, the retry takes over.
    async with core.db.transaction() as session:
        await session.execute(update(UploadSession).where(UploadSession.id == record.id)
                              .values(claimed_at=datetime.now(UTC) - STALE_CLAIM - timedelta(seconds=1)))
    done = await core.container.uploads.complete(OWNER, record.id, [(1, etag)])
    assert done.status == SessionStatus.COMPLETED
    assert await completion.finish(claimed) is None  # the dead completer's claim, were it to wake, is void
    assert len(await core.events(UploadCompleted)) == 1


async def test_abort_ends_the_session_and_its_multipart_upload(core: Core) -> None:
    record = await v1_session(core, 20, kind=UploadKind.UPPY)
    signed = await core.container.uploads.sign_part(OWNER, record.id, 1, (UploadKind.UPPY,))
    aborted = await core.container.uploads.abort(OWNER, record.id, (UploadKind.UPPY,))
    assert aborted.status == SessionStatus.ABORTED
    assert [(e.upload_id, e.outcome) for e in await core.events(UploadEnded)] == [(record.id, UploadOutcome.ABORTED)]
    assert record.multipart_upload_id is not None
    with pytest.raises(NotFound):
        await core.driver.list_parts(record.object_key, record.multipart_upload_id)
    # A URL signed before the abort writes nowhere now.
    assert (await core.put(signed.url, b"too late")).status_code >= 400
    again = await core.container.uploads.abort(OWNER, record.id, (UploadKind.UPPY,))
    assert again.status == SessionStatus.ABORTED
    assert len(await core.events(UploadEnded)) == 1


async def test_the_sweeper_ends_sessions_with_their_event(core: Core) -> None:
    uploads, sweeper = core.container.uploads, core.container.sweeper
    left = await v1_session(core, 10)
    handed = (await core.container.ente.guest_upload_urls(Uploader(OWNER, collection_id=3), 2))
    for url in handed:
        assert (await core.put(url.url, b"ente")).status_code == 200
    async with core.db.transaction() as session:
        await recorded(session, ItemStored(item_id=9, owner_id=OWNER, object_key=handed[1].object_key, size=4))
        await session.execute(update(UploadSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))

    cleaned = await sweeper.sweep()

    assert cleaned == {"sessions_expired": 2, "objects_deleted": 1, "multipart_aborted": 1, "completions_resent": 0,
                       "completions_confirmed": 0}
    assert (await core.session(left.id)).status == SessionStatus.EXPIRED
    assert await core.driver.head(handed[0].object_key) is None
    assert await core.driver.get_bytes(handed[1].object_key) == b"ente"
    swept = (await uploads.by_key(OWNER, handed[0].object_key, (UploadKind.ENTE,)))
    assert swept.status == SessionStatus.SWEPT
    ended = {(e.upload_id, e.outcome) for e in await core.events(UploadEnded)}
    assert ended == {(left.id, UploadOutcome.EXPIRED), (swept.id, UploadOutcome.EXPIRED)}
    assert not any((await sweeper.sweep()).values())


# --- an ended upload's URLs stop working, and no URL outlives its session ---------------------------


async def test_urls_of_a_failed_completion_write_nowhere(core: Core) -> None:
    record = await v1_session(core, 100)
    signed = await core.container.uploads.sign_part(OWNER, record.id, 1)
    sent = await core.put(signed.url, b"ten bytes!")
    assert sent.status_code == 200
    with pytest.raises(InvalidInput, match="declared"):
        await core.container.uploads.complete(OWNER, record.id, [(1, sent.headers["etag"])])
    assert (await core.put(signed.url, b"x" * 100)).status_code >= 400
    assert await core.driver.head(record.object_key) is None


async def test_urls_of_sessions_the_sweeper_ended_write_nowhere(core: Core) -> None:
    left = await v1_session(core, 10)
    signed = await core.container.uploads.sign_part(OWNER, left.id, 1)
    guest = await core.container.ente.guest_multipart_urls(Uploader(OWNER, collection_id=3), 2)
    async with core.db.transaction() as session:
        await session.execute(update(UploadSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    await core.container.sweeper.sweep()
    assert (await core.session(left.id)).status == SessionStatus.EXPIRED
    assert (await core.session(guest.upload_id)).status == SessionStatus.SWEPT
    for url in (signed.url, *guest.part_urls):
        assert (await core.put(url, b"too late")).status_code >= 400, url


async def test_part_urls_never_outlive_their_session(core: Core) -> None:
    record = await v1_session(core, 10)
    async with core.db.transaction() as session:
        await session.execute(update(UploadSession).where(UploadSession.id == record.id)
                              .values(expires_at=datetime.now(UTC) + timedelta(seconds=5)))
    signed = await core.container.uploads.sign_part(OWNER, record.id, 1)
    assert 1 <= signed.seconds <= 5
    assert signed.expires_at <= datetime.now(UTC) + timedelta(seconds=5)


async def test_single_put_urls_are_short_lived(core: Core) -> None:
    uploads = core.container.uploads
    assert uploads.single_put_seconds == 300  # never longer than the shared presign expiry (300 here)
    uploads.settings = UploadsSettings(single_put_seconds=60)
    assert uploads.single_put_seconds == 60
    handed = await core.container.ente.guest_upload_urls(Uploader(OWNER, collection_id=3), 1)
    record = await uploads.by_key(OWNER, handed[0].object_key, (UploadKind.ENTE,))
    assert record.expires_at <= datetime.now(UTC) + timedelta(seconds=60)
    # A multipart upload's URLs can be revoked (aborted), so they keep the shared lifetime.
    parts = await core.container.ente.guest_multipart_urls(Uploader(OWNER, collection_id=3), 1)
    assert (await core.session(parts.upload_id)).expires_at > datetime.now(UTC) + timedelta(seconds=200)


# --- limits on what one request and one owner may open ----------------------------------------------


async def test_open_uploads_per_owner_are_bounded(core: Core) -> None:
    uploads, ente = core.container.uploads, core.container.ente
    uploads.settings = UploadsSettings(max_open_sessions=3)
    guest = Uploader(OWNER, collection_id=3)
    await ente.guest_upload_urls(guest, 2)
    with pytest.raises(TooManyOpenUploads) as refused:
        await ente.guest_upload_urls(guest, 2)
    assert (refused.value.status_code, refused.value.code) == (429, "TOO_MANY_OPEN_UPLOADS")
    last = await v1_session(core, 10)
    with pytest.raises(TooManyOpenUploads):
        await ente.guest_multipart_urls(guest, 1)
    # Someone else's uploads are theirs: the limit is per owner.
    await ente.guest_upload_urls(Uploader(OWNER + 1, collection_id=4), 3)
    # An upload that ends makes room; one past its expiry no longer counts.
    await uploads.abort(OWNER, last.id)
    await ente.guest_multipart_urls(guest, 1)
    async with core.db.transaction() as session:
        await session.execute(update(UploadSession).where(UploadSession.owner_id == OWNER)
                              .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    await ente.guest_upload_urls(guest, 3)


async def test_openings_past_the_limit_write_nothing(core: Core) -> None:
    uploads = core.container.uploads
    uploads.settings = UploadsSettings(max_open_sessions=2)
    opened = await v1_session(core, 10)
    # What two requests that both passed an early check would record: the second finds the limit reached.
    late = [UploadSession(id=new_session_id(), kind=UploadKind.ENTE, owner_id=OWNER, object_key=f"u/{OWNER}/e/{n}",
                          status=SessionStatus.OPEN, expires_at=uploads.single_put_expiry()) for n in range(2)]
    with pytest.raises(TooManyOpenUploads):
        await uploads.record(late)
    async with core.db.transaction() as session:
        ids = set((await session.execute(select(UploadSession.id))).scalars().all())
    assert ids == {opened.id}
    assert await core.events(UploadEnded) == []


async def test_one_answer_signs_a_bounded_number_of_urls(core: Core) -> None:
    ente, uppy = core.container.ente, core.container.uppy
    for objects, parts in ((50, 10_000), (2, 5001), (51, 1), (1, 10_001), (0, 1)):
        with pytest.raises(InvalidInput):
            await ente.seed_multipart_urls(OWNER, objects, parts)
    async with core.db.transaction() as session:
        assert (await session.execute(select(UploadSession))).scalars().all() == []
    record = await v1_session(core, 10, kind=UploadKind.UPPY)
    with pytest.raises(InvalidInput, match="at most 10000"):
        await uppy.sign_parts(OWNER, record.id, record.object_key, list(range(1, 10_002)))
    signed = await uppy.sign_parts(OWNER, record.id, record.object_key, [1, 1, 1])
    assert [s.part_number for s in signed] == [1]
