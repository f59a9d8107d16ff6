"""How a session ends, written with the event that tells metadata, in the caller's transaction (the
outbox): a completed upload's hold is consumed when metadata applies `upload.completed`; any other end
emits `upload.ended`, and metadata gives the hold back."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.bus import emit
from shoebox_lib.events import ItemStored, UploadCompleted, UploadEnded, UploadOutcome, VariantStored
from shoebox_uploads.models import BUS, SessionStatus, UploadKind, UploadSession
from shoebox_uploads.signer import repo

OUTCOMES = {
    SessionStatus.ABORTED: UploadOutcome.ABORTED,
    SessionStatus.FAILED: UploadOutcome.FAILED,
    SessionStatus.EXPIRED: UploadOutcome.EXPIRED,
    # An Ente object nobody committed in time: it expired, as far as its hold is concerned.
    SessionStatus.SWEPT: UploadOutcome.EXPIRED,
}
# Uploads whose client commits the object itself (Ente's POST /files): completing them tells nobody.
SELF_COMMITTED = (UploadKind.ENTE, UploadKind.ENTE_MULTIPART)


async def end(session: AsyncSession, record: UploadSession, status: SessionStatus, error: str | None = None) -> None:
    """The session is over without completing; `record` must be locked in `session`."""
    record.status = status
    if error is not None:
        record.error = error
    await emit(session, BUS, UploadEnded(upload_id=record.id, owner_id=record.owner_id, outcome=OUTCOMES[status]))


async def complete(session: AsyncSession, record: UploadSession, size: int, etag: str | None = None) -> None:
    """The object is stored as declared; `record` must be locked in `session`. For a library upload the
    item's original is handed to metadata (`upload.completed`)."""
    record.status = SessionStatus.COMPLETED
    record.completed_at = datetime.now(UTC)
    record.size_bytes = size
    if etag is not None:
        record.etag = etag
    if record.kind not in SELF_COMMITTED:
        await announce(session, record)


async def announce(session: AsyncSession, record: UploadSession) -> None:
    """Hand a completed library upload's object to metadata as the item's original (`upload.completed`)."""
    assert record.item_id is not None
    assert record.size_bytes is not None
    await emit(session, BUS, UploadCompleted(
        upload_id=record.id, item_id=record.item_id, owner_id=record.owner_id, object_key=record.object_key,
        size=record.size_bytes, content_type=record.content_type, sha256=record.sha256,
    ))


async def recorded(session: AsyncSession, event: ItemStored | VariantStored) -> None:
    """Metadata recorded an object of ours (as an item's original, or a thumbnail as a variant). An Ente
    object was committed by `POST /files`, so the sweeper must keep it; a library upload's `upload.completed`
    was applied, so the reconciler need not check it."""
    record = await repo.by_key(session, event.owner_id, event.object_key, tuple(UploadKind), lock=True)
    if record is None or record.committed_at is not None:
        return
    record.committed_at = datetime.now(UTC)
    if record.kind in SELF_COMMITTED:
        record.status, record.item_id = SessionStatus.COMMITTED, event.item_id
