"""What every upload face accepts, bounded at the edge (`shoebox_lib.web.inputs`): integers within bigint
or S3's part range, text without NUL or other control characters and no longer than its column. A value
outside them is the face's 400, never a 500 from deeper down."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

from shoebox_lib.storage.base import MAX_PART_NUMBER, MIN_PART_NUMBER
from shoebox_lib.web.inputs import BIGINT_MAX, Text

# A session's id as the faces hand it out (`up_…`); any other text is nobody's session (404).
SessionId = Annotated[Text, Path(min_length=1, max_length=64)]
PartNumberInPath = Annotated[int, Path(ge=MIN_PART_NUMBER, le=MAX_PART_NUMBER)]
PartNumber = Annotated[int, Field(ge=MIN_PART_NUMBER, le=MAX_PART_NUMBER)]
ETag = Annotated[Text, Field(min_length=1, max_length=200)]
# The widths of the session's columns.
ContentType = Annotated[Text, Field(max_length=255)]
Filename = Annotated[Text, Field(max_length=1024)]
ObjectKey = Annotated[Text, Field(min_length=1, max_length=1024)]
KeyInQuery = Annotated[Text, Query(min_length=1, max_length=1024)]
# A size in bytes; what storage accepts is the core's check, this keeps it a bigint.
Bytes = Annotated[int, Field(ge=0, le=BIGINT_MAX)]
PositiveBytes = Annotated[int, Field(ge=1, le=BIGINT_MAX)]
