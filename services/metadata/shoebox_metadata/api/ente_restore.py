"""Ente's restore from the trash, `POST /collections/restore-files` (the real server's only restore route;
seed 000's `/files/restore` stays beside it): the files come back into one of the caller's collections,
each with its key under that collection's key, exactly as `/collections/add-files` carries them."""

from __future__ import annotations

from fastapi import APIRouter

from shoebox_lib.auth import CurrentUser
from shoebox_metadata.api.deps import TrashDep
from shoebox_metadata.api.ente_answers import Empty
from shoebox_metadata.api.ente_shapes import AddFilesBody
from shoebox_metadata.library.membership import FileKey

router = APIRouter(tags=["ente"])


@router.post("/collections/restore-files")
async def restore_files(body: AddFilesBody, user: CurrentUser, trash: TrashDep) -> Empty:
    keys = [FileKey(f.id, f.encryptedKey, f.keyDecryptionNonce) for f in body.files]
    await trash.restore_files(user, body.collectionID, keys)
    return Empty()  # Ente's server answers an empty 200; its clients ignore the body
