"""Committing Ente files in tests without the upload signer: objects written straight to storage under
the owner's prefix, as `/files/upload-urls` would have them."""

from __future__ import annotations

import os
import secrets
from typing import Any

import jwt

from shoebox.testing import RunningSystem


def header(token: str) -> dict[str, str]:
    return {"X-Auth-Token": token}


def user_id(token: str) -> int:
    return int(jwt.decode(token, options={"verify_signature": False})["sub"])


async def new_album(api: RunningSystem, token: str, **extra: Any) -> int:
    response = await api.client.post("/collections", headers=header(token), json={
        "encryptedKey": "k" * 44, "keyDecryptionNonce": "n" * 32, "encryptedName": "name", "nameDecryptionNonce": "nn",
        "type": "album", **extra})
    assert response.status_code == 200, response.text
    album: int = response.json()["collection"]["id"]
    return album


async def put_object(api: RunningSystem, owner: int, size: int) -> str:
    key = f"u/{owner}/e/{secrets.token_hex(8)}"
    await api.services["metadata"].app.state.runtime.storage.primary.put_bytes(key, os.urandom(size))
    return key


async def file_body(api: RunningSystem, token: str, album: int, size: int = 100, thumb: int = 10,
                    **extra: Any) -> dict[str, Any]:
    owner = user_id(token)
    return {
        "collectionID": album, "encryptedKey": "ek", "keyDecryptionNonce": "kn",
        "file": {"objectKey": await put_object(api, owner, size), "decryptionHeader": "fh", "size": size},
        "thumbnail": {"objectKey": await put_object(api, owner, thumb), "decryptionHeader": "th", "size": thumb},
        "metadata": {"encryptedData": "md", "decryptionHeader": "mh"}, **extra,
    }


async def commit(api: RunningSystem, token: str, album: int, **extra: Any) -> dict[str, Any]:
    response = await api.client.post("/files", headers=header(token), json=await file_body(api, token, album, **extra))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
