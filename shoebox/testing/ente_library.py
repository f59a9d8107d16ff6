"""What an Ente app does with the library, written from the reference with PyNaCl: encrypt a collection
and a file (secretstream), upload the objects, commit, sync by diff, download and decrypt."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import nacl.utils
from nacl import bindings as sodium
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox

from shoebox.testing.ente_client import SignedIn, b64, unb64

CHUNK = 4 * 1024 * 1024  # Ente encrypts files in 4 MiB secretstream chunks


def secretbox(key: bytes, plaintext: bytes) -> tuple[str, str]:
    nonce = nacl.utils.random(SecretBox.NONCE_SIZE)
    return b64(SecretBox(key).encrypt(plaintext, nonce).ciphertext), b64(nonce)


def open_secretbox(key: bytes, ciphertext: str, nonce: str) -> bytes:
    return SecretBox(key).decrypt(unb64(ciphertext), unb64(nonce))


def stream_encrypt(key: bytes, data: bytes) -> tuple[bytes, str]:
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    header = sodium.crypto_secretstream_xchacha20poly1305_init_push(state, key)
    chunks = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
    out = []
    for n, chunk in enumerate(chunks):
        last = n == len(chunks) - 1
        tag = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL if last else 0
        out.append(sodium.crypto_secretstream_xchacha20poly1305_push(state, chunk, None, tag))
    return b"".join(out), b64(header)


def stream_decrypt(key: bytes, data: bytes, header: str) -> bytes:
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, unb64(header), key)
    size = CHUNK + sodium.crypto_secretstream_xchacha20poly1305_ABYTES
    out = []
    for i in range(0, len(data), size):
        plain, _ = sodium.crypto_secretstream_xchacha20poly1305_pull(state, data[i:i + size], None)
        out.append(plain)
    return b"".join(out)


@dataclass
class Album:
    id: int
    key: bytes


@dataclass
class Uploaded:
    id: int
    key: bytes


class Library:
    """One signed-in Ente user's view of the library."""

    def __init__(self, http: httpx.AsyncClient, user: SignedIn) -> None:
        self.http = http
        self.user = user

    async def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = await self.http.request(method, path, headers=self.user.header, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    async def create_album(self, name: str) -> Album:
        key = nacl.utils.random(32)
        encrypted_key, nonce = secretbox(self.user.master_key, key)
        encrypted_name, name_nonce = secretbox(key, name.encode())
        body = await self.call("POST", "/collections", json={
            "encryptedKey": encrypted_key, "keyDecryptionNonce": nonce, "encryptedName": encrypted_name,
            "nameDecryptionNonce": name_nonce, "type": "album", "attributes": {}})
        return Album(body["collection"]["id"], key)

    async def upload(self, album: Album, data: bytes, title: str) -> Uploaded:
        file_key = nacl.utils.random(32)
        encrypted_file, file_header = stream_encrypt(file_key, data)
        encrypted_thumb, thumb_header = stream_encrypt(file_key, b"thumbnail of " + title.encode())
        meta, meta_header = stream_encrypt(file_key, json.dumps({"title": title, "fileType": 0}).encode())
        urls = (await self.call("GET", "/files/upload-urls", params={"count": 2}))["urls"]
        async with httpx.AsyncClient(timeout=60) as storage:
            for target, blob in zip(urls, (encrypted_file, encrypted_thumb), strict=True):
                put = await storage.put(target["url"], content=blob)
                assert put.status_code == 200, put.text
        encrypted_key, nonce = secretbox(album.key, file_key)
        body = await self.call("POST", "/files", json={
            "collectionID": album.id, "encryptedKey": encrypted_key, "keyDecryptionNonce": nonce,
            "file": {"objectKey": urls[0]["objectKey"], "decryptionHeader": file_header, "size": len(encrypted_file)},
            "thumbnail": {"objectKey": urls[1]["objectKey"], "decryptionHeader": thumb_header,
                          "size": len(encrypted_thumb)},
            "metadata": {"encryptedData": b64(meta), "decryptionHeader": meta_header},
        })
        return Uploaded(body["id"], file_key)

    async def albums(self, since: int = 0) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self.call("GET", "/collections/v2", params={"sinceTime": since}))[
            "collections"]
        return found

    def album_key(self, collection: dict[str, Any]) -> bytes:
        """Own albums: the key under the master key. Shared ones: sealed to our public key."""
        if collection["keyDecryptionNonce"]:
            return open_secretbox(self.user.master_key, collection["encryptedKey"], collection["keyDecryptionNonce"])
        return SealedBox(PrivateKey(self.user.secret_key)).decrypt(unb64(collection["encryptedKey"]))

    async def diff(self, album_id: int, since: int, limit: int | None = None) -> tuple[list[dict[str, Any]], bool]:
        params: dict[str, int] = {"collectionID": album_id, "sinceTime": since}
        if limit:
            params["limit"] = limit
        body = await self.call("GET", "/collections/v2/diff", params=params)
        return body["diff"], body["hasMore"]

    async def sync(self, album_id: int, since: int, limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
        """Every change after `since`, following hasMore; and the new sinceTime."""
        changes: list[dict[str, Any]] = []
        while True:
            page, more = await self.diff(album_id, since, limit)
            changes += page
            if page:
                since = page[-1]["updationTime"]
            if not more:
                return changes, since

    async def download(self, file: dict[str, Any], album_key: bytes, path: str = "/files/download") -> bytes:
        file_key = open_secretbox(album_key, file["encryptedKey"], file["keyDecryptionNonce"])
        response = await self.http.get(f"{path}/{file['id']}", headers=self.user.header)
        assert response.status_code == 307, response.text
        async with httpx.AsyncClient(timeout=60) as storage:
            blob = (await storage.get(response.headers["location"])).content
        return stream_decrypt(file_key, blob, file["file"]["decryptionHeader"])


def seal_for(public_key_b64: str, key: bytes) -> str:
    return b64(SealedBox(PublicKey(unb64(public_key_b64))).encrypt(key))
