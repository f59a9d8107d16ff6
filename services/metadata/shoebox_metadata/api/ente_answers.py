"""What the Ente face answers, in the real Ente server's camelCase (ente-io/ente `server/ente/file.go`,
`collection.go`, `trash.go`), plus seed 000's extra fields where a route has two shapes (README: "Where the
seeds and the real APIs disagree"). Fields that are `null` on the wire are typed so and always present."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from shoebox_metadata.kinds import ItemStatus, Role
from shoebox_metadata.library.collections import CollectionView
from shoebox_metadata.library.reads import FileRecord, MembershipChange
from shoebox_metadata.models import Item, PublicLink, Share, TrashEntry


class Empty(BaseModel):
    """Ente's `{}`."""

    model_config = ConfigDict(extra="forbid")


class StoredMagicMetadata(BaseModel):
    """Magic metadata as the client sent it, its version moved by the server on every write."""

    version: int
    count: int
    data: str
    header: str


class ObjectAttributes(BaseModel):
    objectKey: str | None
    decryptionHeader: str
    size: int


class MetadataAttributes(BaseModel):
    encryptedData: str
    decryptionHeader: str


class FileInfo(BaseModel):
    fileSize: int
    thumbSize: int


class EnteFile(BaseModel):
    id: int
    ownerID: int
    collectionID: int
    encryptedKey: str
    keyDecryptionNonce: str
    file: ObjectAttributes
    thumbnail: ObjectAttributes
    metadata: MetadataAttributes
    isDeleted: bool
    updationTime: int
    magicMetadata: StoredMagicMetadata | None
    pubMagicMetadata: StoredMagicMetadata | None
    info: FileInfo


class CommittedFile(EnteFile):
    """`POST /files`: the Ente `File`, plus seed 000's `fileId`."""

    fileId: int


class UpdatedFile(BaseModel):
    id: int
    updationTime: int


class FileSizeInfo(BaseModel):
    id: int
    fileInfo: FileInfo


class FilesInfo(BaseModel):
    filesInfo: list[FileSizeInfo]


class FilesSize(BaseModel):
    size: int


class DuplicateGroup(BaseModel):
    sha256: str
    fileIDs: list[int]
    size: int


class Duplicates(BaseModel):
    duplicates: list[DuplicateGroup]


class Sharee(BaseModel):
    id: int
    email: str
    name: str
    role: str


class Sharees(BaseModel):
    sharees: list[Sharee]


class PublicURL(BaseModel):
    url: str
    deviceLimit: int
    validTill: int
    enableDownload: bool
    enableCollect: bool
    enableComment: bool
    enableJoin: bool
    passwordEnabled: bool
    nonce: str | None
    memLimit: int | None
    opsLimit: int | None


class PublicURLAnswer(BaseModel):
    result: PublicURL


class EnteCollection(BaseModel):
    id: int
    owner: Sharee
    encryptedKey: str
    keyDecryptionNonce: str
    name: str
    encryptedName: str
    nameDecryptionNonce: str
    type: str
    attributes: dict[str, Any]
    sharees: list[Sharee]
    publicURLs: list[PublicURL]
    updationTime: int
    updatedAtUs: int  # seed 000's name for updationTime
    isDeleted: bool
    magicMetadata: StoredMagicMetadata | None
    pubMagicMetadata: StoredMagicMetadata | None
    sharedMagicMetadata: StoredMagicMetadata | None
    app: str
    parentID: int | None


class CreatedCollection(EnteCollection):
    """Ente wraps the new collection in `collection`; seed 000 answers it bare: both."""

    collection: EnteCollection


class CollectionList(BaseModel):
    collections: list[EnteCollection]
    serverTime: int  # seed 000: the server's clock when it answered
    nextSince: int  # seed 000: the `sinceTime` of the next sync


class FileDiff(BaseModel):
    diff: list[EnteFile]
    hasMore: bool


class TrashedFile(BaseModel):
    file: EnteFile
    isDeleted: bool
    isRestored: bool
    deleteBy: int
    createdAt: int
    updatedAt: int


class TrashDiff(BaseModel):
    diff: list[TrashedFile]
    hasMore: bool
    items: list[TrashedFile]  # seed 000's name for the same list


class Deleted(BaseModel):
    deleted: int


class PublicCollectionInfo(BaseModel):
    collection: EnteCollection
    referralCode: str


class PasswordToken(BaseModel):
    jwtToken: str


MAGIC_FIELDS = tuple(StoredMagicMetadata.model_fields)


