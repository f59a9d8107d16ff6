"""Signing in by password and managing sessions: seed 000's routes and Ente's, answering a superset."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from shoebox_auth.api.deps import Auth
from shoebox_auth.models import Session
from shoebox_auth.service import ClientInfo
from shoebox_auth.sessions import Sessions
from shoebox_lib.auth import CurrentUser

router = APIRouter(tags=["sessions"])


def _sessions(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.sessions
    return sessions


SessionsDep = Annotated[Sessions, Depends(_sessions)]


def client_of(request: Request) -> ClientInfo:
    return ClientInfo(package=request.headers.get("x-client-package"),
                      version=request.headers.get("x-client-version"))


def ip_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def micros(value: datetime) -> int:
    return int(value.timestamp() * 1_000_000)


def pretty_ua(user_agent: str | None) -> str:
    """A short, human name for the client, good enough for a list of sessions."""
    ua = user_agent or ""
    for needle, name in (("Firefox", "Firefox"), ("Edg/", "Edge"), ("Chrome", "Chrome"), ("Safari", "Safari"),
                         ("okhttp", "Android app"), ("Dart", "Ente app"), ("python-httpx", "httpx"),
                         ("curl", "curl")):
        if needle in ua:
            return name
    return ua[:60] or "Unknown client"


def render(row: Session, current: str | None) -> dict[str, Any]:
    return {
        # Ente calls the handle of a session its token; ours is the session id, never a credential.
        "id": row.id, "token": row.id,
        "creationTime": micros(row.created_at), "lastUsedTime": micros(row.last_used_at),
        "ip": row.ip, "ua": row.user_agent, "prettyUA": pretty_ua(row.user_agent),
        "clientPackage": row.client_package, "clientVersion": row.client_version,
        "expiresAt": micros(row.expires_at), "isCurrent": row.id == current, "current": row.id == current,
    }


class PasswordLogin(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


@router.post("/users/login")
async def login(body: PasswordLogin, request: Request, auth: Auth) -> dict[str, Any]:
    issued = await auth.login(body.email, body.password, ip=ip_of(request),
                              user_agent=request.headers.get("user-agent"), client=client_of(request))
    return {"authToken": issued.token, "tokenType": "bearer", "expiresIn": issued.expires_in,
            "sessionId": issued.session_id}


@router.post("/auth/token/refresh")
async def refresh(user: CurrentUser, sessions: SessionsDep) -> dict[str, str]:
    issued = await sessions.refresh(user)
    return {"access_token": issued.token, "token_type": "bearer"}


@router.get("/users/accounts-token")
async def accounts_token(user: CurrentUser, sessions: SessionsDep) -> dict[str, str]:
    """For the accounts web view: a fresh token of the same session, base64-wrapped as Ente expects."""
    issued = await sessions.refresh(user)
    return {"accountsToken": base64.b64encode(issued.token.encode()).decode()}


@router.get("/users/sessions")
async def list_sessions(user: CurrentUser, sessions: SessionsDep) -> dict[str, Any]:
    rows = await sessions.list_open(user.user_id)
    return {"sessions": [render(row, user.session_id) for row in rows]}


@router.delete("/users/sessions/current", status_code=204)
async def revoke_current(user: CurrentUser, sessions: SessionsDep) -> Response:
    await sessions.revoke_current(user)
    return Response(status_code=204)


@router.delete("/users/sessions/{session_id}", status_code=204)
async def revoke_session(session_id: str, user: CurrentUser, sessions: SessionsDep) -> Response:
    await sessions.revoke(user, session_id)
    return Response(status_code=204)


@router.post("/users/sessions/revoke-others")
async def revoke_others(user: CurrentUser, sessions: SessionsDep) -> dict[str, int]:
    return {"revoked": await sessions.revoke_others(user)}


@router.delete("/users/session")
async def ente_revoke_session(user: CurrentUser, sessions: SessionsDep,
                              token: str = Query(min_length=1, max_length=100)) -> dict[str, Any]:
    """Ente's way to end one session: `?token=` names it (the `token` field of the session list)."""
    await sessions.revoke(user, token)
    return {}


@router.post("/users/logout")
async def logout(user: CurrentUser, sessions: SessionsDep) -> dict[str, Any]:
    await sessions.revoke_current(user)
    return {}
