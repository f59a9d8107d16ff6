"""A CL protocol client of our own, for tests and benchmarks: what CL's clients send to the store and auth
routes of the one port, written from reference/cl-api.md and seeds 004/002 (not from CL's SDK).

The conventions it keeps, because CL's clients keep them:
- the token travels as `Authorization: Bearer`; it is refreshed (`POST /auth/token/refresh`) when fewer
  than 60 s of its `exp` remain;
- a route gets a plain form when no file is sent and multipart when one is; booleans travel as
  `"true"`/`"false"`, numbers as decimal strings, times as integer milliseconds;
- errors are read from `detail`.

Each route has two calls: one named after the HTTP verb (`post_entities`, `get_entity`…) that answers the
raw `httpx.Response`, for tests about codes; and one named after what it does (`create_collection`,
`read_entity`…) that checks the status and answers a parsed model, for tests about behaviour.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, TypeAdapter

from shoebox.testing import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSystem
from shoebox_auth.service import AuthService
from shoebox_lib.storage import Storage

REFRESH_MARGIN_SECONDS = 60

Model = TypeVar("Model", bound=BaseModel)


class ClError(Exception):
    """A CL answer that was not the one expected: its status and its `detail`."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.detail: Any = detail_of(response)
        super().__init__(f"{response.request.method} {response.request.url.path}: {self.status_code} {self.detail!r}")


def detail_of(response: httpx.Response) -> Any:
    """CL's `{detail}`: a message, or FastAPI's validation list; the text when the body is not JSON."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    return body.get("detail") if isinstance(body, dict) else body


def form_bool(value: bool) -> str:
    return "true" if value else "false"


class _Lenient(BaseModel):
    # CL's client reads the fields it knows and ignores the rest; so do we, so that an extra key is no failure.
    model_config = ConfigDict(extra="allow")


class ClRoot(_Lenient):
    status: str
    service: str
    version: str
    guestMode: str = "off"  # CL's own name, camel case
    auth_required: bool = True


class ClToken(_Lenient):
    access_token: str
    token_type: str


class ClUser(_Lenient):
    id: int
    username: str | None = None
    is_admin: bool
    is_active: bool
    permissions: list[str]
    created_at: str


class ClEntity(_Lenient):
    id: int
    is_collection: bool | None = None
    label: str | None = None
    description: str | None = None
    parent_id: int | None = None
    children_count: int | None = None
    added_date: int | None = None
    updated_date: int | None = None
    create_date: int | None = None
    added_by: str | None = None
    updated_by: str | None = None
    file_size: int | None = None
    height: int | None = None
    width: int | None = None
    duration: float | None = None
    mime_type: str | None = None
    type: str | None = None
    extension: str | None = None
    md5: str | None = None
    file_path: str | None = None
    is_deleted: bool | None = None
    is_indirectly_deleted: bool | None = None


class ClPagination(_Lenient):
    page: int
    page_size: int
    total_items: int
    total_pages: int
    has_next: bool
    has_prev: bool


class ClEntityPage(_Lenient):
    items: list[ClEntity]
    pagination: ClPagination


class ClVersion(_Lenient):
    version: int
    transaction_id: int
    end_transaction_id: int | None = None
    operation_type: int | None = None
    label: str | None = None
    description: str | None = None
    updated_date: int | None = None


class ClStorePref(_Lenient):
    guest_mode: bool
    updated_at: int | None
    updated_by: str | None


class ClPrefUpdated(_Lenient):
    guest_mode: bool
    message: str


class ClReadAuthConfig(_Lenient):
    read_auth_enabled: bool
    updated_at: int | None
    updated_by: str | None


class ClAudit(_Lenient):
    orphaned_files: list[dict[str, Any]]
    orphaned_faces: list[dict[str, Any]]
    orphaned_vectors: list[dict[str, Any]]
    orphaned_mqtt: list[dict[str, Any]]


class ClCleared(_Lenient):
    files_deleted: int
    faces_deleted: int
    vectors_deleted: int
    mqtt_cleared: int


class ClInsightStatus(_Lenient):
    status: str


class Base(StrEnum):
    """Where the entity routes live: seed 004's `/entities`, or seed 002's `/entity/` alias."""

    ENTITIES = "/entities"
    ENTITY = "/entity"


def token_expiry(token: str) -> float | None:
    """The `exp` claim, read without verifying (the server verifies; this only decides when to refresh)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


