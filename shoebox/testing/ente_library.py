"""What an Ente app does with the library, written from the reference with PyNaCl: encrypt a collection
and a file (secretstream), upload the objects, commit, sync by diff, download and decrypt, and the other
changes a real client makes (add, move, remove, trash, restore, delete, magic metadata, a guest's upload
through a public link).

File bytes use the layout of Ente's clients: libsodium secretstream XChaCha20-Poly1305 over 4 MiB
plaintext messages, every one tagged MESSAGE but the last, which is tagged FINAL; a reader pulls 4 MiB +
17 bytes (the tag and MAC of one message) at a time. Metadata is one FINAL message."""

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

CHUNK = 4 * 1024 * 1024  # Ente encrypts files in 4 MiB secretstream messages
ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES  # 17: the tag byte and the 16-byte MAC
CIPHER_CHUNK = CHUNK + ABYTES  # what a reader pulls at a time
TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL


def secretbox(key: bytes, plaintext: bytes) -> tuple[str, str]:
    nonce = nacl.utils.random(SecretBox.NONCE_SIZE)
    return b64(SecretBox(key).encrypt(plaintext, nonce).ciphertext), b64(nonce)


def open_secretbox(key: bytes, ciphertext: str, nonce: str) -> bytes:
    return SecretBox(key).decrypt(unb64(ciphertext), unb64(nonce))


def stream_encrypt(key: bytes, data: bytes) -> tuple[bytes, str]:
    """Ciphertext and base64 header: one message per 4 MiB of plaintext, the last tagged FINAL (an empty
    input is one empty FINAL message)."""
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    header = sodium.crypto_secretstream_xchacha20poly1305_init_push(state, key)
    out = []
    offsets = range(0, len(data), CHUNK) if data else range(1)
    last = offsets[-1]
    for start in offsets:
        tag = TAG_FINAL if start == last else TAG_MESSAGE
        out.append(sodium.crypto_secretstream_xchacha20poly1305_push(state, data[start:start + CHUNK], None, tag))
    return b"".join(out), b64(header)


def stream_tags(key: bytes, data: bytes, header: str) -> list[int]:
    """The tag of every message, pulled 4 MiB + 17 bytes at a time as Ente's clients read."""
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, unb64(header), key)
    tags = []
    for start in range(0, len(data), CIPHER_CHUNK):
        _, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, data[start:start + CIPHER_CHUNK], None)
        tags.append(tag)
    return tags


def stream_decrypt(key: bytes, data: bytes, header: str) -> bytes:
    """Pull 4 MiB + 17 bytes at a time, as Ente's clients do. Strict: every message but the last must be
    tagged MESSAGE, the last FINAL, and nothing may follow it."""
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, unb64(header), key)
    if not data:
        raise ValueError("an empty ciphertext has no FINAL message")
    out = []
    for start in range(0, len(data), CIPHER_CHUNK):
        piece = data[start:start + CIPHER_CHUNK]
        plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, piece, None)
        is_last = start + CIPHER_CHUNK >= len(data)
        if tag == TAG_FINAL and not is_last:
            raise ValueError(f"a FINAL message at byte {start} is followed by more ciphertext")
        if is_last and tag != TAG_FINAL:
            raise ValueError(f"the stream ends without a FINAL message (last tag {tag})")
        if not is_last and (tag != TAG_MESSAGE or len(piece) != CIPHER_CHUNK):
            raise ValueError(f"message at byte {start}: tag {tag}, {len(piece)} bytes")
        out.append(plain)
    return b"".join(out)


def encrypt_json(key: bytes, value: Any) -> dict[str, str]:
    """Ente's magic metadata: JSON as one secretstream message, `{data, header}` in base64."""
    data, header = stream_encrypt(key, json.dumps(value).encode())
    return {"data": b64(data), "header": header}


def decrypt_json(key: bytes, data: str, header: str) -> Any:
    return json.loads(stream_decrypt(key, unb64(data), header))


@dataclass
class Album:
    id: int
    key: bytes


@dataclass
class Uploaded:
    id: int
    key: bytes


