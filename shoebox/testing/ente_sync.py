"""A sync client that keeps an Ente account's library the way the Ente CLI's `ente export` does
(`cli/pkg/remote_sync.go` and `remote_to_disk_file.go` of ente-io/ente; the facts are in the issue's
notes), so that tests see what a real client sees:

1. `GET /collections/v2?sinceTime=<last album sync>`; every album returned is stored, replacing the
   stored copy (on the very first sync deleted ones are left out); the album sync point becomes the
   newest `updationTime` returned.
2. For every stored album that is not deleted: while its file sync point differs from the stored
   album's `updationTime`, `GET /collections/v2/diff?collectionID=&sinceTime=<file sync point>`. Each
   entry is queued (removed ones skipped on the album's first sync); the sync point becomes the newest
   entry time while `hasMore`, and **the album's `updationTime` once a page says no more**.
3. Every queued entry is applied: a removed one (`isDeleted`, or `file.encryptedData == "-"`) deletes
   the local copy; a live one replaces the local copy and is downloaded again — the CLI downloads every
   live entry a diff gives it, whether its bytes changed or not.

So an album whose `updationTime` does not move when its files change is never looked at again, and an
album whose `updationTime` lags its files hands the same entries out again (and they are downloaded
again). The client counts what it receives and downloads, per (album, file, updationTime), so a test
can demand that every change arrives once and nothing is downloaded twice.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from shoebox.testing.ente_client import unb64
from shoebox.testing.ente_library import Library, open_secretbox, stream_decrypt

Version = tuple[int, int, int]  # (album, file, updationTime)


@dataclass
class RemoteAlbum:
    id: int
    owner_id: int
    is_deleted: bool
    updation_time: int
    key: bytes
    name: str


@dataclass
class LocalFile:
    """One file as exported into one album's folder."""

    entry: dict[str, Any]  # what the server described, projected to what a client keeps
    title: str
    sha256: str | None  # of the decrypted bytes; None when the client does not download


def project(entry: dict[str, Any]) -> dict[str, Any]:
    """The parts of a diff entry a client keeps (and that must match between two clients)."""
    return {
        "updationTime": entry["updationTime"], "ownerID": entry["ownerID"],
        "encryptedKey": entry["encryptedKey"], "keyDecryptionNonce": entry["keyDecryptionNonce"],
        "file": entry["file"]["decryptionHeader"], "thumbnail": entry["thumbnail"]["decryptionHeader"],
        "metadata": (entry["metadata"]["encryptedData"], entry["metadata"]["decryptionHeader"]),
        "magicMetadata": entry.get("magicMetadata"), "pubMagicMetadata": entry.get("pubMagicMetadata"),
    }


def removed(entry: dict[str, Any]) -> bool:
    """The CLI's `IsRemovedFromAlbum`: deleted, or a stale membership of a file whose data is gone."""
    return bool(entry["isDeleted"]) or entry.get("file", {}).get("encryptedData") == "-"


@dataclass
class SyncRun:
    """What one `sync()` did."""

    albums_returned: list[int] = field(default_factory=list)
    diffs_fetched: dict[int, int] = field(default_factory=dict)  # album → diff pages
    entries: int = 0
    downloads: int = 0


