from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Sequence,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shoebox_lib.bus import bus_tables
from shoebox_metadata.kinds import CollectionType, FileLinkRole, ItemStatus, Role, VariantStatus, Visibility

SCHEMA = "metadata"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


BUS = bus_tables(Base.metadata)

# Items and collections draw their ids from one sequence: CL's entities are both, in one id space, and an
# id only ever increases and is never reused.
LIBRARY_IDS = Sequence("library_ids", schema=SCHEMA, metadata=Base.metadata, start=10000)


class Item(Base):
    """A file in the library: a photo, a video, or an end-to-end-encrypted blob."""

    __tablename__ = "items"
    __table_args__ = (
        # A shared space's file content is stored once among its live files (CL's duplicate check, decided
        # by the database so that two concurrent uploads cannot both pass it).
        Index("uq_items_live_md5", "owner_id", "md5", unique=True,
              postgresql_where=text("md5 IS NOT NULL AND status = 'stored'")),
        Index("ix_items_owner_created", "owner_id", "created_at", "id"),
        Index("ix_items_owner_id", "owner_id", "id"),  # an owner's images, newest first (v1's own list)
        # What the store audit asks of every object it lists: does a row name it?
        Index("ix_items_object_key", "object_key"),
        Index("ix_items_thumbnail_object_key", "thumbnail_object_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger, LIBRARY_IDS, primary_key=True,
                                    server_default=LIBRARY_IDS.next_value())
    owner_id: Mapped[int] = mapped_column(BigInteger, index=True)
    filename: Mapped[str] = mapped_column(String(1024))
    content_type: Mapped[str | None] = mapped_column(String(255))
    declared_size: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int | None] = mapped_column(BigInteger)
    client_sha256: Mapped[str | None] = mapped_column(String(64))
    sha256: Mapped[str | None] = mapped_column(String(64))
    visibility: Mapped[str] = mapped_column(String(16), default=Visibility.PRIVATE)
    title: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSONB, default=list)
    status: Mapped[str] = mapped_column(String(24), default=ItemStatus.UPLOAD_PENDING)
    object_key: Mapped[str | None] = mapped_column(String(1024))
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    format: Mapped[str | None] = mapped_column(String(32))
    extracted: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())
    stored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The id of the item.stored that announced the original, so the reconciler can send it again under that
    # id (consumers that applied it skip it); None for originals announced before ids were kept.
    announcement_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    reannounced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # End-to-end-encrypted attributes (the Ente face), kept exactly as the client sent them.
    file_decryption_header: Mapped[str | None] = mapped_column(Text)
    thumbnail_object_key: Mapped[str | None] = mapped_column(String(1024))
    thumbnail_decryption_header: Mapped[str | None] = mapped_column(Text)
    thumbnail_size: Mapped[int | None] = mapped_column(BigInteger)
    metadata_encrypted_data: Mapped[str | None] = mapped_column(Text)
    metadata_decryption_header: Mapped[str | None] = mapped_column(Text)
    magic_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    pub_magic_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The owner's change clock when this item last changed (microseconds).
    updation_time: Mapped[int] = mapped_column(BigInteger, default=0)
    # What a shared space (CL's store) keeps of a file besides the above.
    description: Mapped[str | None] = mapped_column(Text)
    md5: Mapped[str | None] = mapped_column(String(32))  # hex MD5 of the file's bytes
    media_type: Mapped[str | None] = mapped_column(String(16))  # a `store.kinds.MediaType`
    extension: Mapped[str | None] = mapped_column(String(16))
    duration: Mapped[float | None] = mapped_column(Float)  # seconds
    taken_at: Mapped[int | None] = mapped_column(BigInteger)  # ms, from the file's EXIF
    added_by: Mapped[int | None] = mapped_column(BigInteger)
    updated_by: Mapped[int | None] = mapped_column(BigInteger)


class Variant(Base):
    """A derived rendition of an item (a thumbnail), made by compute."""

    __tablename__ = "variants"

    item_id: Mapped[int] = mapped_column(ForeignKey(Item.id, ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=VariantStatus.PROCESSING)
    object_key: Mapped[str | None] = mapped_column(String(1024))
    content_type: Mapped[str | None] = mapped_column(String(255))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    size: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())