def file_body(album: Album, file_key: bytes, data: bytes, title: str, object_keys: tuple[str, str]
              ) -> tuple[dict[str, Any], list[bytes]]:
    """The commit body of a file and the two encrypted objects (file, thumbnail) to upload first."""
    encrypted_file, file_header = stream_encrypt(file_key, data)
    encrypted_thumb, thumb_header = stream_encrypt(file_key, b"thumbnail of " + title.encode())
    meta, meta_header = stream_encrypt(file_key, json.dumps(
        {"title": title, "fileType": 0, "creationTime": 1, "modificationTime": 1}).encode())
    encrypted_key, nonce = secretbox(album.key, file_key)
    body = {
        "collectionID": album.id, "encryptedKey": encrypted_key, "keyDecryptionNonce": nonce,
        "file": {"objectKey": object_keys[0], "decryptionHeader": file_header, "size": len(encrypted_file)},
        "thumbnail": {"objectKey": object_keys[1], "decryptionHeader": thumb_header, "size": len(encrypted_thumb)},
        "metadata": {"encryptedData": b64(meta), "decryptionHeader": meta_header},
    }
    return body, [encrypted_file, encrypted_thumb]


async def put_objects(urls: list[dict[str, str]], blobs: list[bytes]) -> None:
    async with httpx.AsyncClient(timeout=60) as storage:
        for target, blob in zip(urls, blobs, strict=True):
            put = await storage.put(target["url"], content=blob)
            assert put.status_code == 200, put.text


