"""The queries of the upload signer, each inside a transaction its caller opened."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.errors import NotFound
from shoebox_uploads.models import LIVE, WRITABLE, SessionStatus, UploadKind, UploadSession


async def get(session: AsyncSession, session_id: str, *, lock: bool = False) -> UploadSession | None:
    return await session.get(UploadSession, session_id, with_for_update=lock)


async def owned(session: AsyncSession, owner_id: int, session_id: str, kinds: Collection[UploadKind], *,
                lock: bool = False) -> UploadSession:
    record = await get(session, session_id, lock=lock)
    # Someone else's session and a missing one answer alike, so ids reveal nothing.
    if record is None or record.owner_id != owner_id or record.kind not in kinds:
        raise NotFound("Upload session not found")
    return record


async def by_key(session: AsyncSession, owner_id: int, key: str, kinds: Collection[UploadKind], *,
                 lock: bool = False) -> UploadSession | None:
    query = select(UploadSession).where(UploadSession.object_key == key, UploadSession.owner_id == owner_id,
                                        UploadSession.kind.in_(kinds))
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


async def due(session: AsyncSession, kinds: Collection[UploadKind], statuses: Collection[SessionStatus],
              before: datetime, claimed_before: datetime, limit: int) -> Sequence[UploadSession]:
    """Sessions of these kinds and statuses that expired before `before`; a `completing` one only when
    its claim is older than `claimed_before` (its completer is gone)."""
    return (await session.execute(
        select(UploadSession).where(
            UploadSession.kind.in_(kinds), UploadSession.status.in_(statuses), UploadSession.expires_at < before,
            or_(UploadSession.status != SessionStatus.COMPLETING, UploadSession.claimed_at < claimed_before))
        .order_by(UploadSession.expires_at).limit(limit)
    )).scalars().all()


async def live_multipart_ids(session: AsyncSession, keys: Collection[str]) -> set[str]:
    """The multipart upload ids that sessions still using them hold, among those objects."""
    found = (await session.execute(
        select(UploadSession.multipart_upload_id).where(
            UploadSession.object_key.in_(keys), UploadSession.status.in_(LIVE))
    )).scalars().all()
    return {upload_id for upload_id in found if upload_id is not None}


async def open_forms(session: AsyncSession, limit: int) -> Sequence[UploadSession]:
    return (await session.execute(
        select(UploadSession).where(UploadSession.kind == UploadKind.UPPY_FORM,
                                    UploadSession.status == SessionStatus.OPEN)
        .order_by(UploadSession.created_at).limit(limit)
    )).scalars().all()


async def verifying(session: AsyncSession, limit: int) -> Sequence[UploadSession]:
    return (await session.execute(
        select(UploadSession).where(UploadSession.status == SessionStatus.VERIFYING)
        .order_by(UploadSession.claimed_at).limit(limit)
    )).scalars().all()


async def lock_owner(session: AsyncSession, owner_id: int) -> None:
    """Serialise the opening of one owner's sessions until the transaction ends (so a count holds)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"uploads:open:{owner_id}"})


async def writable_count(session: AsyncSession, owner_id: int, now: datetime) -> int:
    """The owner's sessions that can still take writes: open or being completed, not past their expiry."""
    found = (await session.execute(
        select(func.count()).select_from(UploadSession).where(
            UploadSession.owner_id == owner_id, UploadSession.status.in_(WRITABLE), UploadSession.expires_at > now)
    )).scalar_one()
    return int(found)


async def unconfirmed(session: AsyncSession, kinds: Collection[UploadKind], completed_before: datetime,
                      resent_before: datetime, limit: int) -> Sequence[UploadSession]:
    """Completed uploads of these kinds that metadata has not been seen to record since `completed_before`,
    and not sent again since `resent_before`."""
    return (await session.execute(
        select(UploadSession).where(
            UploadSession.status == SessionStatus.COMPLETED, UploadSession.committed_at.is_(None),
            UploadSession.kind.in_(kinds), UploadSession.completed_at < completed_before,
            or_(UploadSession.resent_at.is_(None), UploadSession.resent_at < resent_before))
        .order_by(UploadSession.completed_at).limit(limit)
    )).scalars().all()
