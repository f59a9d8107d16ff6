"""The CL face of auth (seed 004, reference/cl-api.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request

from shoebox_auth.api.deps import Auth
from shoebox_lib.auth import CurrentUser

router = APIRouter(tags=["cl"])


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post("/auth/token")
async def token(request: Request, auth: Auth, username: Annotated[str, Form(max_length=320)],
                password: Annotated[str, Form(max_length=1024)]) -> dict[str, str]:
    issued = await auth.login(username, password, ip=_client_ip(request),
                              user_agent=request.headers.get("user-agent"))
    return {"access_token": issued.token, "token_type": "bearer"}


@router.get("/users/me")
async def me(principal: CurrentUser, auth: Auth) -> dict[str, Any]:
    user = await auth.get_user(principal.user_id)
    created: datetime = user.created_at
    return {
        "id": user.id, "username": user.username or user.email, "email": user.email,
        "is_admin": user.is_admin, "is_active": user.is_active, "permissions": list(user.permissions),
        "created_at": created.replace(tzinfo=None).isoformat(),
    }
