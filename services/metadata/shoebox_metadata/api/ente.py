"""The Ente face of the library (reference/ente-api.md): files, collections, trash. Thin: translate and
render; the rules live in the `library` package."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import RedirectResponse, StreamingResponse

from shoebox_lib.auth import CurrentUser
from shoebox_lib.errors import InvalidInput
from shoebox_lib.web.inputs import Id64
from shoebox_metadata.api.deps import CollectionsDep, FilesDep, LinksDep, SharesDep, TrashDep, UsersDep
from shoebox_metadata.api.ente_answers import (
    CollectionList,
    CommittedFile,
    CreatedCollection,
    Deleted,
    DuplicateGroup,
    Duplicates,
    Empty,
    FileDiff,
    FilesInfo,
    FileSizeInfo,
    FilesSize,
    Sharees,
    TrashDiff,
    UpdatedFile,
    render_collection,
    render_committed,
    render_created,
    render_file,
    render_sharee,
    render_trash,
    streamed_diff,
)
from shoebox_metadata.api.ente_shapes import (
    AddFilesBody,
    CollectionBody,
    EmptyTrashBody,
    FileBody,
    FileIDs,
    FileKeyBody,
    MagicBody,
    MoveFilesBody,
    RemoveFilesBody,
    ShareBody,
    TrashBody,
    new_file,
    since_time,
)
from shoebox_metadata.api.redirects import REDIRECT, redirect
from shoebox_metadata.clock import now_us
from shoebox_metadata.kinds import Role
from shoebox_metadata.library.collections import CollectionView, NewCollection
from shoebox_metadata.library.membership import FileKey

router = APIRouter(tags=["ente"])

DIFF_LIMIT = 2500  # what Ente's server pages by

SinceTime = Annotated[int, Depends(since_time)]
DiffLimit = Annotated[int, Query(ge=1, le=DIFF_LIMIT)]
FileId = Annotated[Id64, Path()]


def _keys(files: list[FileKeyBody]) -> list[FileKey]:
    return [FileKey(f.id, f.encryptedKey, f.keyDecryptionNonce) for f in files]


@router.post("/files")
async def commit_file(body: FileBody, user: CurrentUser, files: FilesDep) -> CommittedFile:
    item = await files.commit(user, new_file(body))
    return render_committed(item, body.collectionID, body.encryptedKey, body.keyDecryptionNonce)


@router.put("/files/update")
async def update_file(body: FileBody, user: CurrentUser, files: FilesDep) -> UpdatedFile:
    item = await files.update(
        user, body.id, metadata=(body.metadata.encryptedData or "", body.metadata.decryptionHeader),
        file_header=body.file.decryptionHeader, thumbnail_header=body.thumbnail.decryptionHeader,
    )
    return UpdatedFile(id=item.id, updationTime=item.updation_time)


@router.put("/files/magic-metadata")
async def magic_metadata(body: MagicBody, user: CurrentUser, files: FilesDep) -> Empty:
    await files.set_magic_metadata(user, [(m.id, m.magicMetadata.model_dump()) for m in body.metadataList],
                                   public=False)
    return Empty()


@router.put("/files/public-magic-metadata")
async def public_magic_metadata(body: MagicBody, user: CurrentUser, files: FilesDep) -> Empty:
    await files.set_magic_metadata(user, [(m.id, m.magicMetadata.model_dump()) for m in body.metadataList],
                                   public=True)
    return Empty()


@router.post("/files/trash")
async def trash_files(body: TrashBody, user: CurrentUser, trash: TrashDep) -> Empty:
    if not body.items and not body.fileIds:
        raise InvalidInput("items (or fileIds) must name at least one file")
    entries = [(i.fileID, i.collectionID) for i in body.items]
    entries += await trash.memberships(user, body.fileIds)
    await trash.trash(user, entries)
    return Empty()


@router.get("/files/download/{file_id}", **REDIRECT)
async def download(file_id: FileId, user: CurrentUser, files: FilesDep) -> RedirectResponse:
    return redirect(await files.download_url(user, file_id, thumbnail=False))


@router.get("/files/preview/{file_id}", **REDIRECT)
async def preview(file_id: FileId, user: CurrentUser, files: FilesDep) -> RedirectResponse:
    return redirect(await files.download_url(user, file_id, thumbnail=True))


@router.post("/files/info")
async def files_info(body: FileIDs, user: CurrentUser, files: FilesDep) -> FilesInfo:
    items = await files.readable(user, body.fileIDs)
    return FilesInfo(filesInfo=[FileSizeInfo(id=i.id, fileInfo=render_file(i).info) for i in items])


@router.post("/files/size")
async def files_size(body: FileIDs, user: CurrentUser, files: FilesDep) -> FilesSize:
    items = await files.readable(user, body.fileIDs)
    return FilesSize(size=sum(int(i.size or 0) for i in items))


@router.get("/files/duplicates")
async def duplicates(user: CurrentUser, files: FilesDep) -> Duplicates:
    groups = await files.duplicates(user)
    return Duplicates(duplicates=[DuplicateGroup(sha256=str(g[0].sha256), fileIDs=[i.id for i in g],
                                                 size=int(g[0].size or 0)) for g in groups])


@router.post("/collections")
async def create_collection(body: CollectionBody, user: CurrentUser, collections: CollectionsDep,
                            links: LinksDep) -> CreatedCollection:
    collection = await collections.create(user, NewCollection(
        type=body.type, name=body.name, encrypted_key=body.encryptedKey, key_decryption_nonce=body.keyDecryptionNonce,
        encrypted_name=body.encryptedName, name_decryption_nonce=body.nameDecryptionNonce,
        attributes=body.attributes, app=body.app,
        magic_metadata=body.magicMetadata.model_dump() if body.magicMetadata else None,
        pub_magic_metadata=body.pubMagicMetadata.model_dump() if body.pubMagicMetadata else None,
    ))
    return render_created(render_collection(CollectionView(collection, [], Role.OWNER), [], links.public_url))


# What Ente's apps send on every request (the CLI: `io.ente.photos`); seed 000's clients send none.
EnteApp = Annotated[str | None, Header(alias="X-Client-Package", max_length=100)]


@router.get("/collections/v2")
@router.get("/collections")  # seed 000's name for the same list
async def list_collections(user: CurrentUser, collections: CollectionsDep, links: LinksDep,
                           since: SinceTime, app: EnteApp = None) -> CollectionList:
    views = await collections.changed_since(user, since)
    if app is not None:
        # An Ente app decrypts every album it is given, and the CLI stops its whole sync at one it cannot:
        # albums kept in plaintext (v1's, seed 000's `name`) are for the clients that made them.
        views = [v for v in views if v.collection.encrypted_key is not None]
    found = await links.links_of([v.collection.id for v in views])
    rendered = [render_collection(v, found.get(v.collection.id, []), links.public_url) for v in views]
    newest = max((c.updationTime for c in rendered), default=since)
    return CollectionList(collections=rendered, serverTime=now_us(), nextSince=newest)


@router.get("/collections/v2/diff", response_model=FileDiff)
async def collection_diff(user: CurrentUser, collections: CollectionsDep, collectionID: Annotated[Id64, Query()],
                          since: SinceTime, limit: DiffLimit = DIFF_LIMIT) -> StreamingResponse:
    return streamed_diff(*await collections.diff(user, collectionID, since, limit))


@router.post("/collections/add-files")
async def add_files(body: AddFilesBody, user: CurrentUser, collections: CollectionsDep) -> Empty:
    await collections.add_files(user, body.collectionID, _keys(body.files))
    return Empty()


@router.post("/collections/move-files")
async def move_files(body: MoveFilesBody, user: CurrentUser, collections: CollectionsDep) -> Empty:
    await collections.move_files(user, body.fromCollectionID, body.toCollectionID, _keys(body.files))
    return Empty()


@router.post("/collections/v3/remove-files")
async def remove_files(body: RemoveFilesBody, user: CurrentUser, collections: CollectionsDep) -> Empty:
    await collections.remove_files(user, body.collectionID, body.fileIDs)
    return Empty()


@router.post("/collections/share")
async def share(body: ShareBody, user: CurrentUser, shares: SharesDep, users: UsersDep) -> Sharees:
    sharee = await users.resolve(body.email)
    live = await shares.share(user, body.collectionID, sharee, body.email.lower(), body.role.upper(),
                              body.encryptedKey)
    return Sharees(sharees=[render_sharee(s) for s in live])


@router.post("/collections/unshare")
async def unshare(body: ShareBody, user: CurrentUser, shares: SharesDep) -> Sharees:
    live = await shares.unshare(user, body.collectionID, body.email.lower())
    return Sharees(sharees=[render_sharee(s) for s in live])


@router.get("/trash/v2/diff")
async def trash_diff(user: CurrentUser, trash: TrashDep, since: SinceTime, limit: DiffLimit = DIFF_LIMIT
                     ) -> TrashDiff:
    entries, has_more = await trash.diff(user, since, limit)
    diff = [render_trash(entry, item) for entry, item in entries]
    return TrashDiff(diff=diff, hasMore=has_more, items=diff)


@router.post("/trash/delete")
async def delete_from_trash(body: FileIDs, user: CurrentUser, trash: TrashDep) -> Empty:
    await trash.delete_forever(user, body.fileIDs)
    return Empty()


@router.post("/trash/empty")
async def empty_trash(body: EmptyTrashBody, user: CurrentUser, trash: TrashDep) -> Deleted:
    if body.lastUpdatedAt is None and not body.confirm:
        raise InvalidInput("lastUpdatedAt (or confirm: true) is required")
    up_to = body.lastUpdatedAt if body.lastUpdatedAt is not None else 2**62
    return Deleted(deleted=await trash.empty(user, up_to))


# Seed 000's extra file routes, beside Ente's.
@router.post("/files/restore")
async def restore(body: FileIDs, user: CurrentUser, trash: TrashDep,
                  collectionID: Annotated[Id64 | None, Query()] = None) -> Empty:
    await trash.restore(user, body.fileIDs, collectionID)
    return Empty()


@router.post("/files/delete")
async def delete_files(body: FileIDs, user: CurrentUser, trash: TrashDep) -> Deleted:
    """Only trashed files are deleted for good; anything else is not found."""
    return Deleted(deleted=await trash.delete_forever(user, body.fileIDs))
