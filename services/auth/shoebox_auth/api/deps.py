"""The one place auth's routers get what they work with: its cores (from the typed container the
runtime holds) and where a request comes from."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from shoebox_auth.admin import UserAdmin
from shoebox_auth.container import Container
from shoebox_auth.directory import Directory
from shoebox_auth.ente.service import EnteAuth
from shoebox_auth.keys import KeyRing
from shoebox_auth.service import AuthService, ClientInfo, Origin
from shoebox_auth.sessions import Sessions


async def container(request: Request) -> Container:
    return cast(Container, request.app.state.container)


ContainerDep = Annotated[Container, Depends(container)]


async def _auth(c: ContainerDep) -> AuthService:
    return c.auth


async def _keys(c: ContainerDep) -> KeyRing:
    return c.keys


async def _sessions(c: ContainerDep) -> Sessions:
    return c.sessions


async def _admin(c: ContainerDep) -> UserAdmin:
    return c.admin


async def _ente(c: ContainerDep) -> EnteAuth:
    return c.ente


async def _directory(c: ContainerDep) -> Directory:
    return c.directory


async def origin(request: Request, c: ContainerDep) -> Origin:
    """The client's address (X-Forwarded-For believed only as far as trusted proxies wrote it, see
    `addresses`) and what the client says it is (Ente's X-Client-Package and X-Client-Version)."""
    peer = request.client.host if request.client else None
    return Origin(
        ip=c.proxies.client(peer, request.headers.getlist("x-forwarded-for")),
        user_agent=request.headers.get("user-agent"),
        client=ClientInfo(package=request.headers.get("x-client-package"),
                          version=request.headers.get("x-client-version")),
    )


AuthDep = Annotated[AuthService, Depends(_auth)]
KeysDep = Annotated[KeyRing, Depends(_keys)]
SessionsDep = Annotated[Sessions, Depends(_sessions)]
UserAdminDep = Annotated[UserAdmin, Depends(_admin)]
EnteDep = Annotated[EnteAuth, Depends(_ente)]
DirectoryDep = Annotated[Directory, Depends(_directory)]
OriginDep = Annotated[Origin, Depends(origin)]