def expect(response: httpx.Response, model: type[Model], *codes: int) -> Model:
    if response.status_code not in (codes or (200,)):
        raise ClError(response)
    return model.model_validate(response.json())


FileArg = tuple[str, bytes, str | None]  # filename, content, content type


class ClClient:
    """One CL caller (a token, or none) over an `httpx.AsyncClient` whose base URL is the one port."""

    def __init__(self, http: httpx.AsyncClient, token: str | None = None, *, base: Base = Base.ENTITIES,
                 auth_http: httpx.AsyncClient | None = None, auto_refresh: bool = True) -> None:
        self.http = http
        self.auto_refresh = auto_refresh  # off for a caller whose token must arrive as it is (an expired one)
        self.token = token
        self.base = base
        # Sign-in and refresh go here when auth runs apart from the store (a benchmark's `shoebox serve`);
        # on the one port it is the same connection.
        self.auth_http = auth_http or http
        self.me: ClUser | None = None

    # ---- callers

    def as_token(self, token: str | None) -> ClClient:
        """The same connection as another caller (None: no token)."""
        return ClClient(self.http, token, base=self.base, auth_http=self.auth_http, auto_refresh=self.auto_refresh)

    def alias(self) -> ClClient:
        """The same caller on seed 002's `/entity/` routes."""
        return ClClient(self.http, self.token, base=Base.ENTITY, auth_http=self.auth_http,
                        auto_refresh=self.auto_refresh)

    async def headers(self) -> dict[str, str]:
        if self.token is None:
            return {}
        expiry = token_expiry(self.token)
        if self.auto_refresh and expiry is not None and expiry - time.time() < REFRESH_MARGIN_SECONDS:
            await self.refresh()
        return {"Authorization": f"Bearer {self.token}"}

    async def send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                   data: Mapping[str, str] | None = None, files: Mapping[str, FileArg] | None = None,
                   json_body: Any = None, headers: Mapping[str, str] | None = None) -> httpx.Response:
        sent = {**await self.headers(), **(headers or {})}
        kwargs: dict[str, Any] = {"params": params, "headers": sent}
        if files:
            kwargs["files"] = files
            kwargs["data"] = data or {}
        elif data is not None:
            kwargs["data"] = data
        if json_body is not None:
            kwargs["json"] = json_body
        return await self.http.request(method, path, **kwargs)

    # ---- auth

    async def login(self, username: str, password: str) -> ClUser:
        """Sign in with the OAuth2 password form and, as CL's client does after every login, read `/users/me`."""
        response = await self.auth_http.post("/auth/token", data={"username": username, "password": password})
        self.token = expect(response, ClToken).access_token
        self.me = expect(await self.auth_http.get("/users/me", headers={"Authorization": f"Bearer {self.token}"}),
                         ClUser)
        return self.me

    async def refresh(self) -> str:
        response = await self.auth_http.post("/auth/token/refresh",
                                             headers={"Authorization": f"Bearer {self.token}"})
        self.token = expect(response, ClToken).access_token
        return self.token

    async def get_users_me(self) -> httpx.Response:
        return await self.send("GET", "/users/me")

    async def users_me(self) -> ClUser:
        return expect(await self.get_users_me(), ClUser)

    async def post_users(self, username: str, password: str, *, permissions: list[str] | None = None,
                         is_admin: bool = False, is_active: bool = True) -> httpx.Response:
        return await self.send("POST", "/users/", data={
            "username": username, "password": password, "is_admin": form_bool(is_admin),
            "is_active": form_bool(is_active), "permissions": ",".join(permissions or [])})

    async def create_user(self, username: str, password: str, *, permissions: list[str] | None = None,
                          is_admin: bool = False, is_active: bool = True) -> ClUser:
        return expect(await self.post_users(username, password, permissions=permissions, is_admin=is_admin,
                                            is_active=is_active), ClUser, 201)

    async def list_users(self, skip: int = 0, limit: int = 100) -> list[ClUser]:
        response = await self.send("GET", "/users/", params={"skip": skip, "limit": limit})
        if response.status_code != 200:
            raise ClError(response)
        return TypeAdapter(list[ClUser]).validate_python(response.json())

    async def get_user(self, user_id: int) -> httpx.Response:
        return await self.send("GET", f"/users/{user_id}")

    async def put_user(self, user_id: int, *, password: str | None = None, permissions: list[str] | None = None,
                       is_active: bool | None = None, is_admin: bool | None = None) -> httpx.Response:
        data: dict[str, str] = {}
        if password is not None:
            data["password"] = password
        if permissions is not None:
            data["permissions"] = ",".join(permissions)
        if is_active is not None:
            data["is_active"] = form_bool(is_active)
        if is_admin is not None:
            data["is_admin"] = form_bool(is_admin)
        return await self.send("PUT", f"/users/{user_id}", data=data)

    async def delete_user(self, user_id: int) -> httpx.Response:
        return await self.send("DELETE", f"/users/{user_id}")

    # ---- the store's root and administration

    async def get_root(self) -> httpx.Response:
        return await self.send("GET", "/")

    async def root(self) -> ClRoot:
        return expect(await self.get_root(), ClRoot)

    async def get_pref(self) -> httpx.Response:
        return await self.send("GET", "/admin/pref")

    async def pref(self) -> ClStorePref:
        return expect(await self.get_pref(), ClStorePref)

    async def put_guest_mode(self, guest_mode: bool) -> httpx.Response:
        return await self.send("PUT", "/admin/pref/guest-mode", data={"guest_mode": form_bool(guest_mode)})

    async def set_guest_mode(self, guest_mode: bool) -> ClPrefUpdated:
        return expect(await self.put_guest_mode(guest_mode), ClPrefUpdated)

    async def get_config(self) -> httpx.Response:
        return await self.send("GET", "/admin/config")

    async def config(self) -> ClReadAuthConfig:
        return expect(await self.get_config(), ClReadAuthConfig)

    async def put_read_auth(self, enabled: bool) -> httpx.Response:
        return await self.send("PUT", "/admin/config/read-auth", json_body={"enabled": enabled})

    async def set_read_auth(self, enabled: bool) -> ClReadAuthConfig:
        return expect(await self.put_read_auth(enabled), ClReadAuthConfig)

    async def get_audit(self) -> httpx.Response:
        return await self.send("GET", "/system/audit")

    async def audit(self) -> ClAudit:
        return expect(await self.get_audit(), ClAudit)

    async def post_clear_orphans(self) -> httpx.Response:
        return await self.send("POST", "/system/clear-orphans")

    async def clear_orphans(self) -> ClCleared:
        return expect(await self.post_clear_orphans(), ClCleared)

    async def get_insight_status(self) -> httpx.Response:
        return await self.send("GET", "/m_insight/status")

    async def insight_status(self) -> ClInsightStatus:
        return expect(await self.get_insight_status(), ClInsightStatus)

    # ---- entities: paths

    def collection_path(self) -> str:
        """The list/create path: `/entities`, or `/entity/` (seed 002 writes it with its slash)."""
        return "/entities" if self.base is Base.ENTITIES else "/entity/"

    def entity_path(self, entity_id: int | str, tail: str = "") -> str:
        return f"{self.base.value}/{entity_id}{tail}"

    # ---- entities: reading

    async def get_entities(self, *, page: int | None = None, page_size: int | None = None,
                           search_query: str | None = None, version: int | None = None,
                           exclude_deleted: bool | None = None, md5: str | None = None, mime_type: str | None = None,
                           type_: str | None = None, width: int | None = None, height: int | None = None,
                           file_size_min: int | None = None, file_size_max: int | None = None,
                           date_from: int | None = None, date_to: int | None = None, parent_id: int | None = None,
                           is_collection: bool | None = None, extra: Mapping[str, str] | None = None
                           ) -> httpx.Response:
        given: dict[str, Any] = {
            "page": page, "page_size": page_size, "search_query": search_query, "version": version,
            "md5": md5, "mime_type": mime_type, "type": type_, "width": width, "height": height,
            "file_size_min": file_size_min, "file_size_max": file_size_max, "date_from": date_from,
            "date_to": date_to, "parent_id": parent_id}
        params = {k: str(v) for k, v in given.items() if v is not None}
        if exclude_deleted is not None:
            params["exclude_deleted"] = form_bool(exclude_deleted)
        if is_collection is not None:
            params["is_collection"] = form_bool(is_collection)
        params.update(extra or {})
        return await self.send("GET", self.collection_path(), params=params)

    async def list_entities(self, **filters: Any) -> ClEntityPage:
        return expect(await self.get_entities(**filters), ClEntityPage)

    async def all_entities(self, page_size: int = 100, **filters: Any) -> list[ClEntity]:
        """Every page, in order."""
        found: list[ClEntity] = []
        page = 1
        while True:
            answer = await self.list_entities(page=page, page_size=page_size, **filters)
            found += answer.items
            if not answer.pagination.has_next:
                return found
            page += 1

    async def get_lookup(self, *, md5: str | None = None, label: str | None = None) -> httpx.Response:
        params = {k: v for k, v in {"md5": md5, "label": label}.items() if v is not None}
        return await self.send("GET", f"{self.base.value}/lookup", params=params)

    async def lookup(self, *, md5: str | None = None, label: str | None = None) -> ClEntity:
        return expect(await self.get_lookup(md5=md5, label=label), ClEntity)

    async def get_entity(self, entity_id: int | str, version: int | None = None) -> httpx.Response:
        params = {"version": str(version)} if version is not None else None
        return await self.send("GET", self.entity_path(entity_id), params=params)

    async def read_entity(self, entity_id: int, version: int | None = None) -> ClEntity:
        return expect(await self.get_entity(entity_id, version), ClEntity)

    async def get_versions(self, entity_id: int) -> httpx.Response:
        return await self.send("GET", self.entity_path(entity_id, "/versions"))

    async def versions(self, entity_id: int) -> list[ClVersion]:
        response = await self.get_versions(entity_id)
        if response.status_code != 200:
            raise ClError(response)
        return TypeAdapter(list[ClVersion]).validate_python(response.json())

    async def get_media(self, entity_id: int, *, byte_range: str | None = None) -> httpx.Response:
        """`byte_range` is the Range header's value, e.g. `bytes=0-99`."""
        return await self.send("GET", self.entity_path(entity_id, "/media"),
                               headers={"Range": byte_range} if byte_range else None)

    async def download(self, entity_id: int) -> bytes:
        response = await self.get_media(entity_id)
        if response.status_code != 200:
            raise ClError(response)
        return response.content

    async def get_preview(self, entity_id: int) -> httpx.Response:
        return await self.send("GET", self.entity_path(entity_id, "/preview"))

    # ---- entities: writing

    @staticmethod
    def entity_form(*, is_collection: bool | str | None, label: str | None = None, description: str | None = None,
                    parent_id: int | str | None = None) -> dict[str, str]:
        data: dict[str, str] = {}
        if is_collection is not None:
            data["is_collection"] = is_collection if isinstance(is_collection, str) else form_bool(is_collection)
        if label is not None:
            data["label"] = label
        if description is not None:
            data["description"] = description
        if parent_id is not None:
            data["parent_id"] = str(parent_id)
        return data

    async def post_entities(self, *, is_collection: bool | str | None, label: str | None = None,
                            description: str | None = None, parent_id: int | str | None = None,
                            file: FileArg | None = None, file_field: str = "media_file") -> httpx.Response:
        """A plain form without a file, multipart with one (in `media_file`, or the legacy `image`)."""
        data = self.entity_form(is_collection=is_collection, label=label, description=description,
                                parent_id=parent_id)
        files = {file_field: file} if file is not None else None
        return await self.send("POST", self.collection_path(), data=data, files=files)

    async def create_collection(self, label: str, *, description: str | None = None,
                                parent_id: int | None = None) -> ClEntity:
        return expect(await self.post_entities(is_collection=True, label=label, description=description,
                                               parent_id=parent_id), ClEntity, 201)

    async def upload(self, content: bytes, *, filename: str = "file.bin", content_type: str | None = None,
                     label: str | None = None, description: str | None = None, parent_id: int | None = None,
                     file_field: str = "media_file", codes: tuple[int, ...] = (201,)) -> ClEntity:
        response = await self.post_entities(is_collection=False, label=label, description=description,
                                            parent_id=parent_id, file=(filename, content, content_type),
                                            file_field=file_field)
        return expect(response, ClEntity, *codes)

    async def put_entity(self, entity_id: int, *, is_collection: bool | str | None, label: str | None = None,
                         description: str | None = None, parent_id: int | str | None = None,
                         file: FileArg | None = None) -> httpx.Response:
        data = self.entity_form(is_collection=is_collection, label=label, description=description,
                                parent_id=parent_id)
        files = {"media_file": file} if file is not None else None
        return await self.send("PUT", self.entity_path(entity_id), data=data, files=files)

    async def update(self, entity_id: int, *, is_collection: bool, label: str, description: str | None = None,
                     parent_id: int | None = None, file: FileArg | None = None) -> ClEntity:
        return expect(await self.put_entity(entity_id, is_collection=is_collection, label=label,
                                            description=description, parent_id=parent_id, file=file), ClEntity)

    async def patch_entity(self, entity_id: int, fields: Mapping[str, Any], *,
                           as_json: bool = False) -> httpx.Response:
        """A form (CL's current code; booleans as "true"/"false", "" clears) or a JSON object (seed 004)."""
        if as_json:
            return await self.send("PATCH", self.entity_path(entity_id), json_body=dict(fields))
        data = {k: (form_bool(v) if isinstance(v, bool) else "" if v is None else str(v)) for k, v in fields.items()}
        return await self.send("PATCH", self.entity_path(entity_id), data=data)

    async def patch(self, entity_id: int, *, as_json: bool = False, **fields: str | bool | int | None) -> ClEntity:
        return expect(await self.patch_entity(entity_id, fields, as_json=as_json), ClEntity)

    async def soft_delete(self, entity_id: int) -> ClEntity:
        return await self.patch(entity_id, is_deleted=True)

    async def restore(self, entity_id: int) -> ClEntity:
        return await self.patch(entity_id, is_deleted=False)

    async def delete_entity(self, entity_id: int) -> httpx.Response:
        return await self.send("DELETE", self.entity_path(entity_id))

    async def erase(self, entity_id: int) -> None:
        """What CL's client always does: soft-delete, then delete."""
        await self.soft_delete(entity_id)
        response = await self.delete_entity(entity_id)
        if response.status_code != 204:
            raise ClError(response)

    async def delete_all(self) -> httpx.Response:
        """`DELETE /entities` (admin; deprecated in CL's SDK)."""
        return await self.send("DELETE", "/entities")

    async def delete_collection_route(self) -> httpx.Response:
        """Seed 004's `DELETE /entities/collection`: every entity of the store."""
        return await self.send("DELETE", "/entities/collection")


