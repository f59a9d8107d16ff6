"""The closed sets of values metadata stores as strings: statuses, roles, types, visibility, change kinds.

The tables keep the plain strings (no migration); the code compares and writes these members only.
"""

from __future__ import annotations

from enum import StrEnum


class ItemStatus(StrEnum):
    UPLOAD_PENDING = "upload_pending"  # declared (v1, Uppy); nothing uploaded yet
    STORED = "stored"
    TRASHED = "trashed"
    DELETED = "deleted"  # gone for good; the row stays so ids are never reused


class VariantStatus(StrEnum):
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class Visibility(StrEnum):
    PRIVATE = "private"
    PUBLIC = "public"
    UNLISTED = "unlisted"


class CollectionType(StrEnum):
    ALBUM = "album"
    FOLDER = "folder"
    FAVORITES = "favorites"
    UNCATEGORIZED = "uncategorized"


class Role(StrEnum):
    """One's standing in a collection: its owner, or what a share grants (VIEWER, COLLABORATOR)."""

    OWNER = "OWNER"
    VIEWER = "VIEWER"
    COLLABORATOR = "COLLABORATOR"


# What a share may grant: every role but the owner's.
SHARE_ROLES = (Role.VIEWER, Role.COLLABORATOR)


class FileLinkRole(StrEnum):
    VIEWER = "viewer"  # seed 003 writes its roles in lower case


class Change(StrEnum):
    """What an entry of an item's history records."""

    CREATED = "created"
    UPDATED = "updated"
    MAGIC = "magic"
    PUBLIC_MAGIC = "pub-magic"
    THUMBNAIL = "thumbnail"
    ADDED = "added"
    MOVED = "moved"
    TRASHED = "trashed"
    RESTORED = "restored"
    DELETED = "deleted"
