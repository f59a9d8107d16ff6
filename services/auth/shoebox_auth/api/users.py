"""The CL face's user administration (reference/cl-api.md): form bodies, `{detail}` errors."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, Response

from shoebox_auth.admin import Admin, UserChanges
from shoebox_auth.models import User
from shoebox_lib.auth import AdminUser
from shoebox_lib.errors import InvalidInput

router = APIRouter(tags=["cl-admin"])


def _admin(request: Request) -> Admin:
    admin: Admin = request.app.state.admin
    return admin


AdminCore = Annotated[Admin, Depends(_admin)]


def parse_permissions(value: str) -> list[str]:
    """CL sends a JSON array (`["a","b"]`) or a comma list (`a,b`); an empty string clears them."""
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
        return [p.strip() for p in parsed if p.strip()]
    return [p.strip() for p in text.split(",") if p.strip()]


def render(user: User) -> dict[str, Any]:
    return {
        "id": user.id, "username": user.username or user.email, "email": user.email,
        "is_admin": user.is_admin, "is_active": user.is_active, "permissions": list(user.permissions),
        "created_at": user.created_at.replace(tzinfo=None).isoformat(),
    }


@router.post("/users/", status_code=201)
async def create_user(_: AdminUser, admin: AdminCore, username: Annotated[str, Form(min_length=1, max_length=150)],
                      password: Annotated[str, Form(min_length=1, max_length=1024)],
                      is_admin: Annotated[bool, Form()] = False, is_active: Annotated[bool, Form()] = True,
                      permissions: Annotated[str, Form(max_length=2000)] = "") -> dict[str, Any]:
    user = await admin.create(username, password, is_admin=is_admin, is_active=is_active,
                              permissions=parse_permissions(permissions))
    return render(user)


@router.get("/users/")
async def list_users(_: AdminUser, admin: AdminCore, skip: int = Query(0, ge=0),
                     limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    return [render(user) for user in await admin.list_users(skip, limit)]


@router.get("/users/{user_id:int}")
async def get_user(user_id: int, _: AdminUser, admin: AdminCore) -> dict[str, Any]:
    return render(await admin.auth.get_user(user_id))


@router.put("/users/{user_id:int}")
async def update_user(user_id: int, request: Request, _: AdminUser, admin: AdminCore,
                      password: Annotated[str | None, Form(max_length=1024)] = None,
                      permissions: Annotated[str | None, Form(max_length=2000)] = None,
                      is_active: Annotated[bool | None, Form()] = None,
                      is_admin: Annotated[bool | None, Form()] = None) -> dict[str, Any]:
    # FastAPI reads an empty form field as absent, but CL's "permissions=" means "clear them".
    given = (await request.form()).get("permissions")
    permissions = given if isinstance(given, str) else permissions
    changes = UserChanges(password=password or None,
                          permissions=parse_permissions(permissions) if permissions is not None else None,
                          is_active=is_active, is_admin=is_admin)
    return render(await admin.update(user_id, changes))


@router.delete("/users/{user_id:int}", status_code=204)
async def delete_user(user_id: int, _: AdminUser, admin: AdminCore) -> Response:
    await admin.delete(user_id)
    return Response(status_code=204)
