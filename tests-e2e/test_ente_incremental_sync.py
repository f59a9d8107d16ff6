"""Incremental sync as real Ente clients do it: two users (Alice shares an album with Bob, as a
collaborator, and opens it to guests by a public link) make 20 rounds of random changes; after each
round both sync with a client that follows the Ente CLI's algorithm (shoebox.testing.ente_sync: album
list since the last album time, then file diffs only for albums whose time moved) and their local copy
must equal a fresh full sync, with every file's bytes right and nothing downloaded twice.

The server must move an album's `updationTime` with every change to its contents (commit, add, move,
remove, trash, restore, delete, empty trash, magic metadata, a guest's upload), as Ente's server does."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import random
from dataclasses import dataclass, field
from typing import Any

import nacl.utils
import pytest
from nacl import bindings as sodium
from nacl.exceptions import CryptoError

from shoebox.testing import RunningSystem
from shoebox.testing.ente_client import EnteClient, SignedIn, code_from_log
from shoebox.testing.ente_library import (
    CHUNK,
    CIPHER_CHUNK,
    TAG_FINAL,
    TAG_MESSAGE,
    Album,
    Library,
    Uploaded,
    guest_upload,
    stream_decrypt,
    stream_encrypt,
    stream_tags,
)
from shoebox.testing.ente_sync import EnteSync, fresh_state

ROUNDS = 20
SEED = int(os.environ.get("ENTE_SYNC_SEED", "10"))


# --- the file layout, without a server --------------------------------------------------------------------

def test_files_are_encrypted_in_4_mib_messages_and_read_in_4_mib_plus_17() -> None:
    key = nacl.utils.random(32)
    data = os.urandom(2 * CHUNK + 12345)  # above 8 MiB: three messages
    encrypted, header = stream_encrypt(key, data)
    assert len(encrypted) == len(data) + 3 * 17
    assert stream_tags(key, encrypted, header) == [TAG_MESSAGE, TAG_MESSAGE, TAG_FINAL]
    assert stream_decrypt(key, encrypted, header) == data

    # What a real client does, with libsodium alone: pull 4 MiB + 17 bytes at a time until FINAL.
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, base64.b64decode(header), key)
    pieces = []
    for start in range(0, len(encrypted), CIPHER_CHUNK):
        plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, encrypted[start:start + CIPHER_CHUNK])
        pieces.append((len(plain), tag))
    assert pieces == [(CHUNK, TAG_MESSAGE), (CHUNK, TAG_MESSAGE), (12345, TAG_FINAL)]

    exact = os.urandom(2 * CHUNK)  # a multiple of 4 MiB: the last full message is the FINAL one
    encrypted_exact, header_exact = stream_encrypt(key, exact)
    assert stream_tags(key, encrypted_exact, header_exact) == [TAG_MESSAGE, TAG_FINAL]
    assert stream_decrypt(key, encrypted_exact, header_exact) == exact

    empty, header_empty = stream_encrypt(key, b"")
    assert (len(empty), stream_tags(key, empty, header_empty)) == (17, [TAG_FINAL])
    assert stream_decrypt(key, empty, header_empty) == b""

    with pytest.raises(ValueError, match="without a FINAL"):
        stream_decrypt(key, encrypted[:2 * CIPHER_CHUNK], header)  # cut after the second message

    # The old layout, one message for the whole file, cannot be read 4 MiB + 17 bytes at a time.
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    one_header = sodium.crypto_secretstream_xchacha20poly1305_init_push(state, key)
    one = sodium.crypto_secretstream_xchacha20poly1305_push(state, data, None, TAG_FINAL)
    with pytest.raises(CryptoError):
        stream_decrypt(key, one, base64.b64encode(one_header).decode())


# --- the journey --------------------------------------------------------------------------------------------

async def signed_in(api: RunningSystem, caplog: pytest.LogCaptureFixture, name: str) -> SignedIn:
    client = EnteClient(api.client, f"{name}@example.com", f"{name}-long-password")

    async def read_code(email: str) -> str:
        return code_from_log(caplog.records, email)

    await client.sign_up(read_code)
    return await client.sign_in()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class FileModel:
    owner: str
    upload: Uploaded
    sha256: str
    title: str
    albums: set[int]
    status: str = "live"  # live, trashed, deleted
    trashed_from: int | None = None
    magic: int = 0  # the magic metadata version last written (0: none)
    pub_magic: int = 0


@dataclass
class World:
    """What the test did, hence what the server must hold."""

    rng: random.Random
    libs: dict[str, Library]
    albums: dict[int, tuple[str, Album]] = field(default_factory=dict)
    sharees: dict[int, set[str]] = field(default_factory=dict)
    files: dict[int, FileModel] = field(default_factory=dict)
    link: tuple[Album, str] | None = None
    made: int = 0

    def own_albums(self, user: str) -> list[Album]:
        return [a for owner, a in self.albums.values() if owner == user]

    def visible(self, user: str) -> dict[int, set[int]]:
        """Each album the user sees, with its live files."""
        return {a.id: {f for f, m in self.files.items() if a.id in m.albums and m.status == "live"}
                for owner, a in self.albums.values() if owner == user or user in self.sharees.get(a.id, set())}

    def live(self, user: str | None = None) -> list[FileModel]:
        return [m for m in self.files.values() if m.status == "live" and (user is None or m.owner == user)]

    def data(self) -> tuple[bytes, str]:
        self.made += 1
        return self.rng.randbytes(self.rng.randint(100, 4000)), f"photo-{self.made}.jpg"

    def commit_target(self, user: str) -> Album:
        return self.rng.choice(self.own_albums(user) + [a for owner, a in self.albums.values()
                                                         if user in self.sharees.get(a.id, set())])


async def do_commit(w: World, user: str) -> str:
    album = w.commit_target(user)
    data, title = w.data()
    uploaded = await w.libs[user].upload(album, data, title)
    w.files[uploaded.id] = FileModel(user, uploaded, sha(data), title, {album.id})
    return f"{user} commits {uploaded.id} into {album.id}"


async def do_guest_upload(w: World, user: str) -> str | None:
    if w.link is None:
        return None
    album, token = w.link
    data, title = w.data()
    uploaded = await guest_upload(w.libs[user].http, token, album, data, title)
    owner = w.albums[album.id][0]
    w.files[uploaded.id] = FileModel(owner, uploaded, sha(data), title, {album.id})
    return f"a guest uploads {uploaded.id} into {album.id} through the public link"


async def do_add(w: World, user: str) -> str | None:
    targets = w.own_albums(user) + [a for _, a in w.albums.values() if user in w.sharees.get(a.id, set())]
    options = [(m, a) for m in w.live(user) for a in targets if a.id not in m.albums]
    if not options:
        return None
    m, album = w.rng.choice(options)
    await w.libs[user].add_files(album, [m.upload])
    m.albums.add(album.id)
    return f"{user} adds {m.upload.id} to {album.id}"


async def do_move(w: World, user: str) -> str | None:
    own = w.own_albums(user)
    options = [(m, s, t) for m in w.live(user) for s in own for t in own
               if s.id in m.albums and t.id not in m.albums]
    if not options:
        return None
    m, source, target = w.rng.choice(options)
    await w.libs[user].move_files(source, target, [m.upload])
    m.albums.discard(source.id)
    m.albums.add(target.id)
    return f"{user} moves {m.upload.id} from {source.id} to {target.id}"


async def do_remove(w: World, user: str) -> str | None:
    """Someone else's file out of one's album, or one's own file out of someone else's album; never the
    last album a file is in (real clients move or trash those instead)."""
    options = []
    for m in w.live():
        for album_id in m.albums:
            owner, album = w.albums[album_id]
            if owner != m.owner and user in (owner, m.owner) and len(m.albums) > 1:
                options.append((m, album))
    if not options:
        return None
    m, album = w.rng.choice(options)
    await w.libs[user].remove_files(album, [m.upload.id])
    m.albums.discard(album.id)
    return f"{user} removes {m.upload.id} from {album.id}"


async def do_trash(w: World, user: str) -> str | None:
    own = {a.id for a in w.own_albums(user)}
    options = [m for m in w.live(user) if m.albums & own]
    if not options:
        return None
    m = w.rng.choice(options)
    album_id = min(m.albums & own)
    await w.libs[user].trash([(m.upload.id, album_id)])
    m.status, m.trashed_from, m.albums = "trashed", album_id, set()
    return f"{user} trashes {m.upload.id} (from {album_id})"


def trashed(w: World, user: str) -> list[FileModel]:
    return [m for m in w.files.values() if m.owner == user and m.status == "trashed"]


async def do_restore(w: World, user: str) -> str | None:
    options = trashed(w, user)
    if not options:
        return None
    m = w.rng.choice(options)
    assert m.trashed_from is not None
    album = w.albums[m.trashed_from][1]
    await w.libs[user].restore(album, [m.upload])
    m.status, m.albums = "live", {album.id}
    return f"{user} restores {m.upload.id} into {album.id}"


async def do_delete(w: World, user: str) -> str | None:
    options = trashed(w, user)
    if not options:
        return None
    m = w.rng.choice(options)
    await w.libs[user].delete_forever([m.upload.id])
    m.status = "deleted"
    return f"{user} deletes {m.upload.id} for good"


async def do_empty_trash(w: World, user: str) -> str | None:
    options = trashed(w, user)
    if not options:
        return None
    await w.libs[user].empty_trash()
    for m in options:
        m.status = "deleted"
    return f"{user} empties the trash ({', '.join(str(m.upload.id) for m in options)})"


async def do_magic(w: World, user: str) -> str | None:
    options = w.live(user)
    if not options:
        return None
    m = w.rng.choice(options)
    public = w.rng.random() < 0.5
    value = {"caption": f"edited {w.rng.randint(0, 10**6)}"} if public else {"visibility": w.rng.choice([0, 1])}
    await w.libs[user].set_magic_metadata(m.upload, m.pub_magic if public else m.magic, value, public=public)
    if public:
        m.pub_magic += 1
    else:
        m.magic += 1
    return f"{user} changes the {'public ' if public else ''}magic metadata of {m.upload.id}"


OPERATIONS = {
    "commit": do_commit, "add": do_add, "move": do_move, "remove": do_remove, "trash": do_trash,
    "restore": do_restore, "delete": do_delete, "empty trash": do_empty_trash, "magic metadata": do_magic,
    "guest upload": do_guest_upload,
}


async def attempt(w: World, kind: str, happened: set[str]) -> str | None:
    users = list(w.libs)
    w.rng.shuffle(users)
    for user in users:
        done = await OPERATIONS[kind](w, user)
        if done:
            happened.add(kind)
            return done
    return None


async def make_removable(w: World, happened: set[str]) -> list[str]:
    """A file of Bob's in his own album and in the one Alice shares with him, so that either can remove it
    from hers."""
    own = w.own_albums("bob")[0]
    shared = next(a for _, a in w.albums.values() if "bob" in w.sharees.get(a.id, set()))
    done = []
    candidates = [m for m in w.live("bob") if own.id in m.albums and shared.id not in m.albums]
    if not candidates:
        data, title = w.data()
        uploaded = await w.libs["bob"].upload(own, data, title)
        w.files[uploaded.id] = FileModel("bob", uploaded, sha(data), title, {own.id})
        candidates = [w.files[uploaded.id]]
        happened.add("commit")
        done.append(f"bob commits {uploaded.id} into {own.id}")
    m = candidates[0]
    await w.libs["bob"].add_files(shared, [m.upload])
    m.albums.add(shared.id)
    happened.add("add")
    return [*done, f"bob adds {m.upload.id} to {shared.id}"]


async def change(w: World, kind: str, happened: set[str]) -> list[str]:
    """One change of this kind by either user; if none is possible, first what makes one possible."""
    done = await attempt(w, kind, happened)
    if done:
        return [done]
    if kind in ("restore", "delete", "empty trash"):
        first = await attempt(w, "trash", happened)
        return [first, *([d] if (d := await attempt(w, kind, happened)) else [])] if first else []
    if kind == "remove":
        first_ones = await make_removable(w, happened)
        return [*first_ones, *([d] if (d := await attempt(w, kind, happened)) else [])]
    return []


PROBLEMS = {
    "album time": "an album's updationTime did not move with its files (Ente's server moves it in the same "
                  "transaction)",
    "diverged": "the incremental copy differs from a fresh full sync",
    "downloaded twice": "a file version was handed out and downloaded again",
    "refused": "the server refused a download the real server allows",
    "wrong bytes": "a downloaded file did not decrypt to what was uploaded",
}


def compare(user: str, local: dict[int, dict[str, Any]], server: dict[int, dict[str, Any]]) -> list[str]:
    """How the incremental client's copy differs from the server's."""
    problems = []
    for album_id in sorted(set(local) | set(server)):
        if album_id not in local or album_id not in server:
            problems.append(f"{user}: album {album_id} {'missing locally' if album_id in server else 'stale'}")
            continue
        mine, theirs = local[album_id], server[album_id]
        if mine["updationTime"] != theirs["updationTime"]:
            problems.append(f"{user}: album {album_id} updationTime {mine['updationTime']} locally, "
                            f"{theirs['updationTime']} on the server")
        missing = sorted(set(theirs["files"]) - set(mine["files"]))
        stale = sorted(set(mine["files"]) - set(theirs["files"]))
        changed = sorted(f for f in set(mine["files"]) & set(theirs["files"])
                         if mine["files"][f] != theirs["files"][f])
        for what, found in (("never received", missing), ("removed on the server but kept", stale),
                            ("outdated", changed)):
            if found:
                problems.append(f"{user}: album {album_id}: files {found} {what}")
    return problems


async def test_two_users_sync_incrementally_as_the_ente_cli_does(api: RunningSystem,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shoebox_auth.ente.mailer")
    libs = {name: Library(api.client, await signed_in(api, caplog, name)) for name in ("alice", "bob")}
    w = World(random.Random(SEED), libs)

    holidays = await libs["alice"].create_album("Holidays")
    family = await libs["alice"].create_album("Family")
    bobs = await libs["bob"].create_album("Bob's")
    for owner, album in (("alice", holidays), ("alice", family), ("bob", bobs)):
        w.albums[album.id] = (owner, album)
    await libs["alice"].share(holidays, "bob@example.com", role="COLLABORATOR")
    w.sharees[holidays.id] = {"bob"}
    w.link = (holidays, await libs["alice"].create_link(holidays, enable_collect=True))

    big = os.urandom(CHUNK + 1000)  # two secretstream messages through the whole system
    uploaded = await libs["alice"].upload(holidays, big, "big.jpg")
    w.files[uploaded.id] = FileModel("alice", uploaded, sha(big), "big.jpg", {holidays.id})
    for user in ("alice", "alice", "bob", "bob"):
        await do_commit(w, user)

    clients = {name: EnteSync(lib, page_limit=2) for name, lib in libs.items()}
    problems: dict[str, dict[int, list[str]]] = {kind: {} for kind in PROBLEMS}
    log = ["round 0: the albums, the share, the link and five files"]
    reported: set[str] = set()

    async def check(round_: int) -> None:
        """Both users sync; their copies are compared with the server's; what differs is noted by kind."""
        for name, client in clients.items():
            run = await client.sync()
            server, fresh = await fresh_state(libs[name])
            # The server itself must hold what the test did; anything else is a different bug.
            assert {a: set(s["files"]) for a, s in server.items()} == w.visible(name), (
                f"round {round_}, {name}: the server's library is not what the test made\n" + "\n".join(log))
            for listed in server.values():
                for file_id, entry in listed["files"].items():
                    assert entry["title"] == w.files[file_id].title
            found = {
                "album time": [f"{name}: album {a}: updationTime {server[a]['updationTime']} is older than the "
                               f"newest change to its files ({newest})"
                               for a, newest in fresh.newest_entry.items()
                               if a in server and newest > server[a]["updationTime"]],
                "diverged": compare(name, client.state(), server),
                "downloaded twice": [f"{name}: album {a}: file {f} at {t} downloaded {n} times"
                                     for (a, f, t), n in client.downloaded_twice().items()],
                "refused": list(client.refused.values()),
                "wrong bytes": [f"{name}: album {a}: file {f} has the wrong bytes"
                                for (a, f), digest in client.contents().items()
                                if digest is not None and digest != w.files[f].sha256],
            }
            for kind, lines in found.items():
                fresh_lines = [line for line in lines if kind == "diverged" or line not in reported]
                reported.update(fresh_lines)
                if fresh_lines:
                    problems[kind].setdefault(round_, []).extend(fresh_lines)
            log[-1] += (f"\n    {name} synced: albums {run.albums_returned}, diffs {run.diffs_fetched}, "
                        f"{run.entries} entries, {run.downloads} downloads")

    await check(0)
    kinds = list(OPERATIONS)
    happened: set[str] = set()
    for round_ in range(1, ROUNDS + 1):
        wanted = [kinds[round_ % len(kinds)], *w.rng.choices(kinds, k=w.rng.randint(1, 3))]
        done = [d for kind in wanted for d in await change(w, kind, happened)]
        log.append(f"round {round_}: " + "; ".join(done))
        await check(round_)

    assert happened == set(kinds), f"only {sorted(happened)} happened:\n" + "\n".join(log)
    failed = {kind: rounds for kind, rounds in problems.items() if rounds}
    report = "\n".join(
        f"{PROBLEMS[kind]} (rounds {sorted(rounds)}):\n" + "\n".join(
            f"  round {r}: {line}" for r, lines in sorted(rounds.items()) for line in sorted(set(lines))[:6])
        for kind, rounds in failed.items())
    assert not failed, f"{report}\n\nwhat happened:\n" + "\n".join(log)
