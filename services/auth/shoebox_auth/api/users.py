"""The CL face's user administration (reference/cl-api.md): form bodies, `{detail}` errors."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request

from shoebox_auth.admin import UserChanges
from shoebox_auth.api.cl_models import ClUser, cl_user
from shoebox_auth.api.deps import AuthDep, UserAdminDep
from shoebox_lib.errors import InvalidInput
from shoebox_lib.web.inputs import NonNegative64, Text

UserId = Annotated[NonNegative64, Path()]

router = APIRouter(tags=["cl-admin"])  # mounted for admins only


def parse_permissions(value: str) -> list[str]:
    """CL sends a JSON array (`["a","b"]`) or a comma list (`a,b`); an empty string clears them. Empty names
    inside a list are kept here so that the core refuses them rather than a typo passing unseen."""
    text = value.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            raise InvalidInput("permissions is not a valid JSON array") from None
        if not isinstance(parsed, list) or not all(isinstance(p, str) for p in parsed):
            raise InvalidInput("permissions must be a list of strings")
        return [name for name in parsed]
    return text.split(",")


@router.post("/users/", status_code=201)
async def create_user(admin: UserAdminDep, username: Annotated[Text, Form(min_length=1, max_length=150)],
                      password: Annotated[Text, Form(min_length=1, max_length=1024)],
                      is_admin: Annotated[bool, Form()] = False, is_active: Annotated[bool, Form()] = True,
                      permissions: Annotated[Text, Form(max_length=2000)] = "") -> ClUser:
    user = await admin.create(username, password, is_admin=is_admin, is_active=is_active,
                              permissions=parse_permissions(permissions))
    return cl_user(user)


@router.get("/users/")
async def list_users(admin: UserAdminDep, skip: Annotated[NonNegative64, Query()] = 0,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[ClUser]:
    return [cl_user(user) for user in await admin.list_users(skip, limit)]


@router.get("/users/{user_id:int}")
async def get_user(user_id: UserId, auth: AuthDep) -> ClUser:
    return cl_user(await auth.get_user(user_id))


@router.put("/users/{user_id:int}")
async def update_user(user_id: UserId, request: Request, admin: UserAdminDep,
                      password: Annotated[Text | None, Form(max_length=1024)] = None,
                      permissions: Annotated[Text | None, Form(max_length=2000)] = None,
                      is_active: Annotated[bool | None, Form()] = None,
                      is_admin: Annotated[bool | None, Form()] = None) -> ClUser:
    # FastAPI reads an empty form field as absent, but CL's "permissions=" means "clear them".
    given = (await request.form()).get("permissions")
    if given == "":
        permissions = given
    changes = UserChanges(password=password or None,
                          permissions=parse_permissions(permissions) if permissions is not None else None,
                          is_active=is_active, is_admin=is_admin)
    return cl_user(await admin.update(user_id, changes))


@router.delete("/users/{user_id:int}", status_code=204)
async def delete_user(user_id: UserId, admin: UserAdminDep) -> None:
    await admin.delete(user_id)
