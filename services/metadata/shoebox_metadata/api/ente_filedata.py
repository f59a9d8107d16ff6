"""File data (`/files/data…`, `/files/video-data`, and the public-link reads under `/public-collection/files/
data…`), with the real server's shapes. Thin: the rules are in `filedata.service`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from shoebox_lib.auth import CurrentUser
from shoebox_lib.errors import NotFound
from shoebox_lib.web.inputs import Id64, Int64, NonNegative64, Text
from shoebox_metadata.api.deps import FileDataDep, LinksDep
from shoebox_metadata.filedata.kinds import FileDataType
from shoebox_metadata.filedata.service import Fetched, PreviewUpload, Sealed, VideoPreview
from shoebox_metadata.library.links import LinkAccess
from shoebox_metadata.models import FileData

router = APIRouter(tags=["ente-file-data"])
link_router = APIRouter(tags=["ente-file-data"])

# The real server bounds none of these (its data goes to S3). An ML index is gzipped JSON of face and CLIP
# embeddings, tens to a few hundred KB in base64; a playlist a few KB. The router's mount reads bodies of up
# to MAX_BODY.
MAX_DATA = 6 * 1024 * 1024
MAX_HEADER = 1024
MAX_BODY = 8 * 1024 * 1024
MAX_FETCH = 200  # ids per POST /files/data/fetch, as on the real server
MAX_VERSION = 2**31 - 1


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PutFileDataBody(Body):
    fileID: Id64
    type: FileDataType
    encryptedData: Text | None = Field(default=None, max_length=MAX_DATA)
    decryptionHeader: Text | None = Field(default=None, max_length=MAX_HEADER)
    version: int | None = Field(default=None, ge=0, le=MAX_VERSION)
    lastUpdatedAt: Int64 | None = None


class VideoDataBody(Body):
    fileID: Id64
    objectID: Text = Field(min_length=1, max_length=64)
    objectSize: Id64
    playlist: Text = Field(min_length=1, max_length=MAX_DATA)
    playlistHeader: Text = Field(min_length=1, max_length=MAX_HEADER)
    version: int | None = Field(default=None, ge=0, le=MAX_VERSION)


class FetchBody(Body):
    fileIDs: list[Id64] = Field(min_length=1, max_length=MAX_FETCH)
    type: FileDataType


class StatusDiffBody(Body):
    lastUpdatedAt: Int64 | None = None


class Empty(BaseModel):
    pass


class Entity(BaseModel):
    fileID: int
    type: FileDataType
    encryptedData: str
    decryptionHeader: str
    updatedAt: int


class FetchedMany(BaseModel):
    data: list[Entity]
    pendingIndexFileIDs: list[int]
    errFileIDs: list[int]


class FetchedOne(BaseModel):
    data: Entity


class Status(BaseModel):
    fileID: int
    userID: int
    type: FileDataType
    isDeleted: bool
    objectID: str | None
    objectNonce: str | None
    size: int
    updatedAt: int


class StatusDiff(BaseModel):
    diff: list[Status] | None = Field(description="null when nothing changed, as on the real server; page by the "
                                                  "newest updatedAt until it is")


class PreviewUploadURL(BaseModel):
    objectID: str
    url: str | None = None
    partURLs: list[str] | None = None
    completeURL: str | None = None


class PreviewURL(BaseModel):
    url: str


def render_entity(found: FileData) -> Entity:
    return Entity(fileID=found.item_id, type=FileDataType(found.type), encryptedData=found.encrypted_data or "",
                  decryptionHeader=found.decryption_header or "", updatedAt=found.updated_at)


def render_status(found: FileData) -> Status:
    return Status(fileID=found.item_id, userID=found.owner_id, type=FileDataType(found.type),
                  isDeleted=found.is_deleted, objectID=found.object_id, objectNonce=found.object_nonce,
                  size=found.size, updatedAt=found.updated_at)


def render_fetched(fetched: Fetched) -> FetchedMany:
    return FetchedMany(data=[render_entity(f) for f in fetched.data], pendingIndexFileIDs=fetched.pending,
                       errFileIDs=fetched.failed)


def render_upload(upload: PreviewUpload) -> PreviewUploadURL:
    return PreviewUploadURL(objectID=upload.object_id, url=upload.url, partURLs=upload.part_urls,
                            completeURL=upload.complete_url)


def one(found: FileData | None, prefer_no_content: bool) -> FetchedOne | Response:
    if found is not None:
        return FetchedOne(data=render_entity(found))
    if prefer_no_content:
        return Response(status_code=204)
    raise NotFound("No such file data")


NO_CONTENT: dict[int | str, dict[str, Any]] = {
    204: {"description": "No such file data, with preferNoContent=true", "content": {}}}
FileID = Annotated[Id64, Query()]
Kind = Annotated[FileDataType, Query()]
PreferNoContent = Annotated[bool, Query()]


@router.put("/files/data")
async def put_file_data(body: PutFileDataBody, user: CurrentUser, file_data: FileDataDep) -> Empty:
    sealed = Sealed(body.encryptedData, body.decryptionHeader) \
        if body.encryptedData is not None and body.decryptionHeader is not None else None
    await file_data.put(user, body.fileID, body.type, sealed, version=body.version or 1,
                        last_updated_at=body.lastUpdatedAt)
    return Empty()


@router.put("/files/video-data")
async def put_video_data(body: VideoDataBody, user: CurrentUser, file_data: FileDataDep) -> Empty:
    await file_data.put_video(user, VideoPreview(
        item_id=body.fileID, object_id=body.objectID, object_size=body.objectSize,
        playlist=Sealed(body.playlist, body.playlistHeader), version=body.version or 1))
    return Empty()


@router.post("/files/data/fetch")
async def fetch_many(body: FetchBody, user: CurrentUser, file_data: FileDataDep) -> FetchedMany:
    return render_fetched(await file_data.fetch(user, body.fileIDs, body.type))


@router.get("/files/data/fetch", response_model=FetchedOne, responses=NO_CONTENT)
async def fetch_one(fileID: FileID, type: Kind, user: CurrentUser, file_data: FileDataDep,
                    preferNoContent: PreferNoContent = False) -> FetchedOne | Response:
    return one(await file_data.fetch_one(user, fileID, type), preferNoContent)


@router.post("/files/data/status-diff")
async def status_diff(body: StatusDiffBody, user: CurrentUser, file_data: FileDataDep) -> StatusDiff:
    changed = await file_data.status_diff(user, body.lastUpdatedAt)
    return StatusDiff(diff=[render_status(f) for f in changed] or None)


@router.get("/files/data/preview-upload-url", response_model_exclude_none=True)
async def preview_upload_url(fileID: FileID, type: Kind, user: CurrentUser, file_data: FileDataDep,
                             isMultiPart: Annotated[bool, Query()] = False,
                             count: Annotated[NonNegative64 | None, Query()] = None) -> PreviewUploadURL:
    return render_upload(await file_data.preview_upload(user, fileID, type, multipart=isMultiPart, count=count))


@router.get("/files/data/preview")
async def preview_url(fileID: FileID, type: Kind, user: CurrentUser, file_data: FileDataDep,
                      suffix: Annotated[Text | None, Query(max_length=256)] = None) -> PreviewURL:
    return PreviewURL(url=await file_data.preview_url(user, fileID, type))


# --- a public link's viewer ---------------------------------------------------------------------------------

async def link_grant(links: LinksDep,
                     token: Annotated[str | None, Header(alias="X-Auth-Access-Token", max_length=200)] = None,
                     access_jwt: Annotated[str | None, Header(alias="X-Auth-Access-Token-JWT", max_length=2000)] = None,
                     ) -> LinkAccess:
    """The link is checked before anything else the request says."""
    return await links.open(token, access_jwt)


LinkGrant = Annotated[LinkAccess, Depends(link_grant)]


@link_router.get("/public-collection/files/data/fetch", response_model=FetchedOne, responses=NO_CONTENT)
async def link_fetch_one(grant: LinkGrant, fileID: FileID, type: Kind, file_data: FileDataDep,
                         preferNoContent: PreferNoContent = False) -> FetchedOne | Response:
    return one(await file_data.link_fetch_one(grant, fileID, type), preferNoContent)


@link_router.get("/public-collection/files/data/preview")
async def link_preview_url(grant: LinkGrant, fileID: FileID, type: Kind, file_data: FileDataDep,
                           suffix: Annotated[Text | None, Query(max_length=256)] = None) -> PreviewURL:
    return PreviewURL(url=await file_data.link_preview_url(grant, fileID, type))
