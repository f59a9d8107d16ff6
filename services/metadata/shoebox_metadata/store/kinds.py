"""The closed sets of values of the store: media types, permissions, history operations."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class MediaType(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    FILE = "file"


class StorePermission(StrEnum):
    """CL's permissions on the store, as tokens carry them."""

    READ = "media_store_read"
    WRITE = "media_store_write"


class Operation(IntEnum):
    """A version's `operation_type`, numbered as CL's history numbers them."""

    INSERT = 0
    UPDATE = 1
    DELETE = 2
