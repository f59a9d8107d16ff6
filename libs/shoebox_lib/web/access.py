"""Who may call a route and which face it speaks, declared where its router is mounted.

A service mounts each router with `Mount(router, face, access)`. The access becomes the router's
dependencies (so it is enforced), and both are written on every route it holds (`route.face`,
`route.access`, and `x-shoebox-face` / `x-shoebox-access` in the OpenAPI), so error shapes, the gateway's
table and the authorization tests are derived from the routers rather than kept in lists beside them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute

from shoebox_lib.auth.dependencies import optional_principal, require_admin, require_principal
from shoebox_lib.auth.principal import Principal
from shoebox_lib.errors import Forbidden
from shoebox_lib.internal import INTERNAL_PREFIX, require_internal
from shoebox_lib.web.faces import Face

FACE_KEY = "x-shoebox-face"
ACCESS_KEY = "x-shoebox-access"
HOLDER_KEY = "x-shoebox-holder"


class Access(StrEnum):
    PUBLIC = "public"  # anybody: signing in, public keys, the CL root
    USER = "user"  # a valid, unrevoked token of an account
    LINK = "link"  # a public link's own token (checked by the route, against the link)
    ADMIN = "admin"  # a token of an admin account
    INTERNAL = "internal"  # another Shoebox service, signed with the installation secret; never routed from outside
    # Anyone, signed in or not: a token that is sent is verified; without one, the route shows only what its
    # owner made public (v1's public images), and anything else answers as missing.
    ANYONE = "anyone"
    # A shared space (CL's store): a token that is sent is verified; the route decides from the space's mode
    # (open reads, or reads and writes by permission) whether the caller may go on.
    SPACE = "space"


class Holder(StrEnum):
    """Whose the resources of a SPACE route are: the shared space's (CL's store: every permitted caller sees
    the same ones), or each caller's own (CL's jobs: another's are not found, as a made-up one is)."""

    SPACE = "space"
    CALLER = "caller"


_GUARDS: dict[Access, Callable[..., Any] | None] = {
    Access.PUBLIC: None,
    Access.LINK: None,
    Access.USER: require_principal,
    Access.ADMIN: require_admin,
    Access.INTERNAL: require_internal,
    Access.ANYONE: optional_principal,
    Access.SPACE: optional_principal,
}


# The largest request body a route reads unless its mount says otherwise: above what any real client
# sends to a JSON route (an Uppy completion of 10,000 parts is about 600 KB). Bigger bodies are refused
# with 413 before they are read, whatever Content-Length claims.
DEFAULT_MAX_BODY = 2 * 1024 * 1024


@dataclass(frozen=True)
class Mount:
    """A router, the face its routes speak, who may call them and the largest body they read (None: the
    route streams its body itself, as CL's uploads through the API do)."""

    router: APIRouter
    face: Face
    access: Access
    max_body_size: int | None = DEFAULT_MAX_BODY
    # What an ADMIN route tells an account that is not an admin's, where the face's server words it its own way.
    admin_refusal: str | None = None
    holder: Holder | None = None  # SPACE routes only: Holder.SPACE unless said otherwise

    @property
    def holds(self) -> Holder | None:
        return (self.holder or Holder.SPACE) if self.access is Access.SPACE else None


@dataclass(frozen=True)
class RouteInfo:
    """One route as its mount declared it."""

    service: str
    method: str
    path: str
    face: Face
    access: Access
    holder: Holder | None = None  # whose a SPACE route's resources are

    @property
    def static_prefix(self) -> str:
        """The part of the path before its first parameter (`/files/download/{id}` → `/files/download/`)."""
        return self.path.split("{", 1)[0]


def mount(app: FastAPI, mounted: Mount) -> None:
    """Label each of the router's routes, then include it behind its access guard. (FastAPI includes a
    router by reference, so the labels on its own routes are what requests and the OpenAPI see.)"""
    internal = mounted.access is Access.INTERNAL
    if mounted.holder is not None and mounted.access is not Access.SPACE:
        raise ValueError("only a SPACE mount says whose its resources are")
    for route in mounted.router.routes:
        if not isinstance(route, APIRoute):
            continue
        if internal != route.path.startswith(INTERNAL_PREFIX + "/"):
            raise ValueError(f"{route.path}: internal routes live under {INTERNAL_PREFIX}/ and nothing else does")
        # A module's router is mounted again by every app built from it (tests build many), always with
        # the same declaration; two different declarations for one route are a mistake.
        if getattr(route, "access", mounted.access) != mounted.access or getattr(route, "face", mounted.face) \
                != mounted.face:
            raise ValueError(f"{route.path}: mounted as {route.face}/{route.access} and as "  # type: ignore[attr-defined]
                             f"{mounted.face}/{mounted.access}")
        if hasattr(route, "access"):
            continue
        route.openapi_extra = {**(route.openapi_extra or {}), FACE_KEY: mounted.face.value,
                               ACCESS_KEY: mounted.access.value}
        if mounted.holds is not None:
            route.openapi_extra[HOLDER_KEY] = mounted.holds.value
        route.tags = [*route.tags, mounted.face.value]
        # Read back by the error handlers (`scope["route"]`) and by `route_infos`.
        route.face = mounted.face  # type: ignore[attr-defined]
        route.access = mounted.access  # type: ignore[attr-defined]
    guard = _admin_guard(mounted.admin_refusal) if mounted.admin_refusal and mounted.access is Access.ADMIN \
        else _GUARDS[mounted.access]
    app.include_router(mounted.router, dependencies=[Depends(guard)] if guard else None,
                       max_body_size=mounted.max_body_size)


def _admin_guard(refusal: str) -> Callable[..., Any]:
    async def guard(principal: Annotated[Principal, Depends(require_principal)]) -> Principal:
        if not principal.is_admin:
            raise Forbidden(refusal)
        return principal

    return guard


def route_infos(service: str, mounts: Iterable[Mount]) -> list[RouteInfo]:
    """Every route the mounts declare (the app's own ops routes, which no mount declares, are left out)."""
    return [RouteInfo(service, method, route.path, mounted.face, mounted.access, mounted.holds)
            for mounted in mounts for route in mounted.router.routes if isinstance(route, APIRoute)
            for method in sorted(route.methods or ())]


class FaceIndex:
    """The face of a path that matched no route (404, 405): that of the declared route sharing the longest
    static prefix with it; else that of most routes under the path's first segment (`/storage/nothing` is
    Ente's); else v1."""

    def __init__(self, routes: Iterable[RouteInfo]) -> None:
        routes = list(routes)
        self._prefixes: Sequence[tuple[str, Face]] = sorted(
            {(r.static_prefix.rstrip("/") or "/", r.face) for r in routes}, key=lambda item: -len(item[0]))
        by_segment: dict[str, Counter[Face]] = {}
        for route in routes:
            by_segment.setdefault(_first_segment(route.path), Counter())[route.face] += 1
        self._segments = {segment: faces.most_common(1)[0][0] for segment, faces in by_segment.items()}

    def face_for(self, path: str) -> Face:
        for prefix, face in self._prefixes:
            if prefix != "/" and (path == prefix or path.startswith((prefix.rstrip("/") + "/", prefix + ":"))):
                return face
        return self._segments.get(_first_segment(path), Face.V1)


def _first_segment(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0].split(":", 1)[0]
