"""File data's queries. Each works in the caller's session; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_metadata.filedata.kinds import FileDataType
from shoebox_metadata.kinds import ItemStatus
from shoebox_metadata.models import CollectionFile, FileData, FileDataUpload, Item

DIFF_LIMIT = 5000  # the real server's page of the status diff


async def entry(session: AsyncSession, item_id: int, kind: FileDataType, *, lock: bool = False) -> FileData | None:
    return await session.get(FileData, (item_id, kind.value), with_for_update=lock)


async def entries_of(session: AsyncSession, item_ids: Sequence[int], kind: FileDataType) -> list[FileData]:
    return list((await session.execute(
        select(FileData).where(FileData.item_id.in_(list(item_ids)), FileData.type == kind.value)
    )).scalars())


async def entries_of_item(session: AsyncSession, item_id: int, *, lock: bool = False) -> list[FileData]:
    query = select(FileData).where(FileData.item_id == item_id).order_by(FileData.type)
    return list((await session.execute(query.with_for_update() if lock else query)).scalars())


async def changed_since(session: AsyncSession, owner_id: int, since: int) -> list[FileData]:
    """The owner's entries changed after `since`, oldest change first (one page)."""
    return list((await session.execute(
        select(FileData).where(FileData.owner_id == owner_id, FileData.updated_at > since)
        .order_by(FileData.updated_at).limit(DIFF_LIMIT)
    )).scalars())


async def in_a_collection(session: AsyncSession, item_id: int) -> bool:
    found = await session.execute(select(exists().where(
        CollectionFile.item_id == item_id, CollectionFile.is_deleted.is_(False))))
    return bool(found.scalar())


async def stored_in_collection(session: AsyncSession, collection_id: int, item_id: int) -> bool:
    """Whether the item is stored and currently in the collection (what a public link's viewer may see)."""
    found = await session.execute(select(exists().where(
        CollectionFile.collection_id == collection_id, CollectionFile.item_id == item_id,
        CollectionFile.is_deleted.is_(False), Item.id == CollectionFile.item_id, Item.status == ItemStatus.STORED)))
    return bool(found.scalar())


# --- preview uploads handed out and not committed yet -----------------------------------------------------

async def pending_upload(session: AsyncSession, owner_id: int, item_id: int, kind: FileDataType, object_id: str,
                         *, lock: bool = False) -> FileDataUpload | None:
    query = select(FileDataUpload).where(
        FileDataUpload.owner_id == owner_id, FileDataUpload.item_id == item_id,
        FileDataUpload.type == kind.value, FileDataUpload.object_id == object_id)
    return (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()


async def pending_uploads_of_item(session: AsyncSession, item_id: int) -> list[FileDataUpload]:
    return list((await session.execute(
        select(FileDataUpload).where(FileDataUpload.item_id == item_id))).scalars())


async def lapsed_uploads(session: AsyncSession, now: int, limit: int) -> list[FileDataUpload]:
    """Uploads that lapsed, locked and skipped by any other sweeper at work."""
    return list((await session.execute(
        select(FileDataUpload).where(FileDataUpload.expires_at < now).order_by(FileDataUpload.expires_at)
        .limit(limit).with_for_update(skip_locked=True)
    )).scalars())


async def forget_upload(session: AsyncSession, object_key: str) -> None:
    await session.execute(delete(FileDataUpload).where(FileDataUpload.object_key == object_key))
