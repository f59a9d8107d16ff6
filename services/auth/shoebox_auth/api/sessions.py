"""Signing in by password and managing sessions: seed 000's routes and Ente's, answering a superset."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from shoebox_auth.api.deps import AuthDep, OriginDep, SessionsDep
from shoebox_auth.api.ente_models import AccountsToken, Empty, PasswordSignIn, Revoked, SessionInfo, SessionList
from shoebox_auth.models import Session
from shoebox_lib.auth import CurrentUser
from shoebox_lib.web.inputs import Text

public_router = APIRouter(tags=["sessions"])
router = APIRouter(tags=["sessions"])


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


def render(row: Session, current: str | None) -> SessionInfo:
    return SessionInfo(
        id=row.id, token=row.id, creationTime=micros(row.created_at), lastUsedTime=micros(row.last_used_at),
        ip=row.ip, ua=row.user_agent, prettyUA=pretty_ua(row.user_agent), clientPackage=row.client_package,
        clientVersion=row.client_version, expiresAt=micros(row.expires_at), isCurrent=row.id == current,
        current=row.id == current,
    )


class PasswordLogin(BaseModel):
    email: Text = Field(min_length=1, max_length=320)
    password: Text = Field(min_length=1, max_length=1024)


@public_router.post("/users/login")
async def login(body: PasswordLogin, auth: AuthDep, origin: OriginDep) -> PasswordSignIn:
    issued = await auth.login(body.email, body.password, origin)
    return PasswordSignIn(authToken=issued.token, tokenType="bearer", expiresIn=issued.expires_in,
                          sessionId=issued.session_id)


@router.get("/users/accounts-token")
async def accounts_token(user: CurrentUser, sessions: SessionsDep) -> AccountsToken:
    """For the accounts web view: a fresh token of the same session, base64-wrapped as Ente expects."""
    issued = await sessions.refresh(user)
    return AccountsToken(accountsToken=base64.b64encode(issued.token.encode()).decode())


@router.get("/users/sessions")
async def list_sessions(user: CurrentUser, sessions: SessionsDep) -> SessionList:
    rows = await sessions.list_open(user.user_id)
    return SessionList(sessions=[render(row, user.session_id) for row in rows])


@router.delete("/users/sessions/current", status_code=204)
async def revoke_current(user: CurrentUser, sessions: SessionsDep) -> None:
    await sessions.revoke_current(user)


@router.delete("/users/sessions/{session_id}", status_code=204)
async def revoke_session(session_id: Annotated[Text, Path(max_length=100)], user: CurrentUser,
                         sessions: SessionsDep) -> None:
    await sessions.revoke(user, session_id)


@router.post("/users/sessions/revoke-others")
async def revoke_others(user: CurrentUser, sessions: SessionsDep) -> Revoked:
    return Revoked(revoked=await sessions.revoke_others(user))


@router.delete("/users/session")
async def ente_revoke_session(user: CurrentUser, sessions: SessionsDep,
                              token: Annotated[Text, Query(min_length=1, max_length=100)]) -> Empty:
    """Ente's way to end one session: `?token=` names it (the `token` field of the session list)."""
    await sessions.revoke(user, token)
    return Empty()


@router.post("/users/logout")
async def logout(user: CurrentUser, sessions: SessionsDep) -> Empty:
    await sessions.revoke_current(user)
    return Empty()
