"""A small world of the owner's resources for tests that aim every route at something real: an album
shared with a viewer and a collaborator and opened by a public link, a file in it, a private album and
file, a link to one file, a pending v1 image with its upload session, an Uppy upload, an Ente upload not
yet committed, a second session, an account for the admin routes to change, and in CL's store (the space
every account with the store's permissions shares) a collection the owner made through the CL face and a
small image in it (bytes of its own in each world, so that no world's upload is another's duplicate), and in
CL's job API a `hash` job the owner created with a small file of its own (its input file is what a job's file
routes read) and a plug-in worker's credential the admin issued.

The store's mode is the default one whatever the admin's routes are sent: the world answers their mode
switches with the mode they already have (reads need a token).

Resources are made when a request first needs them, so a fresh `World` per request that changes things
costs only what that request names. `fill` (and `request_for`, ready to send) fills a declared operation's
parameters and body from the world by name; a required one the world has no value for raises `Unfillable`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from shoebox.testing import RunningSystem
from shoebox.testing.callers import Callers, bearer, fresh_token
from shoebox.testing.ente_helpers import commit, new_album
from shoebox.testing.flow import random_png
from shoebox.testing.instances import UNSET, Builder, JsonPath, Resolver
from shoebox.testing.openapi import Location, Operation
from shoebox_auth.service import AuthService, Origin
from shoebox_lib.ids import album_id, image_id, share_id
from shoebox_lib.web.access import Access
from shoebox_metadata.library import repo as metadata_repo

JOB_TASK = "hash"  # the task of the world's jobs: built in, so they run without a plug-in
MISSING_ID = 987654321  # an id nobody has: within every integer type, so it is looked up, not refused
MISSING_TOKEN = "missing-link-token-0000000000000000"
LINK_HEADER = "X-Auth-Access-Token"
PARAMETER_CONSTANTS: Mapping[str, Any] = {
    "part_number": 1, "skip": 0, "limit": 10, "sinceTime": "0", "count": 1, "variant": "original", "partNumbers": "1",
    "filename": "a.png", "type": "image/png",
    "task_type": JOB_TASK,  # a built-in task: a job of it runs
}
# Body fields that switch CL's store mode: sent as the mode it has by default, so that it stays (reads need a token).
BODY_CONSTANTS: Mapping[str, Any] = {"guest_mode": "false", "enabled": True}
MISSING_MD5 = "0" * 32
PREVIEW_WAIT_SECONDS = 30.0


class Kind(StrEnum):
    ALBUM = "album"  # shared with the viewer and the collaborator, opened by the public link
    FILE = "file"  # in the album
    PRIVATE_ALBUM = "private album"
    PRIVATE_FILE = "private file"  # in the private album; also a stored v1 image
    LINK = "public link"  # of the album, uploads allowed
    FILE_LINK = "file link"  # a v1 share of the private file
    PENDING_IMAGE = "pending image"  # a v1 image declared, not uploaded
    UPLOAD = "upload session"  # v1's, of the pending image
    UPPY = "uppy upload"
    OBJECT = "ente upload"  # two object keys signed for the owner (a file and its thumbnail), not committed
    SESSION = "second session"  # another session of the owner
    ACCOUNT = "account"  # an ordinary account for the admin routes to change or delete
    STORE_COLLECTION = "store collection"  # a collection of CL's store, made by the owner through the CL face
    STORE_FILE = "store file"  # a small PNG in the store collection, uploaded by the owner
    STORE_PREVIEW = "previewed store file"  # the store file once compute has made its preview
    JOB = "job"  # a `hash` job of CL's job API, created by the owner with a small file (`input/<name>`)
    CREDENTIAL = "worker credential"  # a plug-in worker's credential, issued by the admin


SHARED: frozenset[Kind] = frozenset({Kind.ALBUM, Kind.FILE})


class Aim(StrEnum):
    REAL = "the owner's"
    MISSING = "a made-up id"
    PRIVATE = "the owner's private one"  # what neither the link nor the shares open


@dataclass(frozen=True)
class Slot:
    kind: Kind
    field: str
    missing: Any
    private: Kind | None = None  # the private counterpart, for Aim.PRIVATE


_FILE = Slot(Kind.FILE, "id", MISSING_ID, Kind.PRIVATE_FILE)
_ALBUM = Slot(Kind.ALBUM, "id", MISSING_ID)
SLOTS: Mapping[str, Slot] = {
    "file_id": _FILE, "fileID": _FILE, "fileId": _FILE, "id": _FILE,
    "collection_id": _ALBUM, "collectionID": _ALBUM, "fromCollectionID": _ALBUM,
    "toCollectionID": Slot(Kind.PRIVATE_ALBUM, "id", MISSING_ID + 1),  # a move between two made-up albums
    "share_id": Slot(Kind.FILE_LINK, "share_id", f"shr_{MISSING_ID}"),
    "album_id": Slot(Kind.ALBUM, "album_id", album_id(MISSING_ID)),
    "cover_image_id": Slot(Kind.FILE, "image_id", image_id(MISSING_ID), Kind.PRIVATE_FILE),  # in the album
    "user_id": Slot(Kind.ACCOUNT, "user_id", MISSING_ID),
    "upload_id": Slot(Kind.UPPY, "upload_id", f"upl_{MISSING_ID}"),
    "key": Slot(Kind.UPPY, "key", f"u/{MISSING_ID}/uppy/missing"),
    # CL's store: an entity is the file (a file answers every entity route, media included), a parent the
    # collection, an md5 the file's.
    "entity_id": Slot(Kind.STORE_FILE, "id", MISSING_ID),
    "parent_id": Slot(Kind.STORE_COLLECTION, "id", MISSING_ID),
    "md5": Slot(Kind.STORE_FILE, "md5", MISSING_MD5),
    # CL's job API: a job, one of its files (its input), and a worker credential.
    "job_id": Slot(Kind.JOB, "job_id", f"job_{MISSING_ID}"),
    "file_path": Slot(Kind.JOB, "path", "input/missing.txt"),
    "credential_id": Slot(Kind.CREDENTIAL, "credential_id", f"{MISSING_ID}"),
}


OBJECT_KEYS = ("objectKey", "object_key")


def slot_for(operation: Operation, service: str, location: Location | None, name: str,
             within: str = "") -> Slot | None:
    """Which resource a parameter or body field (of the object `within`) names; a few names mean different
    things on different routes."""
    if operation.access == Access.ADMIN:  # the admin routes name an account, by id or by address
        if name in ("id", "user_id", "userID", "userId"):
            return Slot(Kind.ACCOUNT, "user_id", MISSING_ID)
        if name == "email":
            return Slot(Kind.ACCOUNT, "email", f"missing-{MISSING_ID}@example.com")
    if name == "entity_id" and operation.path.endswith("/preview"):  # compute makes a preview after the upload
        return Slot(Kind.STORE_PREVIEW, "id", MISSING_ID)
    if name == "share_id" and operation.path.startswith("/v1/albums/"):  # an album's link, not an image's
        return Slot(Kind.LINK, "share_id", f"shr_{MISSING_ID}")
    if name == "token":
        if location is Location.QUERY:
            return Slot(Kind.SESSION, "session_id", f"ses_{MISSING_ID}")
        if operation.path.startswith(("/public/files/", "/s/")):
            return Slot(Kind.FILE_LINK, "token", MISSING_TOKEN)
        return Slot(Kind.LINK, "token", MISSING_TOKEN)
    if name == "session_id":
        if service == "uploads":
            return Slot(Kind.UPLOAD, "session_id", f"upl_{MISSING_ID}")
        return Slot(Kind.SESSION, "session_id", f"ses_{MISSING_ID}")
    if name in ("image_id", "imageId"):
        if location is None:  # in a body: an image to upload into
            return Slot(Kind.PENDING_IMAGE, "image_id", image_id(MISSING_ID))
        return Slot(Kind.PRIVATE_FILE, "image_id", image_id(MISSING_ID))
    if name in OBJECT_KEYS:
        field = "thumbnail_key" if within == "thumbnail" else "object_key"  # a file's two objects differ
        missing = f"u/{MISSING_ID}/e/missing-{field}"
        if operation.access == Access.LINK:  # a guest naming a stored object: the album's, or a private one
            return Slot(Kind.FILE, field, missing, Kind.PRIVATE_FILE)
        return Slot(Kind.OBJECT, field, missing)
    return SLOTS.get(name)


class Unfillable(Exception):
    """A required parameter the world has no value for: the world must learn it, the route is not
    skipped."""


@dataclass
class World:
    system: RunningSystem
    callers: Callers
    made: dict[Kind, dict[str, Any]] = field(default_factory=dict)

    def constant(self, name: str, location: Location | None) -> Any:
        """A value that names nothing of the owner's, for a parameter (or, `location` None, a body field)."""
        if name == "email":  # whom to share with, ask about or sign in as: someone uninvolved
            return self.callers.bystander.email
        if location is None:
            return BODY_CONSTANTS.get(name, UNSET)  # else the schema's smallest value will do
        return PARAMETER_CONSTANTS.get(name, UNSET)

    async def get(self, kind: Kind) -> dict[str, Any]:
        if kind not in self.made:
            self.made[kind] = await self._make(kind)
        return self.made[kind]

    async def _make(self, kind: Kind) -> dict[str, Any]:
        api, owner = self.system, self.callers.owner
        auth: AuthService = api.services["auth"].app.state.container.auth
        if kind is Kind.ALBUM:
            album = await new_album(api, await self.owner_token())
            for sharee, role in ((self.callers.viewer, "VIEWER"), (self.callers.collaborator, "COLLABORATOR")):
                await self._ok("POST", "/collections/share", json={
                    "collectionID": album, "email": sharee.email, "role": role, "encryptedKey": "sealed"})
            # Opened by its link from the start, so the routes that change a link have one to change.
            link = await self._ok("POST", "/public/collections", json={"collectionID": album, "enableCollect": True})
            link_id = await self._link_id(link["token"])
            return {"id": album, "album_id": album_id(album), "token": link["token"], "share_id": share_id(link_id)}
        if kind in (Kind.FILE, Kind.PRIVATE_FILE):
            album = (await self.get(Kind.ALBUM if kind is Kind.FILE else Kind.PRIVATE_ALBUM))["id"]
            committed = await commit(api, await self.owner_token(), album)
            return {"id": committed["id"], "object_key": committed["file"]["objectKey"],
                    "thumbnail_key": committed["thumbnail"]["objectKey"], "image_id": image_id(committed["id"])}
        if kind is Kind.PRIVATE_ALBUM:
            return {"id": await new_album(api, await self.owner_token())}
        if kind is Kind.LINK:
            made = await self.get(Kind.ALBUM)
            return {"token": made["token"], "share_id": made["share_id"]}
        if kind is Kind.FILE_LINK:
            image = (await self.get(Kind.PRIVATE_FILE))["image_id"]
            made = await self._ok("POST", f"/v1/images/{image}/shares", json={})
            return {"share_id": made["share_id"], "token": made["token"]}
        if kind is Kind.PENDING_IMAGE:
            made = await self._ok("POST", "/v1/images", json={"filename": "a.png", "content_type": "image/png",
                                                             "size_bytes": 10})
            return {"image_id": made["image_id"]}
        if kind is Kind.UPLOAD:
            image = (await self.get(Kind.PENDING_IMAGE))["image_id"]
            made = await self._ok("POST", "/v1/uploads:resumable", json={"image_id": image, "total_bytes": 10,
                                                                        "content_type": "image/png"})
            return {"session_id": made["session_id"]}
        if kind is Kind.UPPY:
            made = await self._ok("POST", "/s3/multipart", json={"filename": "a.png", "type": "image/png"})
            return {"upload_id": made["uploadId"], "key": made["key"]}
        if kind is Kind.OBJECT:
            made = await self._ok("GET", "/files/upload-urls", params={"count": 2})
            return {"object_key": made["urls"][0]["objectKey"], "thumbnail_key": made["urls"][1]["objectKey"]}
        if kind is Kind.SESSION:
            issued = await auth.open_session(await auth.get_user(owner.user_id), Origin())
            return {"session_id": issued.session_id}
        if kind is Kind.ACCOUNT:
            name = f"acct{secrets.token_hex(4)}"
            user = await auth.create_user(email=f"{name}@example.com", username=name, password=f"{name}-password")
            return {"user_id": user.id, "email": user.email}
        if kind is Kind.STORE_COLLECTION:
            made = await self._ok("POST", "/entities", data={"is_collection": "true",
                                                             "label": f"world {secrets.token_hex(4)}"})
            return {"id": made["id"]}
        if kind is Kind.STORE_FILE:
            parent = (await self.get(Kind.STORE_COLLECTION))["id"]
            made = await self._ok("POST", "/entities", data={
                "is_collection": "false", "label": f"world {secrets.token_hex(4)}", "parent_id": str(parent)},
                files={"media_file": ("world.png", await asyncio.to_thread(random_png), "image/png")})
            return {"id": made["id"], "md5": made["md5"]}
        if kind is Kind.STORE_PREVIEW:
            made = await self.get(Kind.STORE_FILE)
            await self._until_previewed(made["id"])
            return made
        if kind is Kind.JOB:
            created = await self._ok("POST", f"/jobs/{JOB_TASK}", data={"priority": "5"},
                                     files={"file": ("world.txt", secrets.token_bytes(64), "text/plain")})
            job = await self._ok("GET", f"/jobs/{created['job_id']}")
            return {"job_id": created["job_id"], "path": job["input_files"][0]["path"]}
        if kind is Kind.CREDENTIAL:
            made = await self._ok("POST", "/admin/compute/workers/credentials", as_admin=True,
                                  data={"name": f"world {secrets.token_hex(4)}"})
            return {"credential_id": made["credential_id"]}
        raise AssertionError(kind)

    async def _until_previewed(self, entity_id: int) -> None:
        """Wait (a while, not forever) until compute has made the store file's preview. Without one the
        preview's row still tells who is let through; it is then noted as a row whose aim proves little."""
        deadline = time.monotonic() + PREVIEW_WAIT_SECONDS
        while time.monotonic() < deadline:
            response = await self.system.client.get(f"/entities/{entity_id}/preview",
                                                    headers=bearer(await self.owner_token()))
            if response.status_code == 200:
                return
            if response.status_code != 404:
                raise AssertionError(f"building the world: the preview of store entity {entity_id}: "
                                     f"{response.status_code} {response.text}")
            await asyncio.sleep(0.1)

    async def _link_id(self, token: str) -> int:
        container = self.system.services["metadata"].app.state.container
        async with container.links.db.transaction() as session:
            link = await metadata_repo.link_by_token(session, token)
        assert link is not None
        return link.id

    async def owner_token(self) -> str:
        # A new session each time: a request of the matrix may have ended any session made before.
        return await fresh_token(self.system, self.callers.owner.user_id)

    async def _ok(self, method: str, path: str, as_admin: bool = False, **kwargs: Any) -> Any:
        token = await fresh_token(self.system, self.callers.admin.user_id) if as_admin else await self.owner_token()
        response = await self.system.client.request(method, path, headers=bearer(token), **kwargs)
        assert response.status_code in (200, 201), f"building the world: {method} {path}: {response.text}"
        return response.json()


