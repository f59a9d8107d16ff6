"""Upload sessions, as every face uses them: opened under a server-chosen key with the bytes held at
metadata, parts signed for one method on one key, listed to resume, aborted, completed. The v1 face's
resumable upload of an item metadata already knows starts here too (`start`)."""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from shoebox_lib import keys
from shoebox_lib.db import Database
from shoebox_lib.errors import Conflict, InvalidInput, NotFound, QuotaExceeded, ShoeboxError, UpstreamUnavailable
from shoebox_lib.storage import StorageDriver
from shoebox_lib.storage.base import MAX_OBJECT_SIZE, PartInfo
from shoebox_uploads.models import SessionStatus, UploadKind, UploadSession
from shoebox_uploads.settings import UploadsSettings
from shoebox_uploads.signer import limits, outcomes, repo
from shoebox_uploads.signer.completion import Completion
from shoebox_uploads.signer.library import Library
from shoebox_uploads.signer.room import RoomSeen
from shoebox_uploads.signer.rules import choose_part_size, ensure_open, ensure_part_number, new_session_id

log = logging.getLogger(__name__)

V1 = (UploadKind.V1,)
ANY_KIND = tuple(UploadKind)
# What metadata calls an item whose original has not arrived yet.
AWAITING_UPLOAD = "upload_pending"
# How long a session recorded before its quota hold may wait for metadata to confirm the hold.
UNCONFIRMED_SECONDS = 60
# Sessions past the point where aborting could still take them back.
UNABORTABLE = (SessionStatus.COMPLETING, SessionStatus.VERIFYING, SessionStatus.COMPLETED, SessionStatus.COMMITTED)


@dataclass(frozen=True)
class SignedPart:
    part_number: int
    url: str
    expires_at: datetime
    seconds: int  # the URL's lifetime