class Copy(Base):
    """Where an item's objects have verified copies, as the replicator reports them."""

    __tablename__ = "copies"

    object_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    tier: Mapped[str] = mapped_column(String(16), primary_key=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey(Item.id, ondelete="CASCADE"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BadCopy(Base):
    """The latest report about a tier's copy of an object: bad (found missing, truncated or hashing wrong, so
    reads skip that tier) while `repaired_at` is null; good again since `repaired_at`. The row stays once
    repaired, so an older report arriving late (each kind has its own consumer) cannot undo a newer one. No
    foreign key on `item_id`: an event about an object no item names (or names no more) must still apply, not
    poison its consumer."""

    __tablename__ = "bad_copies"

    object_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    tier: Mapped[str] = mapped_column(String(16), primary_key=True)
    item_id: Mapped[int | None] = mapped_column(BigInteger)
    found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    repaired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DamagedObject(Base):
    """An object with no good copy on any tier (`object.damaged`): never served, reported until a good copy is
    back (`replica.repaired`)."""

    __tablename__ = "damaged_objects"

    object_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    item_id: Mapped[int | None] = mapped_column(BigInteger)
    owner_id: Mapped[int | None] = mapped_column(BigInteger)
    found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Account(Base):
    """One owner's storage accounting. Quota checks are single conditional UPDATEs on this row, so
    concurrent commits and reservations can never together pass the quota."""

    __tablename__ = "accounts"

    owner_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    quota_bytes: Mapped[int] = mapped_column(BigInteger)
    bonus_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    used_bytes: Mapped[int] = mapped_column(BigInteger, default=0)  # PRIMARY copies only; replicas are free
    reserved_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    file_count: Mapped[int] = mapped_column(BigInteger, default=0)
    # The owner's change clock (microseconds, strictly increasing): see `clock.py`.
    clock_us: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())


class Reservation(Base):
    """Bytes held for an upload in progress (the upload signer asks when a session starts)."""

    __tablename__ = "reservations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[int] = mapped_column(BigInteger, index=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Collection(Base):
    """An album or folder; nested through parent_id; its name plaintext (v1, CL) or encrypted (Ente)."""

    __tablename__ = "collections"
    __table_args__ = (Index("ix_collections_owner_created", "owner_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, LIBRARY_IDS, primary_key=True,
                                    server_default=LIBRARY_IDS.next_value())
    owner_id: Mapped[int] = mapped_column(BigInteger, index=True)
    type: Mapped[str] = mapped_column(String(32), default=CollectionType.ALBUM)
    name: Mapped[str | None] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("metadata.collections.id", ondelete="SET NULL"))
    encrypted_key: Mapped[str | None] = mapped_column(Text)
    key_decryption_nonce: Mapped[str | None] = mapped_column(Text)
    encrypted_name: Mapped[str | None] = mapped_column(Text)
    name_decryption_nonce: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    magic_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    pub_magic_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    shared_magic_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    app: Mapped[str] = mapped_column(String(32), default="photos")
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    updation_time: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # A shared space's collections (CL's): a description, who did what, and a soft delete that can be
    # undone (`is_deleted` above is Ente's: gone for good).
    description: Mapped[str | None] = mapped_column(Text)
    added_by: Mapped[int | None] = mapped_column(BigInteger)
    updated_by: Mapped[int | None] = mapped_column(BigInteger)
    is_trashed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())
    # A v1 album's cover; it goes back to none when its image is deleted for good.
    cover_item_id: Mapped[int | None] = mapped_column(ForeignKey(Item.id, ondelete="SET NULL"))


class CollectionFile(Base):
    """An item in a collection, with the item's key encrypted under that collection's key."""

    __tablename__ = "collection_files"
    __table_args__ = (
        Index("ix_collection_files_diff", "collection_id", "updation_time"),
        # A v1 album's images, paged by when each was added (the owner's clock: unique, only ever growing).
        Index("ix_collection_files_page", "collection_id", "added_at", "item_id"),
    )

    collection_id: Mapped[int] = mapped_column(ForeignKey(Collection.id, ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey(Item.id, ondelete="CASCADE"), primary_key=True, index=True)
    encrypted_key: Mapped[str | None] = mapped_column(Text)
    key_decryption_nonce: Mapped[str | None] = mapped_column(Text)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    updation_time: Mapped[int] = mapped_column(BigInteger)
    added_by: Mapped[int] = mapped_column(BigInteger)
    added_at: Mapped[int] = mapped_column(BigInteger)


class Share(Base):
    """A collection shared with another user."""

    __tablename__ = "shares"

    collection_id: Mapped[int] = mapped_column(ForeignKey(Collection.id, ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16), default=Role.VIEWER)
    encrypted_key: Mapped[str | None] = mapped_column(Text)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    updation_time: Mapped[int] = mapped_column(BigInteger)


class PublicLink(Base):
    """A public link to a collection. The token is unguessable; a password is stored hashed."""

    __tablename__ = "public_links"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey(Collection.id, ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    device_limit: Mapped[int] = mapped_column(Integer, default=0)
    valid_till: Mapped[int] = mapped_column(BigInteger, default=0)  # microseconds; 0 = no expiry
    is_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(Text)
    mem_limit: Mapped[int | None] = mapped_column(BigInteger)
    ops_limit: Mapped[int | None] = mapped_column(BigInteger)
    enable_download: Mapped[bool] = mapped_column(Boolean, default=True)
    enable_collect: Mapped[bool] = mapped_column(Boolean, default=False)
    enable_join: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class TrashEntry(Base):
    __tablename__ = "trash"
    __table_args__ = (
        Index("ix_trash_diff", "owner_id", "updated_at"),
        # What the purge asks every minute: what is due.
        Index("ix_trash_due", "delete_by", postgresql_where=text("NOT is_deleted AND NOT is_restored")),
    )

    item_id: Mapped[int] = mapped_column(ForeignKey(Item.id, ondelete="CASCADE"), primary_key=True)
    owner_id: Mapped[int] = mapped_column(BigInteger)
    collection_id: Mapped[int | None] = mapped_column(BigInteger)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    is_restored: Mapped[bool] = mapped_column(Boolean, default=False)
    delete_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class ItemVersion(Base):
    """Append-only history of every change to an item's metadata."""

    __tablename__ = "item_versions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    item_id: Mapped[int] = mapped_column(BigInteger, index=True)
    at: Mapped[int] = mapped_column(BigInteger)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    change: Mapped[str] = mapped_column(String(32))  # a `kinds.Change`
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class FileLink(Base):
    """A link to one file (v1 image shares, seed 000's `/public/files/{token}`)."""

    __tablename__ = "file_links"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey(Item.id, ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16), default=FileLinkRole.VIEWER)
    expires_at: Mapped[int] = mapped_column(BigInteger, default=0)  # microseconds; 0 = no expiry
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)