class EnteSync:
    """One account's local copy, kept in step by the CLI's algorithm."""

    def __init__(self, library: Library, *, download: bool = True, page_limit: int | None = None) -> None:
        self.library = library
        self.download = download
        self.page_limit = page_limit  # a Shoebox extra to exercise hasMore; the CLI sends none
        self.collections_since = 0  # kvConfig["lastCollectionSync"]
        self.albums: dict[int, RemoteAlbum] = {}  # the remoteAlbums bucket
        self.album_since: dict[int, int] = {}  # kvConfig["collectionFilesSync-<id>"]
        self.pending: dict[tuple[int, int], dict[str, Any]] = {}  # remoteAlbumEntries not yet synced locally
        self.files: dict[int, dict[int, LocalFile]] = {}  # the export: album → file → local copy
        self.received: Counter[Version] = Counter()  # every diff entry ever received
        self.downloads: Counter[Version] = Counter()  # every download ever made
        self.refused: dict[Version, str] = {}  # downloads the server refused, and why
        self.newest_entry: dict[int, int] = {}  # album → the newest entry time any diff has shown

    @property
    def user_id(self) -> int:
        return self.library.user.user_id

    async def sync(self) -> SyncRun:
        run = SyncRun()
        await self._fetch_albums(run)
        await self._fetch_files(run)
        await self._apply(run)
        return run

    # --- 1. albums ------------------------------------------------------------------------------------

    async def _fetch_albums(self, run: SyncRun) -> None:
        last = self.collections_since
        newest = last
        for collection in await self.library.albums(last):
            run.albums_returned.append(collection["id"])
            if last == 0 and collection.get("isDeleted"):
                continue
            album = self._map_album(collection)
            newest = max(newest, album.updation_time)
            self.albums[album.id] = album
        if newest > last:
            self.collections_since = newest

    def _map_album(self, collection: dict[str, Any]) -> RemoteAlbum:
        key = self.library.album_key(collection)
        if collection.get("encryptedName"):
            name = open_secretbox(key, collection["encryptedName"], collection["nameDecryptionNonce"]).decode()
        else:
            name = collection.get("name") or ""
        return RemoteAlbum(id=collection["id"], owner_id=collection["owner"]["id"],
                           is_deleted=bool(collection.get("isDeleted")), updation_time=collection["updationTime"],
                           key=key, name=name)

    # --- 2. file diffs, per album -----------------------------------------------------------------------

    async def _fetch_files(self, run: SyncRun) -> None:
        for album in list(self.albums.values()):
            if album.is_deleted:
                continue
            since = self.album_since.get(album.id, 0)
            first = since == 0
            while since != album.updation_time:
                page, has_more = await self.library.diff(album.id, since, self.page_limit)
                run.diffs_fetched[album.id] = run.diffs_fetched.get(album.id, 0) + 1
                newest = since
                for entry in page:
                    run.entries += 1
                    newest = max(newest, entry["updationTime"])
                    self.newest_entry[album.id] = max(self.newest_entry.get(album.id, 0), entry["updationTime"])
                    self.received[(album.id, entry["id"], entry["updationTime"])] += 1
                    if first and removed(entry):
                        continue  # the first sync needs no delete markers
                    self.pending[(album.id, entry["id"])] = entry
                if not has_more:
                    newest = album.updation_time
                elif newest <= since:
                    raise AssertionError(f"album {album.id}: a page with hasMore did not advance past {since}")
                if newest > since or not has_more:
                    since = newest
                    self.album_since[album.id] = since

    # --- 3. the local copy --------------------------------------------------------------------------------

    async def _apply(self, run: SyncRun) -> None:
        # Removals first, as the CLI sorts them.
        for (album_id, file_id), entry in sorted(self.pending.items(), key=lambda kv: not removed(kv[1])):
            album = self.albums.get(album_id)
            if album is None or album.is_deleted:
                continue
            folder = self.files.setdefault(album_id, {})
            folder.pop(file_id, None)  # a removed entry deletes it; a live one replaces it
            if removed(entry):
                continue
            file_key = open_secretbox(album.key, entry["encryptedKey"], entry["keyDecryptionNonce"])
            title = json.loads(stream_decrypt(file_key, unb64(entry["metadata"]["encryptedData"]),
                                              entry["metadata"]["decryptionHeader"]))["title"]
            digest = None
            if self.download:
                version = (album_id, file_id, entry["updationTime"])
                self.downloads[version] += 1
                run.downloads += 1
                try:
                    blob = await self.library.fetch_object(file_id)
                except AssertionError as failed:  # the CLI's export would stop here
                    self.refused[version] = (f"user {self.user_id} cannot download file {file_id} (owner "
                                             f"{entry['ownerID']}) of album {album_id} (owner {album.owner_id}): "
                                             f"{failed}")
                else:
                    plain = stream_decrypt(file_key, blob, entry["file"]["decryptionHeader"])
                    digest = hashlib.sha256(plain).hexdigest()
            folder[file_id] = LocalFile(project(entry), title, digest)
        self.pending.clear()
        for album_id in [a for a, album in self.albums.items() if album.is_deleted]:
            self.files.pop(album_id, None)  # a deleted album's folder goes

    # --- what a test compares ------------------------------------------------------------------------------

    def state(self) -> dict[int, dict[str, Any]]:
        """The live albums, each with its name, updationTime and files (without their bytes)."""
        return {
            album.id: {"name": album.name, "ownerID": album.owner_id, "updationTime": album.updation_time,
                       "files": {fid: {**f.entry, "title": f.title}
                                 for fid, f in sorted(self.files.get(album.id, {}).items())}}
            for album in sorted(self.albums.values(), key=lambda a: a.id) if not album.is_deleted
        }

    def contents(self) -> dict[tuple[int, int], str | None]:
        """(album, file) → SHA-256 of the downloaded plaintext (None where the download was refused)."""
        return {(a, fid): f.sha256 for a, folder in self.files.items() for fid, f in folder.items()}

    def downloaded_twice(self) -> dict[Version, int]:
        return {v: n for v, n in self.downloads.items() if n > 1}

    def received_twice(self) -> dict[Version, int]:
        return {v: n for v, n in self.received.items() if n > 1}


async def fresh_state(library: Library) -> tuple[dict[int, dict[str, Any]], EnteSync]:
    """The server's truth for this account: a new client's full sync (listing only, no downloads)."""
    fresh = EnteSync(library, download=False)
    await fresh.sync()
    return fresh.state(), fresh