@dataclass(frozen=True)
class Prepared:
    """One request, ready to send, and what of the world it names."""

    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]
    json: Any = None
    data: dict[str, str] | None = None
    names: frozenset[Kind] = frozenset()  # the owner's resources it names (the link aside)

    @property
    def aimed(self) -> bool:
        return bool(self.names)

    @property
    def about_shared(self) -> bool:
        return bool(self.names & SHARED)


@dataclass
class _Filler:
    operation: Operation
    service: str
    world: World
    aim: Aim
    with_link: bool
    dry: bool
    wanted: set[Kind] = field(default_factory=set)
    names: set[Kind] = field(default_factory=set)
    location: Location | None = None

    def lookup(self, name: str, schema: Mapping[str, Any], path: JsonPath = ()) -> Any:
        within = str(path[-2]) if len(path) >= 2 else ""
        if name in OBJECT_KEYS and within == "metadata":
            return None  # a file's metadata travels inline, not as an object
        slot = slot_for(self.operation, self.service, self.location, name, within)
        if slot is None:
            return self.world.constant(name, self.location)
        is_link = slot.field == "token" and slot.kind in (Kind.LINK, Kind.FILE_LINK)
        if is_link:
            if not self.with_link:
                return slot.missing
        elif self.aim is Aim.MISSING:
            return slot.missing
        kind = slot.private if self.aim is Aim.PRIVATE and slot.private else slot.kind
        self.wanted.add(kind)
        if not is_link:
            self.names.add(kind)
        if self.dry:
            return slot.missing
        value = self.world.made[kind][slot.field]
        return value if not isinstance(slot.missing, int) else int(value)


