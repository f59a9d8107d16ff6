"""The CL face of auth (seed 004, reference/cl-api.md): signing in and the caller's own account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from shoebox_auth.api.cl_models import ClToken, ClUser, cl_user
from shoebox_auth.api.deps import AuthDep, OriginDep, SessionsDep
from shoebox_lib.auth import CurrentUser
from shoebox_lib.web.inputs import Text

public_router = APIRouter(tags=["cl"])
router = APIRouter(tags=["cl"])


@public_router.post("/auth/token")
async def token(auth: AuthDep, origin: OriginDep, username: Annotated[Text, Form(max_length=320)],
                password: Annotated[Text, Form(max_length=1024)]) -> ClToken:
    issued = await auth.login(username, password, origin)
    return ClToken(access_token=issued.token)


@router.post("/auth/token/refresh")
async def refresh(user: CurrentUser, sessions: SessionsDep) -> ClToken:
    issued = await sessions.refresh(user)
    return ClToken(access_token=issued.token)


@router.get("/users/me")
async def me(principal: CurrentUser, auth: AuthDep) -> ClUser:
    return cl_user(await auth.get_user(principal.user_id))