def _magic(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    return {name: stored[name] for name in MAGIC_FIELDS} if stored is not None else None


def _blob(key: str | None, header: str | None, size: int | None) -> dict[str, Any]:
    return {"objectKey": key, "decryptionHeader": header or "", "size": size or 0}


def file_fields(file: Item | FileRecord, collection_id: int, encrypted_key: str | None, nonce: str | None,
                updation_time: int, is_deleted: bool = False) -> dict[str, Any]:
    """An `EnteFile` as plain data: what a diff encodes straight to JSON, thousands at a time."""
    thumb_size = file.thumbnail_size or 0
    file_size = (file.size or 0) - thumb_size
    return {
        "id": file.id, "ownerID": file.owner_id, "collectionID": collection_id,
        "encryptedKey": encrypted_key or "", "keyDecryptionNonce": nonce or "",
        "file": _blob(file.object_key, file.file_decryption_header, file_size),
        "thumbnail": _blob(file.thumbnail_object_key, file.thumbnail_decryption_header, thumb_size),
        "metadata": {"encryptedData": file.metadata_encrypted_data or "",
                     "decryptionHeader": file.metadata_decryption_header or ""},
        "isDeleted": is_deleted or file.status != ItemStatus.STORED, "updationTime": updation_time,
        "magicMetadata": _magic(file.magic_metadata), "pubMagicMetadata": _magic(file.pub_magic_metadata),
        "info": {"fileSize": file_size, "thumbSize": thumb_size},
    }


def render_file(item: Item, collection_id: int = 0, encrypted_key: str | None = None, nonce: str | None = None,
                updation_time: int | None = None, is_deleted: bool = False) -> EnteFile:
    return EnteFile.model_validate(file_fields(
        item, collection_id, encrypted_key, nonce, item.updation_time if updation_time is None else updation_time,
        is_deleted))


def render_committed(item: Item, collection_id: int, encrypted_key: str, nonce: str) -> CommittedFile:
    rendered = render_file(item, collection_id, encrypted_key, nonce)
    return CommittedFile(**dict(rendered), fileId=item.id)


def change_fields(change: MembershipChange) -> dict[str, Any]:
    return file_fields(change.file, change.collection_id, change.encrypted_key, change.key_decryption_nonce,
                       change.updation_time, change.is_deleted)


DIFF_CHUNK = 500  # files encoded per chunk of a streamed diff


def streamed_diff(changes: list[MembershipChange], has_more: bool) -> StreamingResponse:
    """A `FileDiff` page encoded with orjson a chunk at a time and sent as it is encoded: a 2,500-file page
    is about 2 MB, and the pydantic path took ten times as long to make it."""
    async def body() -> AsyncIterator[bytes]:
        yield b'{"diff":['
        for start in range(0, len(changes), DIFF_CHUNK):
            encoded = orjson.dumps([change_fields(c) for c in changes[start:start + DIFF_CHUNK]])[1:-1]
            yield b"," + encoded if start else encoded
        yield b'],"hasMore":' + (b"true" if has_more else b"false") + b"}"

    return StreamingResponse(body(), media_type="application/json")


def render_sharee(share: Share) -> Sharee:
    return Sharee(id=share.user_id, email=share.email or "", name="", role=share.role)


def render_link(link: PublicLink, public_url: str) -> PublicURL:
    return PublicURL(
        url=f"{public_url.rstrip('/')}/?t={link.token}", deviceLimit=link.device_limit, validTill=link.valid_till,
        enableDownload=link.enable_download, enableCollect=link.enable_collect, enableComment=False,
        enableJoin=link.enable_join, passwordEnabled=link.password_hash is not None, nonce=link.nonce,
        memLimit=link.mem_limit, opsLimit=link.ops_limit,
    )


def render_collection(view: CollectionView, links: list[PublicLink], public_url: str) -> EnteCollection:
    c = view.collection
    caller_share = view.mine
    shared = caller_share is not None
    updated = max(c.updation_time, caller_share.updation_time if caller_share else 0)
    return EnteCollection(
        id=c.id, owner=Sharee(id=c.owner_id, email="", name="", role=Role.OWNER.value),
        # A sharee receives the collection key sealed to their public key, with no nonce.
        encryptedKey=(caller_share.encrypted_key if shared and caller_share else c.encrypted_key) or "",
        keyDecryptionNonce="" if shared else c.key_decryption_nonce or "",
        name=c.name or "", encryptedName=c.encrypted_name or "", nameDecryptionNonce=c.name_decryption_nonce or "",
        type=c.type, attributes=c.attributes or {},
        sharees=[render_sharee(s) for s in view.shares],
        publicURLs=[] if shared else [render_link(link, public_url) for link in links if not link.is_disabled],
        updationTime=updated, updatedAtUs=updated, isDeleted=c.is_deleted or view.removed,
        magicMetadata=_magic(c.magic_metadata), pubMagicMetadata=_magic(c.pub_magic_metadata),
        sharedMagicMetadata=_magic(c.shared_magic_metadata), app=c.app, parentID=c.parent_id,
    )


def render_created(collection: EnteCollection) -> CreatedCollection:
    return CreatedCollection(**dict(collection), collection=collection)


def render_trash(entry: TrashEntry, item: Item) -> TrashedFile:
    return TrashedFile(
        file=render_file(item, entry.collection_id or 0, updation_time=entry.updated_at),
        isDeleted=entry.is_deleted, isRestored=entry.is_restored, deleteBy=entry.delete_by,
        createdAt=entry.created_at, updatedAt=entry.updated_at,
    )
