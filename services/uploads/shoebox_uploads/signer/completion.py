"""Completing a session: assemble the parts in storage, check the object against the declaration, make
sure a library item exists, and say so with the session's end, without holding its row meanwhile.

1. A short transaction claims the session: `open` → `completing`, with the time of the claim.
2. Storage and metadata are called with no lock held.
3. A short transaction finishes it, if the claim is still ours: `completed` (with `upload.completed`),
   `verifying`, or `failed` (with `upload.ended`, the object removed); or back to `open` when storage
   refused the parts, so the client can try again.

Idempotent: a complete that finds the session done answers with it again; one that finds it claimed waits
for that claim to finish; a claim older than `STALE_CLAIM` (its completer died) is taken over, which is
safe because assembling is itself idempotent (`assemble`) and the item, once made, is recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shoebox_lib.db import Database
from shoebox_lib.errors import Conflict, InvalidInput, ShoeboxError
from shoebox_lib.storage import ObjectInfo, StorageDriver
from shoebox_uploads.models import SessionStatus, UploadKind, UploadSession
from shoebox_uploads.signer import outcomes, repo
from shoebox_uploads.signer.library import Library
from shoebox_uploads.signer.rules import completion_parts, ensure_open

# Sessions a complete answers with as they are.
DONE = (SessionStatus.COMPLETED, SessionStatus.VERIFYING, SessionStatus.COMMITTED)
# How long a complete waits for a concurrent one before answering 409, and how often it looks.
WAIT_SECONDS = 60.0
POLL_SECONDS = 0.05
# A claim this old belongs to a completer that is gone: killed, or cut off from the database so that it could
# not give the claim back (PostgreSQL down mid-complete). Until then every retry waits and answers 409, so it
# is short; taking over a claim whose completer is in fact alive only repeats idempotent work (see above).
STALE_CLAIM = timedelta(minutes=2)
DEFAULT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Claim:
    """A session this complete has claimed, and the parts it assembles."""

    record: UploadSession
    parts: list[tuple[int, str]]
    claimed_at: datetime

    def holds(self, current: UploadSession | None) -> bool:
        """Whether the session is still ours (no retry has taken a stale claim over)."""
        return (current is not None and current.status == SessionStatus.COMPLETING
                and current.claimed_at == self.claimed_at)


class Completion:
    def __init__(self, db: Database, driver: StorageDriver, library: Library) -> None:
        self.db = db
        self.driver = driver
        self.library = library

    async def complete(self, owner_id: int, session_id: str, parts: list[tuple[int, str]],
                       kinds: Collection[UploadKind]) -> UploadSession:
        """The session, completed (or `verifying`); raises what refused it. Answers the same when retried."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            claimed = await self.claim(owner_id, session_id, parts, kinds)
            if isinstance(claimed, UploadSession):
                return claimed
            if claimed is not None:
                finished = await self.finish(claimed)
                if finished is not None:
                    return finished
            elif time.monotonic() > deadline:
                raise Conflict("The upload is being completed; try again shortly")
            await asyncio.sleep(POLL_SECONDS)

    async def claim(self, owner_id: int, session_id: str, parts: list[tuple[int, str]],
                    kinds: Collection[UploadKind]) -> Claim | UploadSession | None:
        """A claim on the session; or the session when it is done already; or None while another
        complete holds a live claim. Parts that cannot complete the session are refused before any claim."""
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            record = await repo.owned(session, owner_id, session_id, kinds, lock=True)
            if record.status in DONE:
                return record
            if record.status == SessionStatus.COMPLETING:
                if record.claimed_at is not None and record.claimed_at > now - STALE_CLAIM:
                    return None
            else:
                ensure_open(record)
            wanted = completion_parts(record, parts)
            record.status, record.claimed_at = SessionStatus.COMPLETING, now
        return Claim(record, wanted, now)

    async def finish(self, claim: Claim) -> UploadSession | None:
        """Do what the claim was for; None if the claim was lost meanwhile (ask again)."""
        record = claim.record
        try:
            info = await self.assemble(record, claim.parts)
        except Exception:
            await self._release(claim)
            raise
        try:
            status = await self._accept(claim, info)
        except Exception as exc:
            if isinstance(exc, ShoeboxError) and exc.is_refusal:
                # Not what was declared, or no room for it: nothing must keep the object.
                await self.driver.delete(record.object_key)
                await self._fail(claim, exc.message)
            else:
                # No verdict (the library down, or a bug): the upload stays assembled, and the client's retry
                # carries on from there.
                await self._release(claim)
            raise
        return await self._settle(claim, status, info)

    async def assemble(self, record: UploadSession, parts: list[tuple[int, str]]) -> ObjectInfo:
        """Complete the multipart upload in storage. A complete whose answer was lost after storage had
        assembled the object finds no upload but the object: that is the same completion, retried."""
        assert record.multipart_upload_id is not None
        try:
            return await self.driver.complete_multipart(record.object_key, record.multipart_upload_id, parts)
        except InvalidInput as exc:
            if exc.code != "NoSuchUpload":
                raise
            info = await self.driver.head(record.object_key)
            if info is None:
                raise
            return info

    async def _accept(self, claim: Claim, info: ObjectInfo) -> SessionStatus:
        """`completed` or `verifying`; raises when the object is not what was declared or finds no room."""
        record = claim.record
        if record.total_bytes is not None and info.size != record.total_bytes:
            if record.kind in outcomes.SELF_COMMITTED:
                raise InvalidInput(f"{info.size} bytes were uploaded, but {record.total_bytes} were declared; "
                                   "the object was removed")
            raise InvalidInput(f"The uploaded object has {info.size} bytes, but {record.total_bytes} were "
                               "declared; it was removed")
        if record.sha256 is not None:
            stored = await self.driver.stored_sha256(record.object_key)
            if stored is None:
                # Storage cannot vouch for the checksum (S3 keeps none for a multipart object): the
                # verifier reads it off the request path and finishes the session either way.
                return SessionStatus.VERIFYING
            if stored != record.sha256:
                raise InvalidInput("The uploaded object's SHA-256 differs from the one declared; it was removed",
                                   code="CHECKSUM_MISMATCH")
        if record.item_id is None and record.kind not in outcomes.SELF_COMMITTED:
            await self._create_item(claim, info)
        return SessionStatus.COMPLETED

    async def _create_item(self, claim: Claim, info: ObjectInfo) -> None:
        """An upload that came without a library item (the Uppy face) gets one now that its size is known;
        bytes not declared at the start are held first, so a full quota refuses it before the item exists."""
        record = claim.record
        if record.total_bytes is None:
            await self.library.hold(record.owner_id, record.id, info.size)
        item_id = await self.library.new_item(record.owner_id, record.filename or "upload",
                                              record.content_type or DEFAULT_TYPE, info.size)
        record.item_id = item_id
        # Recorded at once, so a completer taking this claim over never makes a second item.
        async with self.db.transaction() as session:
            current = await repo.get(session, record.id, lock=True)
            if claim.holds(current):
                assert current is not None
                current.item_id = item_id

    async def _settle(self, claim: Claim, status: SessionStatus, info: ObjectInfo) -> UploadSession | None:
        async with self.db.transaction() as session:
            current = await repo.get(session, claim.record.id, lock=True)
            if not claim.holds(current):
                return None
            assert current is not None
            current.item_id = claim.record.item_id
            current.size_bytes, current.etag = info.size, info.etag
            if status == SessionStatus.VERIFYING:
                current.status = status
            else:
                await outcomes.complete(session, current, info.size, info.etag)
        return current

    async def _fail(self, claim: Claim, error: str) -> None:
        async with self.db.transaction() as session:
            current = await repo.get(session, claim.record.id, lock=True)
            if claim.holds(current):
                assert current is not None
                await outcomes.end(session, current, SessionStatus.FAILED, error)

    async def _release(self, claim: Claim) -> None:
        """Back to `open`: storage refused the parts (or could not be reached), and the client may retry."""
        async with self.db.transaction() as session:
            current = await repo.get(session, claim.record.id, lock=True)
            if claim.holds(current):
                assert current is not None
                current.status, current.claimed_at = SessionStatus.OPEN, None
