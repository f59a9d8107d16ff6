"""Ente Auth's routes (`/authenticator/…`), with the real server's shapes: the key, the codes and their
diff. Writes answer 200 with an empty body, as the real server does. Thin: the rules are in
`authenticator.service`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from shoebox_lib.auth import CurrentUser
from shoebox_lib.web.inputs import Int64, Text
from shoebox_metadata.api.deps import AuthenticatorDep
from shoebox_metadata.authenticator.service import Sealed
from shoebox_metadata.clock import now_us
from shoebox_metadata.models import AuthenticatorEntity, AuthenticatorKey

router = APIRouter(tags=["ente-auth"])

# The real server bounds none of these; Shoebox does. A key is a secretbox'd 32-byte key (64 characters of
# base64) and its nonce (32); a code is an encrypted otpauth:// URI with its display settings and note,
# a few hundred bytes in practice; headers are 24 bytes (32 characters).
MAX_KEY = 1024
MAX_HEADER = 1024
MAX_ENTITY_DATA = 256 * 1024

EMPTY_200: dict[int | str, dict[str, Any]] = {
    200: {"description": "Done. The body is empty, as on Ente's server.", "content": {}}}


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CreateKeyBody(Body):
    encryptedKey: Text = Field(min_length=1, max_length=MAX_KEY)
    header: Text = Field(min_length=1, max_length=MAX_HEADER)


class EntityBody(Body):
    encryptedData: Text = Field(min_length=1, max_length=MAX_ENTITY_DATA)
    header: Text = Field(min_length=1, max_length=MAX_HEADER)


class UpdateEntityBody(EntityBody):
    id: uuid.UUID


class AuthKey(BaseModel):
    userID: int
    encryptedKey: str
    header: str
    createdAt: int


class AuthEntity(BaseModel):
    id: str
    userID: int
    encryptedData: str | None  # None once deleted
    header: str | None
    isDeleted: bool
    createdAt: int
    updatedAt: int


class EntityDiff(BaseModel):
    diff: list[AuthEntity]
    timestamp: int = Field(description="The server's wall clock (µs); the Auth apps estimate their clock drift "
                                        "from it. Page by the newest `updatedAt`, not by this.")


def render_key(key: AuthenticatorKey) -> AuthKey:
    return AuthKey(userID=key.owner_id, encryptedKey=key.encrypted_key, header=key.header, createdAt=key.created_at)


def render_entity(entity: AuthenticatorEntity) -> AuthEntity:
    return AuthEntity(id=str(entity.id), userID=entity.owner_id, encryptedData=entity.encrypted_data,
                      header=entity.header, isDeleted=entity.is_deleted, createdAt=entity.created_at,
                      updatedAt=entity.updated_at)


@router.post("/authenticator/key", response_class=Response, responses=EMPTY_200)
async def create_key(body: CreateKeyBody, user: CurrentUser, authenticator: AuthenticatorDep) -> Response:
    await authenticator.create_key(user, body.encryptedKey, body.header)
    return Response(status_code=200)


@router.get("/authenticator/key")
async def get_key(user: CurrentUser, authenticator: AuthenticatorDep) -> AuthKey:
    return render_key(await authenticator.key(user))


@router.post("/authenticator/entity")
async def create_entity(body: EntityBody, user: CurrentUser, authenticator: AuthenticatorDep) -> AuthEntity:
    return render_entity(await authenticator.create_entity(user, Sealed(body.encryptedData, body.header)))


@router.put("/authenticator/entity", response_class=Response, responses=EMPTY_200)
async def update_entity(body: UpdateEntityBody, user: CurrentUser, authenticator: AuthenticatorDep) -> Response:
    await authenticator.update_entity(user, str(body.id), Sealed(body.encryptedData, body.header))
    return Response(status_code=200)


@router.delete("/authenticator/entity", response_class=Response, responses=EMPTY_200)
async def delete_entity(id: Annotated[uuid.UUID, Query()], user: CurrentUser,
                        authenticator: AuthenticatorDep) -> Response:
    await authenticator.delete_entity(user, str(id))
    return Response(status_code=200)


@router.get("/authenticator/entity/diff")
async def entity_diff(sinceTime: Annotated[Int64, Query()], limit: Annotated[Int64, Query()], user: CurrentUser,
                      authenticator: AuthenticatorDep) -> EntityDiff:
    entities = await authenticator.diff(user, sinceTime, limit)
    return EntityDiff(diff=[render_entity(e) for e in entities], timestamp=now_us())