@dataclass(frozen=True)
class Filled:
    """An operation's parameters and body, filled from the world."""

    path_parameters: dict[str, Any]
    query: dict[str, Any]
    headers: dict[str, str]
    body: Any
    names: frozenset[Kind]


async def fill(operation: Operation, service: str, document: Mapping[str, Any], world: World,
               aim: Aim = Aim.REAL, with_link: bool = False) -> Filled:
    """The operation's parameters and body with every name the world knows filled from it (`aim` says
    whose resources they name), the rest the smallest the declaration accepts; a guest's link goes where
    the route takes it."""
    for dry in (True, False):
        filler = _Filler(operation, service, world, aim, with_link, dry)
        filled = _fill(operation, document, filler)
        if dry:
            for kind in sorted(filler.wanted):
                await world.get(kind)
    return filled


async def request_for(operation: Operation, service: str, document: Mapping[str, Any], world: World,
                      headers: dict[str, str], aim: Aim = Aim.REAL, with_link: bool = False) -> Prepared:
    """The operation's request, filled from the world, ready to send with `headers`."""
    filled = await fill(operation, service, document, world, aim, with_link)
    path = operation.path
    for name, value in filled.path_parameters.items():
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    form = operation.media_type is not None and "form" in operation.media_type
    body = filled.body
    return Prepared(
        method=operation.method, path=path, params=filled.query, headers={**headers, **filled.headers},
        json=body if body is not None and not form else None,
        data={k: _form_value(v) for k, v in body.items() if v is not None} if form and isinstance(body, dict) else None,
        names=filled.names,
    )


def _fill(operation: Operation, document: Mapping[str, Any], filler: _Filler) -> Filled:
    path_parameters: dict[str, Any] = {}
    query: dict[str, Any] = {}
    headers: dict[str, str] = {}
    for parameter in operation.parameters:
        filler.location = parameter.location
        if parameter.location is Location.HEADER:
            if parameter.name == LINK_HEADER and filler.with_link:
                filler.wanted.add(Kind.LINK)
                headers[LINK_HEADER] = "" if filler.dry else filler.world.made[Kind.LINK]["token"]
            continue
        value = filler.lookup(parameter.name, parameter.schema)
        if value is UNSET:
            if parameter.required or parameter.location is Location.PATH:
                raise Unfillable(f"{operation.label}: the world has no value for the {parameter.location} "
                                 f"parameter {parameter.name!r}")
            continue
        target = path_parameters if parameter.location is Location.PATH else query
        target[parameter.name] = value
    filler.location = None
    body = Builder(Resolver(document), filler.lookup).value(operation.body) if operation.body is not None else None
    return Filled(path_parameters, query, headers, body, frozenset(filler.names))


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
