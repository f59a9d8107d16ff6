"""Where preview objects live: under their file owner's prefix, in the file-data folder of the layout
(`shoebox_lib.keys.file_data_object`), one fresh object per upload so that a retried or repeated upload
never overwrites the live one."""

from __future__ import annotations

import secrets

from shoebox_lib.keys import file_data_object
from shoebox_metadata.filedata.kinds import FileDataType

_ID_PREFIX = {FileDataType.VIDEO_PREVIEW: "pv", FileDataType.IMAGE_PREVIEW: "pi"}


def new_object_id(kind: FileDataType) -> str:
    """Like the real server's ids: the type's prefix and random hex."""
    return f"{_ID_PREFIX[kind]}_{secrets.token_hex(12)}"


def preview_object(owner_id: int, item_id: int, kind: FileDataType, object_id: str) -> str:
    """`u/<owner>/fd/<item>/<type>/<object id>`; the object id is one the server made (`new_object_id`)."""
    return file_data_object(owner_id, item_id, kind.value, object_id)