# --- Ente Auth (the 2FA app) and file data: what clients encrypt, kept exactly as they sent it -------------

class AuthenticatorKey(Base):
    """A user's Ente Auth key, sealed by their client with their master key (`header` is the nonce)."""

    __tablename__ = "authenticator_keys"

    owner_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    encrypted_key: Mapped[str] = mapped_column(Text)
    header: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)


class AuthenticatorEntity(Base):
    """One Ente Auth code, encrypted under the Auth key. A deleted one stays, without its data, so that the
    diff tells every device; its times are the owner's change clock (`clock.py`), unique per owner."""

    __tablename__ = "authenticator_entities"
    __table_args__ = (
        Index("ix_authenticator_entities_diff", "owner_id", "updated_at", unique=True),
        CheckConstraint("is_deleted = (encrypted_data IS NULL)", name="authenticator_entities_deleted_has_no_data"),
    )

    id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey(AuthenticatorKey.owner_id, ondelete="CASCADE"))
    encrypted_data: Mapped[str | None] = mapped_column(Text)
    header: Mapped[str | None] = mapped_column(Text)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class FileData(Base):
    """Data a client derived from a file and encrypted with the file's key: an ML index, a preview video's
    playlist (with the object holding the video) or a preview image. One row per file and type, owned by
    the file's owner and timed by that owner's change clock."""

    __tablename__ = "file_data"
    __table_args__ = (Index("ix_file_data_diff", "owner_id", "updated_at", unique=True),)

    item_id: Mapped[int] = mapped_column(ForeignKey(Item.id, ondelete="CASCADE"), primary_key=True)
    type: Mapped[str] = mapped_column(String(16), primary_key=True)  # a `filedata.kinds.FileDataType`
    owner_id: Mapped[int] = mapped_column(BigInteger)
    encrypted_data: Mapped[str | None] = mapped_column(Text)
    decryption_header: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    object_id: Mapped[str | None] = mapped_column(String(64))
    object_key: Mapped[str | None] = mapped_column(String(1024))
    object_nonce: Mapped[str | None] = mapped_column(Text)
    object_size: Mapped[int | None] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class FileDataUpload(Base):
    """A preview object handed out for upload and not committed yet: swept (object deleted, multipart
    upload aborted) once it lapses."""

    __tablename__ = "file_data_uploads"

    object_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    owner_id: Mapped[int] = mapped_column(BigInteger)
    item_id: Mapped[int] = mapped_column(ForeignKey(Item.id, ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str] = mapped_column(String(64))
    multipart_upload_id: Mapped[str | None] = mapped_column(String(1024))
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)  # microseconds


class SpacePreference(Base):
    """How a shared space is opened (CL's store: whether reading it needs a permission), and who last set it."""

    __tablename__ = "space_preferences"

    space_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    read_auth_enabled: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[int | None] = mapped_column(BigInteger)  # ms
    updated_by: Mapped[str | None] = mapped_column(String(255))


# The search indexes on items, declared beside the SQL they serve (migration 0008).
from shoebox_metadata.search import document as _search_document  # noqa: E402, F401
