"""What the Ente face accepts: request models with the real clients' field names, every value bounded at the
edge (`shoebox_lib.web.inputs`): integers within bigint, text without NUL or other control characters,
object keys that storage could name, and free-form fields capped far above what a real client sends.
The answers are in `ente_answers`."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shoebox_lib.errors import InvalidInput
from shoebox_lib.storage.base import check_key
from shoebox_lib.web.inputs import BIGINT_MAX, Id64, Int64, NonNegative64, Text, bounded_json
from shoebox_metadata.kinds import CollectionType, Role
from shoebox_metadata.library.files import NewFile
from shoebox_metadata.library.objects import Blob

MAX_IDS = 1000
# Real Ente clients send encrypted metadata and magic metadata of a few hundred bytes to a few KB, and
# collection attributes (an encrypted folder path) of well under one; these caps leave them room a
# hundredfold and keep one row from weighing on every sync that returns it.
MAX_ENCRYPTED = 64 * 1024
MAX_ATTRIBUTES = 16 * 1024
MAX_NAME = 10_000

# Keys, nonces and decryption headers: base64 of some dozens of bytes.
Sealed = Annotated[Text, Field(max_length=1000)]
Encrypted = Annotated[Text, Field(max_length=MAX_ENCRYPTED)]


def _numbers_within_bigint(value: Any) -> Any:
    """Free-form JSON is stored as sent, but its integers must still fit the int64 a real client reads back."""
    if isinstance(value, dict):
        for inner in value.values():
            _numbers_within_bigint(inner)
    elif isinstance(value, list):
        for inner in value:
            _numbers_within_bigint(inner)
    elif isinstance(value, int) and not -BIGINT_MAX - 1 <= value <= BIGINT_MAX:
        raise ValueError("integers must fit in 64 bits")
    return value


Attributes64 = Annotated[dict[str, Any], bounded_json(MAX_ATTRIBUTES), AfterValidator(_numbers_within_bigint)]


def _object_key(value: str) -> str:
    """A key storage could name (`check_key`): `..`, `//`, a leading `/`, a space or a control character is
    the client's error before anything looks it up. (Whether the key was handed out to the caller is the
    core's check; an empty key is reported by the core as missing.)"""
    if value:
        try:
            check_key(value)
        except ValueError:
            raise ValueError("must be an object key handed out by the upload signer") from None
    return value


ObjectKey = Annotated[str, Field(max_length=1024), AfterValidator(_object_key)]

_MICROSECONDS = re.compile(r"[0-9]{1,19}")  # ASCII digits only: `str.isdigit` takes "٣" too


async def since_time(sinceTime: Annotated[Text, Query(max_length=64)] = "0") -> int:
    """Ente sends microseconds; seed 000 also allows an ISO-8601 time. Within bigint, never negative."""
    text = sinceTime.strip()
    if text.startswith("-") and _MICROSECONDS.fullmatch(text[1:]):
        raise InvalidInput("sinceTime must not be negative")
    if _MICROSECONDS.fullmatch(text):
        value = int(text)
    else:
        try:
            if not text.isascii():
                raise ValueError(text)
            value = int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1_000_000)
        except (ValueError, OverflowError):
            raise InvalidInput("sinceTime must be microseconds or an ISO-8601 time") from None
    if value < 0:
        raise InvalidInput("sinceTime must not be negative")
    if value > BIGINT_MAX:
        raise InvalidInput("sinceTime is out of range")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="ignore")


class MagicMetadata(Strict):
    version: NonNegative64
    count: NonNegative64
    data: Encrypted
    header: Sealed


class Attributes(Strict):
    objectKey: ObjectKey | None = None
    encryptedData: Encrypted | None = None
    decryptionHeader: Sealed
    size: NonNegative64 = 0


class FileBody(Strict):
    id: NonNegative64 = 0
    collectionID: NonNegative64  # a guest of a link may send 0: the link's collection
    encryptedKey: Sealed
    keyDecryptionNonce: Sealed
    file: Attributes
    thumbnail: Attributes
    metadata: Attributes
    magicMetadata: MagicMetadata | None = None
    pubMagicMetadata: MagicMetadata | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")


class TrashItem(Strict):
    fileID: Id64
    collectionID: Id64


class TrashBody(Strict):
    """Ente sends `items` (file and collection); seed 000 sends `fileIds` (from every collection)."""

    items: list[TrashItem] = Field(default_factory=list, max_length=MAX_IDS)
    fileIds: list[Id64] = Field(default_factory=list, max_length=MAX_IDS)


class FileIDs(Strict):
    fileIDs: list[Id64] = Field(min_length=1, max_length=MAX_IDS)


class MagicUpdate(Strict):
    id: Id64
    magicMetadata: MagicMetadata


class MagicBody(Strict):
    metadataList: list[MagicUpdate] = Field(min_length=1, max_length=MAX_IDS)


class CollectionBody(Strict):
    encryptedKey: Sealed
    keyDecryptionNonce: Sealed
    encryptedName: Annotated[Text, Field(max_length=MAX_NAME)] | None = None
    nameDecryptionNonce: Sealed | None = None
    name: Annotated[Text, Field(max_length=1000)] | None = None
    type: Annotated[Text, Field(max_length=32)] = CollectionType.ALBUM  # checked by the core, which knows the types
    attributes: Attributes64 = Field(default_factory=dict)
    magicMetadata: MagicMetadata | None = None
    pubMagicMetadata: MagicMetadata | None = None
    app: Annotated[Text, Field(max_length=32)] = "photos"


class FileKeyBody(Strict):
    id: Id64
    encryptedKey: Sealed
    keyDecryptionNonce: Sealed


class AddFilesBody(Strict):
    collectionID: Id64
    files: list[FileKeyBody] = Field(min_length=1, max_length=MAX_IDS)


class MoveFilesBody(Strict):
    fromCollectionID: Id64
    toCollectionID: Id64
    files: list[FileKeyBody] = Field(min_length=1, max_length=MAX_IDS)


class RemoveFilesBody(Strict):
    collectionID: Id64
    fileIDs: list[Id64] = Field(min_length=1, max_length=MAX_IDS)


class ShareBody(Strict):
    collectionID: Id64
    email: Annotated[Text, Field(min_length=3, max_length=320)]
    encryptedKey: Sealed | None = None
    role: Annotated[Text, Field(max_length=32)] = Role.VIEWER


class EmptyTrashBody(Strict):
    """Ente sends `lastUpdatedAt` (entries up to then); seed 000 sends `confirm` (everything now)."""

    lastUpdatedAt: Int64 | None = None
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