class Library:
    """One signed-in Ente user's view of the library."""

    def __init__(self, http: httpx.AsyncClient, user: SignedIn) -> None:
        self.http = http
        self.user = user
        self._routes: dict[tuple[str, str], bool] = {}

    async def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = await self.http.request(method, path, headers=self.user.header, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    async def serves(self, method: str, path: str) -> bool:
        """Whether the server has the route at all: an empty body gets a validation error, not 404/405."""
        if (method, path) not in self._routes:
            response = await self.http.request(method, path, headers=self.user.header, json={})
            self._routes[(method, path)] = response.status_code not in (404, 405)
        return self._routes[(method, path)]

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
        urls = (await self.call("GET", "/files/upload-urls", params={"count": 2}))["urls"]
        body, blobs = file_body(album, file_key, data, title, (urls[0]["objectKey"], urls[1]["objectKey"]))
        await put_objects(urls, blobs)
        committed = await self.call("POST", "/files", json=body)
        return Uploaded(committed["id"], file_key)

    async def albums(self, since: int = 0) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self.call("GET", "/collections/v2", params={"sinceTime": since}))[
            "collections"]
        return found

    def album_key(self, collection: dict[str, Any]) -> bytes:
        """Own albums: the key under the master key. Shared ones: sealed to our public key."""
        if collection["owner"]["id"] == self.user.user_id and collection["keyDecryptionNonce"]:
            return open_secretbox(self.user.master_key, collection["encryptedKey"], collection["keyDecryptionNonce"])
        return SealedBox(PrivateKey(self.user.secret_key)).decrypt(unb64(collection["encryptedKey"]))

    async def diff(self, album_id: int, since: int, limit: int | None = None) -> tuple[list[dict[str, Any]], bool]:
        params: dict[str, int] = {"collectionID": album_id, "sinceTime": since}
        if limit:
            params["limit"] = limit  # a Shoebox extra; the real server always pages by 2500
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

    async def fetch_object(self, file_id: int, path: str = "/files/download") -> bytes:
        response = await self.http.get(f"{path}/{file_id}", headers=self.user.header)
        assert response.status_code == 307, f"{path}/{file_id}: {response.status_code} {response.text}"
        async with httpx.AsyncClient(timeout=60) as storage:
            fetched = await storage.get(response.headers["location"])
        assert fetched.status_code == 200, fetched.text
        return fetched.content

    async def download(self, file: dict[str, Any], album_key: bytes, path: str = "/files/download") -> bytes:
        file_key = open_secretbox(album_key, file["encryptedKey"], file["keyDecryptionNonce"])
        return stream_decrypt(file_key, await self.fetch_object(file["id"], path), file["file"]["decryptionHeader"])

    # --- the other changes a client makes -------------------------------------------------------------

    async def share(self, album: Album, email: str, role: str = "VIEWER") -> None:
        found = await self.call("GET", "/users/public-key", params={"email": email})
        await self.call("POST", "/collections/share", json={
            "collectionID": album.id, "email": email, "role": role,
            "encryptedKey": seal_for(found["publicKey"], album.key)})

    async def create_link(self, album: Album, *, enable_collect: bool = False) -> str:
        """A public link; its access token (what `X-Auth-Access-Token` carries)."""
        link = (await self.call("POST", "/collections/share-url", json={
            "collectionID": album.id, "enableCollect": enable_collect}))["result"]
        token: str = link["url"].split("t=")[1]
        return token

    @staticmethod
    def _key_for(album: Album, file_key: bytes, file_id: int) -> dict[str, Any]:
        encrypted_key, nonce = secretbox(album.key, file_key)
        return {"id": file_id, "encryptedKey": encrypted_key, "keyDecryptionNonce": nonce}

    async def add_files(self, album: Album, files: list[Uploaded]) -> None:
        await self.call("POST", "/collections/add-files", json={
            "collectionID": album.id, "files": [self._key_for(album, f.key, f.id) for f in files]})

    async def move_files(self, source: Album, target: Album, files: list[Uploaded]) -> None:
        await self.call("POST", "/collections/move-files", json={
            "fromCollectionID": source.id, "toCollectionID": target.id,
            "files": [self._key_for(target, f.key, f.id) for f in files]})

    async def remove_files(self, album: Album, file_ids: list[int]) -> None:
        await self.call("POST", "/collections/v3/remove-files", json={"collectionID": album.id, "fileIDs": file_ids})

    async def trash(self, items: list[tuple[int, int]]) -> None:
        """(file, collection) pairs, as the apps send them."""
        await self.call("POST", "/files/trash", json={"items": [
            {"fileID": file_id, "collectionID": collection_id} for file_id, collection_id in items]})

    async def restore(self, album: Album, files: list[Uploaded]) -> None:
        """Back from the trash into `album`: Ente's `/collections/restore-files` (the file keys under the
        album key), or Shoebox's older `/files/restore` where the server has no such route."""
        if await self.serves("POST", "/collections/restore-files"):
            await self.call("POST", "/collections/restore-files", json={
                "collectionID": album.id, "files": [self._key_for(album, f.key, f.id) for f in files]})
        else:
            await self.call("POST", "/files/restore", params={"collectionID": album.id},
                            json={"fileIDs": [f.id for f in files]})

    async def delete_forever(self, file_ids: list[int]) -> None:
        await self.call("POST", "/trash/delete", json={"fileIDs": file_ids})

    async def trash_diff(self, since: int = 0) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        while True:
            body = await self.call("GET", "/trash/v2/diff", params={"sinceTime": since})
            entries += body["diff"]
            if body["diff"]:
                since = body["diff"][-1]["updatedAt"]
            if not body["hasMore"]:
                return entries

    async def empty_trash(self) -> None:
        """What the apps do: empty up to the newest trash entry they have seen."""
        entries = await self.trash_diff()
        if entries:
            await self.call("POST", "/trash/empty", json={"lastUpdatedAt": max(e["updatedAt"] for e in entries)})

    async def set_magic_metadata(self, file: Uploaded, version: int, value: dict[str, Any], *,
                                 public: bool = False) -> None:
        """`version` is the one last read (0 for none); the server stores the next."""
        path = "/files/public-magic-metadata" if public else "/files/magic-metadata"
        await self.call("PUT", path, json={"metadataList": [{"id": file.id, "magicMetadata": {
            "version": version, "count": len(value), **encrypt_json(file.key, value)}}]})


async def guest_upload(http: httpx.AsyncClient, access_token: str, album: Album, data: bytes, title: str,
                       ) -> Uploaded:
    """A visitor of an upload-enabled public link (no account) adds a file, as Ente's web app does: it
    knows the album key from the link, asks the link for upload URLs and commits through it."""
    viewer = {"X-Auth-Access-Token": access_token}
    listed = await http.get("/public-collection/upload-urls", params={"count": 2}, headers=viewer)
    assert listed.status_code == 200, f"/public-collection/upload-urls: {listed.status_code} {listed.text}"
    urls = listed.json()["urls"]
    file_key = nacl.utils.random(32)
    body, blobs = file_body(album, file_key, data, title, (urls[0]["objectKey"], urls[1]["objectKey"]))
    await put_objects(urls, blobs)
    committed = await http.post("/public-collection/file", headers=viewer, json=body)
    assert committed.status_code == 200, f"/public-collection/file: {committed.status_code} {committed.text}"
    return Uploaded(committed.json()["id"], file_key)


def seal_for(public_key_b64: str, key: bytes) -> str:
    return b64(SealedBox(PublicKey(unb64(public_key_b64))).encrypt(key))