# ---- the callers a CL face test tells apart, on a running system


@dataclass(frozen=True)
class ClCallers:
    """Signed in through CL's own routes: the admin, users holding each store permission (and one holding
    only a free-form name), and the tokens that must open nothing."""

    admin: ClClient
    reader: ClClient  # media_store_read
    writer: ClClient  # media_store_write
    editor: ClClient  # both
    nobody: ClClient  # a valid token with no store permission ("read:jobs" only)
    anonymous: ClClient  # no token
    expired: ClClient  # the editor's claims, validly signed, expired an hour ago
    forged: ClClient  # the editor's claims signed by a key that is not the system's
    garbage: ClClient  # not a JWT at all


async def cl_callers(system: RunningSystem, prefix: str = "cl") -> ClCallers:
    http = system.client
    admin = ClClient(http)
    await admin.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    people: dict[str, ClClient] = {}
    for name, permissions in (("reader", ["media_store_read"]), ("writer", ["media_store_write"]),
                              ("editor", ["media_store_read", "media_store_write"]), ("nobody", ["read:jobs"])):
        username, password = f"{prefix}-{name}", f"{prefix}-{name}-password"
        await admin.create_user(username, password, permissions=permissions)
        person = ClClient(http)
        await person.login(username, password)
        people[name] = person
    editor_token = people["editor"].token
    assert editor_token is not None
    claims = dict(jwt.decode(editor_token, options={"verify_signature": False}))
    auth: AuthService = system.services["auth"].app.state.container.auth
    kid, key = await auth.keys.signing_key()
    now = int(time.time())
    expired = jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, key, algorithm="ES256",
                         headers={"kid": kid})
    forged = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": kid})
    return ClCallers(admin=admin, reader=people["reader"], writer=people["writer"], editor=people["editor"],
                     nobody=people["nobody"], anonymous=ClClient(http),
                     expired=ClClient(http, expired, auto_refresh=False), forged=ClClient(http, forged),
                     garbage=ClClient(http, "not-a-token"))


def store_storage(system: RunningSystem) -> Storage:
    """The storage metadata writes the store's objects to (whichever driver the system runs on)."""
    storage: Storage = system.services["metadata"].app.state.container.objects.storage
    return storage


async def stored_keys(system: RunningSystem, prefix: str = "") -> set[str]:
    """Every object key under `prefix` on the primary tier."""
    return {stored.key async for stored in store_storage(system).primary.list_objects(prefix)}


async def open_multipart_uploads(system: RunningSystem) -> list[str]:
    """Multipart uploads still open on the primary tier (S3 keeps a half-sent upload's parts until aborted)."""
    later = datetime.now(UTC) + timedelta(days=1)
    return [upload.key for upload in
            await store_storage(system).primary.list_multipart_uploads(initiated_before=later)]
