"""What the Ente face of the upload signer answers, in the real server's camelCase (ente-io/ente
`server/ente/file.go` UploadURL, MultipartUploadURLs), with seed 000's spellings beside them where the
seed reads the route differently (`partUrls`, `completeUrl`, `uploadId`)."""

from __future__ import annotations

from pydantic import BaseModel

from shoebox_uploads.models import UploadSession
from shoebox_uploads.signer.ente import MultipartURLs, UploadURL


class ObjectURL(BaseModel):
    """One presigned PUT of one object."""

    objectKey: str
    url: str

    @classmethod
    def of(cls, url: UploadURL) -> ObjectURL:
        return cls(objectKey=url.object_key, url=url.url)


class ObjectURLs(BaseModel):
    urls: list[ObjectURL]

    @classmethod
    def of(cls, urls: list[UploadURL]) -> ObjectURLs:
        return cls(urls=[ObjectURL.of(u) for u in urls])


class MultipartObject(BaseModel):
    """One multipart upload: a URL per part and the completeURL (a presigned S3 POST)."""

    objectKey: str
    partURLs: list[str]
    completeURL: str
    uploadId: str
    partUrls: list[str]
    completeUrl: str

    @classmethod
    def of(cls, urls: MultipartURLs) -> MultipartObject:
        return cls(objectKey=urls.object_key, partURLs=urls.part_urls, completeURL=urls.complete_url,
                   uploadId=urls.upload_id, partUrls=urls.part_urls, completeUrl=urls.complete_url)


class MultipartAnswer(BaseModel):
    """The real clients' reading: one object."""

    urls: MultipartObject


class SeedMultipartAnswer(BaseModel):
    """Seed 000's reading (`parts` given): `count` objects."""

    urls: list[MultipartObject]


class CompletedObject(BaseModel):
    """Seed 000's `POST /files/multipart-complete`."""

    objectKey: str
    uploadId: str
    size: int | None
    etag: str | None

    @classmethod
    def of(cls, record: UploadSession) -> CompletedObject:
        return cls(objectKey=record.object_key, uploadId=record.id, size=record.size_bytes, etag=record.etag)
