"""The Ente face's JSON: request models and renderers, with the real clients' field names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from shoebox_lib.errors import InvalidInput
from shoebox_metadata.kinds import CollectionType, ItemStatus, Role
from shoebox_metadata.library.collections import CollectionView
from shoebox_metadata.library.files import NewFile
from shoebox_metadata.library.membership import FileInCollection
from shoebox_metadata.library.objects import Blob
from shoebox_metadata.models import Item, PublicLink, Share, TrashEntry

MAX_IDS = 1000


def since_time(sinceTime: str = Query("0", max_length=64)) -> int:
    """Ente sends microseconds; seed 000 also allows an ISO-8601 time."""
    text = sinceTime.strip()
    if text.lstrip("-").isdigit():
        value = int(text)
    else:
        try:
            value = int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1_000_000)
        except ValueError:
            raise InvalidInput("sinceTime must be microseconds or an ISO-8601 time") from None
    if value < 0:
        raise InvalidInput("sinceTime must not be negative")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="ignore")


class MagicMetadata(Strict):
    version: int = Field(ge=0)
    count: int = Field(ge=0)
    data: str = Field(max_length=1_000_000)
    header: str = Field(max_length=1000)


class Attributes(Strict):
    objectKey: str | None = Field(default=None, max_length=1024)
    encryptedData: str | None = Field(default=None, max_length=10_000_000)
    decryptionHeader: str = Field(max_length=1000)
    size: int = Field(default=0, ge=0)


class FileBody(Strict):
    id: int = 0
    collectionID: int
    encryptedKey: str = Field(max_length=1000)
    keyDecryptionNonce: str = Field(max_length=1000)
    file: Attributes
    thumbnail: Attributes
    metadata: Attributes
    magicMetadata: MagicMetadata | None = None
    pubMagicMetadata: MagicMetadata | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")


class TrashItem(Strict):
    fileID: int
    collectionID: int


class TrashBody(Strict):
    """Ente sends `items` (file and collection); seed 000 sends `fileIds` (from every collection)."""

    items: list[TrashItem] = Field(default_factory=list, max_length=MAX_IDS)
    fileIds: list[int] = Field(default_factory=list, max_length=MAX_IDS)


class FileIDs(Strict):
    fileIDs: list[int] = Field(min_length=1, max_length=MAX_IDS)


class MagicUpdate(Strict):
    id: int
    magicMetadata: MagicMetadata


class MagicBody(Strict):
    metadataList: list[MagicUpdate] = Field(min_length=1, max_length=MAX_IDS)


class CollectionBody(Strict):
    encryptedKey: str = Field(max_length=1000)
    keyDecryptionNonce: str = Field(max_length=1000)
    encryptedName: str | None = Field(default=None, max_length=10_000)
    nameDecryptionNonce: str | None = Field(default=None, max_length=1000)
    name: str | None = Field(default=None, max_length=1000)
    type: str = CollectionType.ALBUM  # checked by the core, which names the types it knows
    attributes: dict[str, Any] = Field(default_factory=dict)
    magicMetadata: MagicMetadata | None = None
    pubMagicMetadata: MagicMetadata | None = None
    app: str = Field(default="photos", max_length=32)


class FileKeyBody(Strict):
    id: int
    encryptedKey: str = Field(max_length=1000)
    keyDecryptionNonce: str = Field(max_length=1000)


class AddFilesBody(Strict):
    collectionID: int
    files: list[FileKeyBody] = Field(min_length=1, max_length=MAX_IDS)


class MoveFilesBody(Strict):
    fromCollectionID: int
    toCollectionID: int
    files: list[FileKeyBody] = Field(min_length=1, max_length=MAX_IDS)


class RemoveFilesBody(Strict):
    collectionID: int
    fileIDs: list[int] = Field(min_length=1, max_length=MAX_IDS)


class ShareBody(Strict):
    collectionID: int
    email: str = Field(min_length=3, max_length=320)
    encryptedKey: str | None = Field(default=None, max_length=1000)
    role: str = Role.VIEWER


class EmptyTrashBody(Strict):
    """Ente sends `lastUpdatedAt` (entries up to then); seed 000 sends `confirm` (everything now)."""

    lastUpdatedAt: int | None = None
    confirm: bool = False


def new_file(body: FileBody, *, guest: bool = False) -> NewFile:
    """The file a commit describes. A guest of a link sets neither the owner's private magic metadata nor
    the hash."""
    return NewFile(
        collection_id=body.collectionID, encrypted_key=body.encryptedKey, key_decryption_nonce=body.keyDecryptionNonce,
        file=Blob(body.file.objectKey or "", body.file.size, body.file.decryptionHeader),
        thumbnail=Blob(body.thumbnail.objectKey or "", body.thumbnail.size, body.thumbnail.decryptionHeader),
        metadata_encrypted_data=body.metadata.encryptedData or "",
        metadata_decryption_header=body.metadata.decryptionHeader,
        magic_metadata=body.magicMetadata.model_dump() if body.magicMetadata and not guest else None,
        pub_magic_metadata=body.pubMagicMetadata.model_dump() if body.pubMagicMetadata else None,
        sha256=body.sha256.lower() if body.sha256 and not guest else None,
    )


def _blob(key: str | None, header: str | None, size: int | None) -> dict[str, Any]:
    return {"objectKey": key, "decryptionHeader": header or "", "size": size or 0}


def render_file(item: Item, collection_id: int = 0, encrypted_key: str | None = None, nonce: str | None = None,
                updation_time: int | None = None, is_deleted: bool = False) -> dict[str, Any]:
    thumb_size = item.thumbnail_size or 0
    file_size = (item.size or 0) - thumb_size
    return {
        "id": item.id, "ownerID": item.owner_id, "collectionID": collection_id,
        "encryptedKey": encrypted_key or "", "keyDecryptionNonce": nonce or "",
        "file": _blob(item.object_key, item.file_decryption_header, file_size),
        "thumbnail": _blob(item.thumbnail_object_key, item.thumbnail_decryption_header, thumb_size),
        "metadata": {"encryptedData": item.metadata_encrypted_data or "",
                     "decryptionHeader": item.metadata_decryption_header or ""},
        "isDeleted": is_deleted or item.status != ItemStatus.STORED,
        "updationTime": updation_time if updation_time is not None else item.updation_time,
        "magicMetadata": item.magic_metadata, "pubMagicMetadata": item.pub_magic_metadata,
        "info": {"fileSize": file_size, "thumbSize": thumb_size},
    }


def render_membership(entry: FileInCollection) -> dict[str, Any]:
    m = entry.membership
    return render_file(entry.item, m.collection_id, m.encrypted_key, m.key_decryption_nonce, m.updation_time,
                       m.is_deleted)


def render_sharee(share: Share) -> dict[str, Any]:
    return {"id": share.user_id, "email": share.email or "", "name": "", "role": share.role}


def render_link(link: PublicLink, public_url: str) -> dict[str, Any]:
    return {
        "url": f"{public_url.rstrip('/')}/?t={link.token}", "deviceLimit": link.device_limit,
        "validTill": link.valid_till, "enableDownload": link.enable_download, "enableCollect": link.enable_collect,
        "enableComment": False, "enableJoin": link.enable_join, "passwordEnabled": link.password_hash is not None,
        "nonce": link.nonce, "memLimit": link.mem_limit, "opsLimit": link.ops_limit,
    }


def render_collection(view: CollectionView, links: list[PublicLink], public_url: str) -> dict[str, Any]:
    c = view.collection
    caller_share = view.mine
    shared = caller_share is not None
    return {
        "id": c.id, "owner": {"id": c.owner_id, "email": "", "name": "", "role": Role.OWNER.value},
        # A sharee receives the collection key sealed to their public key, with no nonce.
        "encryptedKey": (caller_share.encrypted_key if shared and caller_share else c.encrypted_key) or "",
        "keyDecryptionNonce": "" if shared else c.key_decryption_nonce or "",
        "name": c.name or "", "encryptedName": c.encrypted_name or "",
        "nameDecryptionNonce": c.name_decryption_nonce or "",
        "type": c.type, "attributes": c.attributes or {}, "sharees": [render_sharee(s) for s in view.shares],
        "publicURLs": [] if shared else [render_link(link, public_url) for link in links if not link.is_disabled],
        "updationTime": max(c.updation_time, caller_share.updation_time if caller_share else 0),
        "updatedAtUs": max(c.updation_time, caller_share.updation_time if caller_share else 0),
        "isDeleted": c.is_deleted or view.removed, "magicMetadata": c.magic_metadata,
        "pubMagicMetadata": c.pub_magic_metadata, "sharedMagicMetadata": c.shared_magic_metadata, "app": c.app,
        "parentID": c.parent_id,
    }


def render_trash(entry: TrashEntry, item: Item) -> dict[str, Any]:
    return {
        "file": render_file(item, entry.collection_id or 0, updation_time=entry.updated_at),
        "isDeleted": entry.is_deleted, "isRestored": entry.is_restored, "deleteBy": entry.delete_by,
        "createdAt": entry.created_at, "updatedAt": entry.updated_at,
    }
