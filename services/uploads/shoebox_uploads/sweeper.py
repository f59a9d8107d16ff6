"""What runs beside the routes: the sweeper of abandoned uploads, the finalizer of form uploads, and
the verifier of checksums storage could not vouch for.

Sweeper (every `sweep_interval_seconds`):
- sessions past their expiry that nobody finished: their multipart upload aborted, status `expired`;
- objects handed out to Ente clients and never committed by `POST /files` within the grace period after
  their URLs expired: multipart upload aborted and object deleted, status `swept`;
- multipart uploads in storage older than `stale_multipart_seconds` that no live session owns (a crash
  between starting one and recording it, or an upload started by hand): aborted.
Quota holds of expired sessions lapse at metadata by themselves (a session never outlives its hold);
those of sessions that ended otherwise are given back on their owner's next call.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta

import anyio.to_thread
from prometheus_client import Counter
from sqlalchemy import select

from shoebox_lib.errors import NotFound, ShoeboxError
from shoebox_uploads.config import UploadsSettings
from shoebox_uploads.models import LIVE, UploadSession
from shoebox_uploads.sessions import Uploads

log = logging.getLogger(__name__)

SWEPT = Counter("shoebox_uploads_swept_total", "What the sweeper of abandoned uploads cleaned up", ["what"])
VERIFIED = Counter("shoebox_uploads_checksums_total", "SHA-256 checks of uploaded objects", ["where", "outcome"])
BATCH = 200
# Bytes hashed per thread hand-off while verifying; hashlib releases the GIL for chunks this large.
HASH_CHUNK = 4 * 1024 * 1024


class Sweeper:
    def __init__(self, uploads: Uploads) -> None:
        self.uploads = uploads

    @property
    def config(self) -> UploadsSettings:
        return self.uploads.config

    async def sweep(self) -> dict[str, int]:
        """One pass; returns what it cleaned (also counted in `shoebox_uploads_swept_total`)."""
        cleaned = {"sessions_expired": 0, "objects_deleted": 0, "multipart_aborted": 0}
        now = datetime.now(UTC)
        await self.finalize_forms()
        await self._expire_sessions(now, cleaned)
        await self._sweep_uncommitted(now, cleaned)
        await self._abort_stale_multipart(now, cleaned)
        for what, count in cleaned.items():
            if count:
                SWEPT.labels(what).inc(count)
        if any(cleaned.values()):
            log.info("upload sweeper: %s", cleaned)
        return cleaned

    async def _due(self, kinds: tuple[str, ...], statuses: tuple[str, ...], before: datetime) -> list[UploadSession]:
        async with self.uploads.db.transaction() as session:
            found = (await session.execute(
                select(UploadSession).where(UploadSession.kind.in_(kinds), UploadSession.status.in_(statuses),
                                            UploadSession.expires_at < before)
                .order_by(UploadSession.expires_at).limit(BATCH)
            )).scalars().all()
        return list(found)

    async def _end(self, record: UploadSession, status: str, *, delete: bool, cleaned: dict[str, int]) -> None:
        """Abort and delete in storage first, then record it, under the row lock (a racing complete or
        commit either finished before, and the session is skipped, or finds it ended)."""
        driver = self.uploads.driver
        async with self.uploads.db.transaction() as session:
            current = await session.get(UploadSession, record.id, with_for_update=True)
            if current is None or current.status != record.status:
                return
            if current.multipart_upload_id and await self._still_uploading(current):
                await driver.abort_multipart(current.object_key, current.multipart_upload_id)
                cleaned["multipart_aborted"] += 1
            if delete and await driver.head(current.object_key) is not None:
                await driver.delete(current.object_key)
                cleaned["objects_deleted"] += 1
            current.status = status
            cleaned["sessions_expired"] += 1

    async def _still_uploading(self, record: UploadSession) -> bool:
        """Whether the multipart upload is still in storage (an Ente client may have completed it through
        its completeURL, which storage answers without us)."""
        assert record.multipart_upload_id is not None
        try:
            await self.uploads.driver.list_parts(record.object_key, record.multipart_upload_id)
        except NotFound:
            return False
        return True

    async def _expire_sessions(self, now: datetime, cleaned: dict[str, int]) -> None:
        for record in await self._due(("v1", "uppy", "uppy-form"), ("open",), now):
            # A form upload's object may have landed just before its URL expired: the finalizer ran
            # first, so what is still open here never arrived or was refused.
            await self._end(record, "expired", delete=record.kind == "uppy-form", cleaned=cleaned)

    async def _sweep_uncommitted(self, now: datetime, cleaned: dict[str, int]) -> None:
        cutoff = now - timedelta(seconds=self.config.commit_grace_seconds)
        for record in await self._due(("ente", "ente-mp"), ("open", "completed"), cutoff):
            await self._end(record, "swept", delete=True, cleaned=cleaned)

    async def _abort_stale_multipart(self, now: datetime, cleaned: dict[str, int]) -> None:
        driver = self.uploads.driver
        before = now - timedelta(seconds=self.config.stale_multipart_seconds)
        stale = await driver.list_multipart_uploads(initiated_before=before)
        if not stale:
            return
        async with self.uploads.db.transaction() as session:
            live = set((await session.execute(
                select(UploadSession.multipart_upload_id).where(
                    UploadSession.object_key.in_([u.key for u in stale]), UploadSession.status.in_(LIVE))
            )).scalars().all())
        for upload in stale:
            if upload.upload_id not in live:
                await driver.abort_multipart(upload.key, upload.upload_id)
                cleaned["multipart_aborted"] += 1

    # --- form uploads -------------------------------------------------------------------------------

    async def finalize_forms(self) -> int:
        """Complete the form uploads whose object has arrived (the browser never calls back)."""
        async with self.uploads.db.transaction() as session:
            pending = (await session.execute(
                select(UploadSession).where(UploadSession.kind == "uppy-form", UploadSession.status == "open")
                .order_by(UploadSession.created_at).limit(BATCH)
            )).scalars().all()
        done = 0
        for record in pending:
            info = await self.uploads.driver.head(record.object_key)
            if info is None:
                continue
            async with self.uploads.db.transaction() as session:
                current = await session.get(UploadSession, record.id, with_for_update=True)
                if current is None or current.status != "open":
                    continue
                if info.size != current.total_bytes:
                    # The signed policy pins the length; storage that does not enforce it is caught here.
                    await self.uploads.driver.delete(current.object_key)
                    current.status = "failed"
                    current.error = f"{info.size} bytes arrived, but {current.total_bytes} were declared"
                    continue
                await self.uploads.mark_completed(session, current, info.size)
                done += 1
        return done

    # --- checksums ----------------------------------------------------------------------------------

    async def verify(self) -> int:
        """Finish the sessions whose SHA-256 storage could not vouch for, by reading the object once.

        This is the one place uploads reads bytes: only for an object whose client declared a SHA-256 and
        whose storage keeps none for it (S3 has no whole-object SHA-256 for a multipart upload). It runs
        off the request path, streamed, hashing in a thread; the client sees `verifying` until then.
        """
        async with self.uploads.db.transaction() as session:
            pending = (await session.execute(
                select(UploadSession).where(UploadSession.status == "verifying")
                .order_by(UploadSession.completed_at).limit(10)
            )).scalars().all()
        for record in pending:
            try:
                actual = await self._hash(record.object_key)
            except ShoeboxError:
                actual = None
            async with self.uploads.db.transaction() as session:
                current = await session.get(UploadSession, record.id, with_for_update=True)
                if current is None or current.status != "verifying":
                    continue
                if actual is not None and actual == current.sha256:
                    VERIFIED.labels("uploads", "match").inc()
                    await self.uploads.mark_completed(session, current, int((current.result or {})["size_bytes"]))
                    continue
                VERIFIED.labels("uploads", "mismatch").inc()
                await self.uploads.driver.delete(current.object_key)
                current.status = "failed"
                current.error = "The uploaded object's SHA-256 differs from the one declared; it was removed"
                current.result = {**(current.result or {}), "status": "failed", "error": current.error}
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
