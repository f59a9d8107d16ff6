"""The types of file data (Ente's `ObjectType`s that are derived data), and which route takes which."""

from __future__ import annotations

from enum import StrEnum


class FileDataType(StrEnum):
    ML_DATA = "mldata"  # an ML index: faces, CLIP embedding
    VIDEO_PREVIEW = "vid_preview"  # an HLS playlist here, the video in an object
    IMAGE_PREVIEW = "img_preview"  # an object only


# What `PUT /files/data` stores: the data itself, no object.
STORED_INLINE: tuple[FileDataType, ...] = (FileDataType.ML_DATA,)
# What `/files/data/fetch` returns (a preview video's entry is its playlist).
FETCHABLE: tuple[FileDataType, ...] = (FileDataType.ML_DATA, FileDataType.VIDEO_PREVIEW)
# What has an object uploaded through `/files/data/preview-upload-url`.
PREVIEWS: tuple[FileDataType, ...] = (FileDataType.VIDEO_PREVIEW, FileDataType.IMAGE_PREVIEW)
# What a public link's viewer may fetch.
LINK_FETCHABLE: tuple[FileDataType, ...] = (FileDataType.VIDEO_PREVIEW,)
