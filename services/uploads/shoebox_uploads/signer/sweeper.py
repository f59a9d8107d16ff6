"""What runs beside the routes: the sweeper of abandoned uploads, the finalizer of form uploads, and
the verifier of checksums storage could not vouch for.

Sweeper (every `sweep_interval_seconds`):
- sessions past their expiry that nobody finished (or whose completer died mid-way): status `expired`,
  then their multipart upload aborted;
- objects handed out to Ente clients and never committed by `POST /files` within the grace period after
  their URLs expired: multipart upload aborted and object deleted, then status `swept`;
- multipart uploads in storage older than `stale_multipart_seconds` that no live session owns (a crash
  between starting one and recording it, an abort storage did not hear of, an upload started by hand):
  aborted;
- library uploads completed `apply_grace_seconds` ago that metadata has not been seen to record (no
  item.stored came back): metadata is asked, and the completion sent again if the item still waits for its
  original (its upload.completed lost or dead-lettered), else the session noted as confirmed.
Each session that ends here emits `upload.ended`, and metadata gives its hold back. No row is locked
while storage is called: an expiring session is ended first, so a racing complete or finalizer finds it
over; an Ente object is removed first, so a failed delete is tried again on the next pass (only a commit
can race it, and a commit never waited for us).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta

import anyio.to_thread
from prometheus_client import Counter

from shoebox_lib.errors import ShoeboxError, UpstreamUnavailable
from shoebox_uploads.models import SessionStatus, UploadKind, UploadSession
from shoebox_uploads.settings import UploadsSettings
from shoebox_uploads.signer import outcomes, repo
from shoebox_uploads.signer.completion import STALE_CLAIM
from shoebox_uploads.signer.sessions import Uploads

log = logging.getLogger(__name__)

SWEPT = Counter("shoebox_uploads_swept_total", "What the sweeper of abandoned uploads cleaned up", ["what"])
VERIFIED = Counter("shoebox_uploads_checksums_total", "SHA-256 checks of uploaded objects", ["where", "outcome"])
BATCH = 200
# Bytes hashed per thread hand-off while verifying; hashlib releases the GIL for chunks this large.
HASH_CHUNK = 4 * 1024 * 1024
EXPIRING = (UploadKind.V1, UploadKind.UPPY, UploadKind.UPPY_FORM)
UNCOMMITTED = (UploadKind.ENTE, UploadKind.ENTE_MULTIPART)
# Uploads that end as an item's original, handed to metadata by `upload.completed`.
LIBRARY = (UploadKind.V1, UploadKind.UPPY, UploadKind.UPPY_FORM)
MISMATCH = "The uploaded object's SHA-256 differs from the one declared; it was removed"


class Sweeper:
    def __init__(self, uploads: Uploads, settings: UploadsSettings) -> None:
        self.uploads = uploads
        self.settings = settings

    async def sweep(self) -> dict[str, int]:
        """One pass; returns what it cleaned (also counted in `shoebox_uploads_swept_total`)."""
        cleaned = {"sessions_expired": 0, "objects_deleted": 0, "multipart_aborted": 0, "completions_resent": 0,
                   "completions_confirmed": 0}
        now = datetime.now(UTC)
        await self.finalize_forms()
        await self._expire_sessions(now, cleaned)
        await self._sweep_uncommitted(now, cleaned)
        await self._abort_stale_multipart(now, cleaned)
        await self._reconcile_completions(now, cleaned)
        for what, count in cleaned.items():
            if count:
                SWEPT.labels(what).inc(count)
        if any(cleaned.values()):
            log.info("upload sweeper: %s", cleaned)
        return cleaned

    async def _due(self, kinds: tuple[UploadKind, ...], statuses: tuple[SessionStatus, ...], before: datetime,
                   now: datetime) -> list[UploadSession]:
        async with self.uploads.db.transaction() as session:
            return list(await repo.due(session, kinds, statuses, before, now - STALE_CLAIM, BATCH))

    async def _end(self, record: UploadSession, status: SessionStatus) -> bool:
        """Record the end (and its event) if nobody changed the session since it was found due."""
        async with self.uploads.db.transaction() as session:
            current = await repo.get(session, record.id, lock=True)
            if current is None or current.status != record.status or current.claimed_at != record.claimed_at:
                return False
            await outcomes.end(session, current, status)
        return True

    async def _delete(self, key: str) -> bool:
        if await self.uploads.driver.head(key) is None:
            return False
        await self.uploads.driver.delete(key)
        return True

    async def _expire_sessions(self, now: datetime, cleaned: dict[str, int]) -> None:
        statuses = (SessionStatus.OPEN, SessionStatus.COMPLETING)
        for record in await self._due(EXPIRING, statuses, now, now):
            if not await self._end(record, SessionStatus.EXPIRED):
                continue
            cleaned["sessions_expired"] += 1
            if await self.uploads.discard_multipart(record):
                cleaned["multipart_aborted"] += 1
            # A form upload's object may have landed just before its URL expired: the finalizer ran first,
            # so what is still open here never arrived or was refused. A dead completer may have assembled
            # an object nothing will keep.
            if (record.kind == UploadKind.UPPY_FORM or record.status == SessionStatus.COMPLETING) \
                    and await self._delete(record.object_key):
                cleaned["objects_deleted"] += 1

    async def _sweep_uncommitted(self, now: datetime, cleaned: dict[str, int]) -> None:
        cutoff = now - timedelta(seconds=self.settings.commit_grace_seconds)
        statuses = (SessionStatus.OPEN, SessionStatus.COMPLETING, SessionStatus.COMPLETED)
        for record in await self._due(UNCOMMITTED, statuses, cutoff, now):
            aborted = await self.uploads.discard_multipart(record)
            deleted = await self._delete(record.object_key)
            if not await self._end(record, SessionStatus.SWEPT):
                continue
            cleaned["sessions_expired"] += 1
            cleaned["multipart_aborted"] += int(aborted)
            cleaned["objects_deleted"] += int(deleted)

    async def _abort_stale_multipart(self, now: datetime, cleaned: dict[str, int]) -> None:
        driver = self.uploads.driver
        before = now - timedelta(seconds=self.settings.stale_multipart_seconds)
        stale = await driver.list_multipart_uploads(initiated_before=before)
        if not stale:
            return
        async with self.uploads.db.transaction() as session:
            live = await repo.live_multipart_ids(session, [u.key for u in stale])
        for upload in stale:
            if upload.upload_id not in live:
                await driver.abort_multipart(upload.key, upload.upload_id)
                cleaned["multipart_aborted"] += 1

    async def _reconcile_completions(self, now: datetime, cleaned: dict[str, int]) -> None:
        grace = now - timedelta(seconds=self.settings.apply_grace_seconds)
        async with self.uploads.db.transaction() as session:
            unconfirmed = await repo.unconfirmed(session, LIBRARY, grace, grace, BATCH)
        if not unconfirmed:
            return
        try:
            awaiting = await self.uploads.library.awaiting_upload(
                [(r.owner_id, r.item_id) for r in unconfirmed if r.item_id is not None])
        except UpstreamUnavailable as down:
            log.warning("upload sweeper: completions not reconciled this pass: %s", down.message)
            return
        for record in unconfirmed:
            waiting = record.item_id in awaiting  # otherwise filled, or gone: nothing is owed to it
            async with self.uploads.db.transaction() as session:
                current = await repo.get(session, record.id, lock=True)
                if current is None or current.status != SessionStatus.COMPLETED or current.committed_at is not None:
                    continue
                if waiting:
                    await outcomes.announce(session, current)
                    current.resent_at = now
                    cleaned["completions_resent"] += 1
                else:
                    current.committed_at = now
                    cleaned["completions_confirmed"] += 1

    # --- form uploads -------------------------------------------------------------------------------

    async def finalize_forms(self) -> int:
        """Complete the form uploads whose object has arrived (the browser never calls back)."""
        async with self.uploads.db.transaction() as session:
            pending = await repo.open_forms(session, BATCH)
        done = 0
        for record in pending:
            info = await self.uploads.driver.head(record.object_key)
            if info is None:
                continue
            if info.size != record.total_bytes:
                # The signed policy pins the length; storage that does not enforce it is caught here.
                await self.uploads.driver.delete(record.object_key)
                await self._fail(record, f"{info.size} bytes arrived, but {record.total_bytes} were declared",
                                 SessionStatus.OPEN)
                continue
            if await self._complete(record, info.size, info.etag, SessionStatus.OPEN):
                done += 1
        return done

    async def _complete(self, record: UploadSession, size: int, etag: str | None, status: SessionStatus) -> bool:
        async with self.uploads.db.transaction() as session:
            current = await repo.get(session, record.id, lock=True)
            if current is None or current.status != status:
                return False
            await outcomes.complete(session, current, size, etag)
        return True

    async def _fail(self, record: UploadSession, error: str, status: SessionStatus) -> None:
        async with self.uploads.db.transaction() as session:
            current = await repo.get(session, record.id, lock=True)
            if current is not None and current.status == status:
                await outcomes.end(session, current, SessionStatus.FAILED, error)

    # --- checksums ----------------------------------------------------------------------------------

    async def verify(self) -> int:
        """Finish the sessions whose SHA-256 storage could not vouch for, by reading the object once.

        This is the one place uploads reads bytes: only for an object whose client declared a SHA-256 and
        whose storage keeps none for it (S3 has no whole-object SHA-256 for a multipart upload). It runs
        off the request path, streamed, hashing in a thread; the client sees `verifying` until then.
        """
        async with self.uploads.db.transaction() as session:
            pending = await repo.verifying(session, 10)
        for record in pending:
            try:
                actual = await self._hash(record.object_key)
            except ShoeboxError:
                actual = None
            if actual is not None and actual == record.sha256:
                VERIFIED.labels("uploads", "match").inc()
                assert record.size_bytes is not None
                await self._complete(record, record.size_bytes, record.etag, SessionStatus.VERIFYING)
                continue
            VERIFIED.labels("uploads", "mismatch").inc()
            await self.uploads.driver.delete(record.object_key)
            await self._fail(record, MISMATCH, SessionStatus.VERIFYING)
        return len(pending)

    async def _hash(self, key: str) -> str:
        digest = hashlib.sha256()
        buffer = bytearray()
        async for chunk in self.uploads.driver.get_stream(key, chunk_size=HASH_CHUNK):
            buffer += chunk
            if len(buffer) >= HASH_CHUNK:
                data, buffer = bytes(buffer), bytearray()
                await anyio.to_thread.run_sync(digest.update, data)
        await anyio.to_thread.run_sync(digest.update, bytes(buffer))
        return digest.hexdigest()
