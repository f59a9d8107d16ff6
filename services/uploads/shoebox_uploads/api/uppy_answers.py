"""What the Uppy face answers: Companion's shapes (`@uppy/companion` `src/server/controllers/s3.js`), which
`@uppy/aws-s3` v4 to v6 read; field names as Companion spells them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from shoebox_lib.storage.base import PartInfo


class CreatedUpload(BaseModel):
    key: str
    uploadId: str
    bucket: str


class SignedBatch(BaseModel):
    presignedUrls: dict[str, str]


class UppyPartURL(BaseModel):
    url: str
    method: Literal["PUT"]
    expires: int  # seconds; v4/v5 make it the part PUT's timeout


class ListedPart(BaseModel):
    # A number (v4/v5 compare it with ===), the ETag quoted as S3 lists it.
    PartNumber: int
    ETag: str
    Size: int

    @classmethod
    def of(cls, part: PartInfo) -> ListedPart:
        return cls(PartNumber=part.part_number, ETag=f'"{part.etag}"', Size=part.size)


class UppyCompleted(BaseModel):
    location: str  # the image's v1 address
    key: str
    bucket: str
    imageId: str


class Empty(BaseModel):
    """Companion's `{}` (v4/v5 parse the body as JSON, so it is never empty)."""

    model_config = ConfigDict(extra="forbid")


class FormParams(BaseModel):
    """A browser form upload straight to storage (S3's POST policy)."""

    method: Literal["POST"]
    url: str
    fields: dict[str, str]
    expires: int