class Uploads:
    def __init__(self, db: Database, driver: StorageDriver, library: Library, presign_seconds: int,
                 settings: UploadsSettings) -> None:
        self.db = db
        self.driver = driver
        self.library = library
        self.presign_seconds = presign_seconds
        self.settings = settings
        self.completion = Completion(db, driver, library)
        self.room = RoomSeen()

    def presign_expiry(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.presign_seconds)

    @property
    def single_put_seconds(self) -> int:
        """The lifetime of a URL for one whole object (see `UploadsSettings.single_put_seconds`)."""
        return min(self.settings.single_put_seconds, self.presign_seconds)

    def single_put_expiry(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.single_put_seconds)

    def url_seconds(self, record: UploadSession, longest: int) -> int:
        """A URL's lifetime: `longest`, but never past the session's end, so that no URL outlives the session
        (nor the quota hold it ends with), even before the sweeper has aborted its upload."""
        left = math.ceil((record.expires_at - datetime.now(UTC)).total_seconds())  # to the second
        return max(1, min(longest, left))

    def lifetime(self) -> datetime:
        """When a session that holds no bytes ends."""
        return datetime.now(UTC) + timedelta(seconds=self.settings.session_seconds)

    # --- quota --------------------------------------------------------------------------------------

    async def record_held(self, record: UploadSession, size: int) -> None:
        """Record a session, then hold its bytes at metadata under its id, so that no hold ever exists without
        a session to give it back. Until metadata confirms the hold, the session is recorded to expire within
        `UNCONFIRMED_SECONDS`: whatever stops us in between (a crash, our database gone as we would end it),
        the sweeper ends it soon, and its `upload.ended` releases whatever metadata held. Not held for sure
        (refused, metadata down, the answer lost), it ends at once the same way. Confirmed, it lives as
        long as it was made to, and no longer than the hold."""
        lifetime = record.expires_at
        record.expires_at = min(lifetime, datetime.now(UTC) + timedelta(seconds=UNCONFIRMED_SECONDS))
        await self.record([record])
        try:
            held_until = await self.library.hold(record.owner_id, record.id, size)
        except Exception as exc:
            await self._fail_open(record, exc.message if isinstance(exc, ShoeboxError) else "the hold was not taken")
            raise
        async with self.db.transaction() as session:
            confirmed = (await session.execute(
                update(UploadSession).where(UploadSession.id == record.id, UploadSession.status == SessionStatus.OPEN)
                .values(expires_at=min(lifetime, held_until)).returning(UploadSession.expires_at))).scalar_one_or_none()
        if confirmed is None:  # the sweeper ended it meanwhile, and gave the hold back
            raise UpstreamUnavailable("The upload could not be opened in time; try again")
        record.expires_at = confirmed

    async def _fail_open(self, record: UploadSession, error: str) -> None:
        """End a session that never got going, if nothing else ended it meanwhile."""
        async with self.db.transaction() as session:
            current = await repo.get(session, record.id, lock=True)
            if current is not None and current.status == SessionStatus.OPEN:
                await outcomes.end(session, current, SessionStatus.FAILED, error)

    async def check_room(self, owner_id: int) -> None:
        """Where the size is not known yet, refuse only when nothing at all is left (Ente does the same);
        the commit then counts the real size atomically. Room seen lately is believed (`RoomSeen`)."""
        if self.room.believed(owner_id):
            return
        if await self.library.available(owner_id) <= 0:
            raise QuotaExceeded("Storage limit exceeded")
        self.room.saw_room(owner_id)

    # --- opening ------------------------------------------------------------------------------------

    async def check_open(self, owner_id: int, count: int = 1) -> None:
        """Refuse, before anything is held or signed, `count` more sessions past the owner's limit of open
        uploads. `record` checks again under a lock, so concurrent openings cannot pass it together."""
        limit = self.settings.max_open_sessions
        async with self.db.transaction() as session:
            already = await repo.writable_count(session, owner_id, datetime.now(UTC))
        if already + count > limit:
            raise limits.refused(already, limit)

    async def record(self, records: Sequence[UploadSession]) -> None:
        """Record sessions before anything is held or signed for them (every caller holds after recording).

        Past the owner's limit of open uploads they are refused (`TooManyOpenUploads`) and nothing is
        written: a caller at its limit cannot make each refusal cost rows and events."""
        if not records:
            return
        owner_id = records[0].owner_id
        assert all(r.owner_id == owner_id for r in records)
        limit = self.settings.max_open_sessions
        async with self.db.transaction() as session:
            await repo.lock_owner(session, owner_id)
            already = await repo.writable_count(session, owner_id, datetime.now(UTC))
            if already + len(records) > limit:
                raise limits.refused(already, limit)
            session.add_all(records)

    async def open(self, record: UploadSession, hold: int | None = None) -> UploadSession:
        """Record a multipart session before storage hears of it, so the sweeper never mistakes a new
        multipart upload for an orphan; with `hold`, hold those bytes for it (`record_held`); then start the upload."""
        if hold is None:
            await self.record([record])
        else:
            await self.record_held(record, hold)
        try:
            upload_id = await self.driver.create_multipart(record.object_key, content_type=record.content_type)
        except Exception:
            await self._fail_open(record, "storage refused to start the upload")
            raise
        async with self.db.transaction() as session:
            await session.execute(update(UploadSession).where(UploadSession.id == record.id)
                                  .values(multipart_upload_id=upload_id))
        record.multipart_upload_id = upload_id
        return record

    async def start(self, owner_id: int, item_id: int, total_bytes: int, content_type: str | None,
                    sha256: str | None = None) -> UploadSession:
        """A resumable upload of the original of an item the owner declared at metadata (the v1 face)."""
        if not 0 <= total_bytes <= MAX_OBJECT_SIZE:
            raise InvalidInput("total_bytes is outside what storage accepts")
        item = await self.library.upload_target(owner_id, item_id)
        if item.status != AWAITING_UPLOAD:
            raise Conflict("This image has already been uploaded")
        if item.size != total_bytes:
            raise InvalidInput(f"total_bytes ({total_bytes}) differs from the image's size_bytes ({item.size})")
        await self.check_open(owner_id)
        session_id = new_session_id()
        part_size = choose_part_size(total_bytes)
        return await self.open(UploadSession(
            id=session_id, kind=UploadKind.V1, owner_id=owner_id, item_id=item.item_id,
            object_key=keys.item_original(owner_id, item.item_id, session_id),
            total_bytes=total_bytes, part_size=part_size, part_count=max(1, math.ceil(total_bytes / part_size)),
            content_type=content_type or item.content_type, sha256=sha256, status=SessionStatus.OPEN,
            expires_at=self.lifetime(),
        ), hold=total_bytes)

    # --- finding ------------------------------------------------------------------------------------

    async def get(self, owner_id: int, session_id: str, kinds: Collection[UploadKind] = ANY_KIND) -> UploadSession:
        async with self.db.transaction() as session:
            return await repo.owned(session, owner_id, session_id, kinds)

    async def by_key(self, owner_id: int, key: str, kinds: Collection[UploadKind]) -> UploadSession:
        async with self.db.transaction() as session:
            record = await repo.by_key(session, owner_id, key, kinds)
        if record is None:
            raise NotFound("Upload not found")
        return record

    # --- writing ------------------------------------------------------------------------------------

    async def sign_part(self, owner_id: int, session_id: str, part_number: int,
                        kinds: Collection[UploadKind] = V1, key: str | None = None) -> SignedPart:
        record = await self.get(owner_id, session_id, kinds)
        if key is not None and record.object_key != key:
            raise NotFound("Upload session not found")
        return (await self.sign_parts(record, [part_number]))[0]

    async def sign_parts(self, record: UploadSession, part_numbers: Sequence[int]) -> list[SignedPart]:
        """URLs for these parts of the session's multipart upload, none outliving the session."""
        ensure_open(record)
        for part_number in part_numbers:
            ensure_part_number(record, part_number)
        assert record.multipart_upload_id is not None
        seconds = self.url_seconds(record, self.presign_seconds)
        expires_at = datetime.now(UTC) + timedelta(seconds=seconds)
        return [SignedPart(n, await self.driver.presign_part(record.object_key, record.multipart_upload_id, n,
                                                             expires=seconds), expires_at, seconds)
                for n in part_numbers]

    async def list_parts(self, owner_id: int, session_id: str, kinds: Collection[UploadKind] = V1
                         ) -> tuple[UploadSession, list[PartInfo]]:
        """The session and the parts storage already holds, so a client can resume after a crash."""
        record = await self.get(owner_id, session_id, kinds)
        parts: list[PartInfo] = []
        if record.status == SessionStatus.OPEN and record.multipart_upload_id:
            parts = await self.driver.list_parts(record.object_key, record.multipart_upload_id)
        return record, parts

    # --- ending -------------------------------------------------------------------------------------

    async def complete(self, owner_id: int, session_id: str, parts: list[tuple[int, str]],
                       kinds: Collection[UploadKind] = V1) -> UploadSession:
        """See `completion`: the session completed (or `verifying`), the same again when retried."""
        return await self.completion.complete(owner_id, session_id, parts, kinds)

    async def abort(self, owner_id: int, session_id: str, kinds: Collection[UploadKind] = V1) -> UploadSession:
        """End an open session (its hold given back through `upload.ended`), then its multipart upload in
        storage, so that URLs already signed for it stop working. Aborting an ended session changes nothing."""
        async with self.db.transaction() as session:
            record = await repo.owned(session, owner_id, session_id, kinds, lock=True)
            if record.status in UNABORTABLE:
                raise Conflict(f"The upload session is already {record.status}")
            ended = record.status == SessionStatus.OPEN
            if ended:
                await outcomes.end(session, record, SessionStatus.ABORTED)
        if ended:
            try:
                await self.discard_multipart(record)
            except ShoeboxError:
                # The session is over all the same; the sweeper aborts the upload once it is stale.
                log.warning("could not abort the multipart upload of session %s", record.id, exc_info=True)
        return record

    async def discard_multipart(self, record: UploadSession) -> bool:
        """Abort an ended session's multipart upload if storage still has it (an Ente client may have
        completed it through its completeURL, which storage answers without us). True if it did."""
        if not record.multipart_upload_id:
            return False
        try:
            await self.driver.list_parts(record.object_key, record.multipart_upload_id)
        except NotFound:
            return False
        await self.driver.abort_multipart(record.object_key, record.multipart_upload_id)
        return True
