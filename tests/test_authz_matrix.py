"""The authorization matrix: every declared route by every kind of caller, one request per cell, aimed at
real resources (`shoebox.testing.world`), with the answer each cell must get.

The routes are read from the declarations (`service.routes()`), so a route is in the matrix the day it is
added; a route whose parameters the world cannot fill fails the test until the world learns them.

What every cell must get:
- no 5xx, ever;
- an `/internal/` route is not routed by the port: 404 for everyone;
- a route that takes a token (USER, ADMIN): 401 for the anonymous caller, a public link's guest, a revoked
  session, a deactivated account, an expired and a forged token;
- an ADMIN route: 403 for every account that is not an admin's (Ente's admin routes answer 401, as
  Ente's server does); the admin is let through;
- a USER route: the owner is let through (no 401 or 403); another user, and the admin (an admin has no
  say in a person's library), get for the owner's resource exactly what they get for a made-up id, so
  existence never leaks; a sharee of the owner's album, on a route about the album or its file, gets
  what the owner gets or what a stranger gets (or 403), never more than its role: a viewer is let
  through only where the collaborator is, the collaborator only where the owner is;
- an ANYONE route (v1's public images): as a USER route, except that a caller who sends no token (the
  anonymous caller, a link's guest) is not refused: the world's images are private, so it gets exactly what
  a made-up id gets, never 401 or 403; a token that is sent and is not valid is still 401;
- a LINK route: every caller without the link gets what the anonymous caller gets, a refusal; the guest
  is let through; with the link, one of the owner's resources the link does not open gets exactly what
  a made-up one gets;
- a SPACE route (CL's store: one space every account with the store's permissions shares, owned by no
  person), in the store's default mode (reads need `media_store_read`, writes `media_store_write`): 401
  for every caller without a valid token, as above; 403 for an account without the store's permissions;
  every account with them (ordinary accounts have both) and the admin are let through (a route's own 4xx,
  such as 404 for a made-up id or 422 for an incomplete form, is let through: no 401 or 403). The space is
  nobody's own, so existence is not hidden: each of them gets exactly what the owner (who made the world's
  entities) gets, not what a made-up id gets.
- a SPACE route whose mount declares its resources the caller's own (`Holder.CALLER`: CL's job API, whose
  jobs belong to their creator though the mode is the store's): 401 for every caller without a valid
  token; 403 naming `ai_inference_support` for every account without it (the account without the store's
  permissions, and the sharees, who hold the store's permissions only); the owner is let through to their
  own job; another user holding the permission is let through, but gets for the owner's job exactly what a
  made-up id gets (existence never leaks); the admin sees every job: it gets what the owner gets.
Requests that change things run on a fresh world per caller who may be let through, so no cell sees
another's changes (the store's entities of each world are its own, with bytes of their own). The space's
rows come last: the admin's routes that empty the whole space or switch its mode run before any row reads
the store's entities, and the world sends those switches as the mode the store already has.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from shoebox.testing import RunningSystem
from shoebox.testing.callers import (
    JOB_ACCOUNTS,
    SHAREES,
    STORE_ACCOUNTS,
    UNAUTHENTICATED,
    WITHOUT_JOB_PERMISSION,
    Callers,
    Who,
    sign_in_everyone,
)
from shoebox.testing.instances import Unresolvable
from shoebox.testing.openapi import Operation, openapi_path, operation_of
from shoebox.testing.world import Aim, Prepared, Unfillable, World, request_for
from shoebox_lib.web.access import Access, Holder, RouteInfo
from shoebox_lib.web.faces import Face

pytestmark = pytest.mark.timeout(900)

REFUSALS_WITHOUT_LINK = (401, 403, 404, 410)
JOB_PERMISSION = "ai_inference_support"


def job_route(route: RouteInfo) -> bool:
    """A SPACE route whose resources are each caller's own (CL's job API, as its mount declares): a caller
    sees only their own jobs (the admin all of them)."""
    return route.access is Access.SPACE and route.holder is Holder.CALLER


@dataclass(frozen=True)
class Cell:
    route: RouteInfo
    who: Who
    aim: Aim
    status: int
    body: str
    request: Prepared

    @property
    def label(self) -> str:
        return f"{self.route.method} {self.route.path}"

    @property
    def let_through(self) -> bool:
        return self.status < 400

    def describe(self) -> str:
        query = f"?{'&'.join(f'{k}={v}' for k, v in self.request.params.items())}" if self.request.params else ""
        sent = self.request.json if self.request.json is not None else self.request.data
        request = f"{self.request.method} {self.request.path}{query}" + (f" body={str(sent)[:200]}" if sent else "")
        return f"{self.who} ({self.aim}) got {self.status}: {self.body[:200]!r}  [{request}]"


def declared(system: RunningSystem) -> list[RouteInfo]:
    return [route for service in system.services.values() for route in service.routes()]


def operation_for(route: RouteInfo, documents: Mapping[str, Mapping[str, Any]]) -> Operation:
    document = documents[route.service]
    path = openapi_path(route.path)
    return operation_of(document, route.method.lower(), path, document["paths"][path][route.method.lower()])


@dataclass
class Walk:
    system: RunningSystem
    callers: Callers
    documents: Mapping[str, Mapping[str, Any]]
    reading_world: World  # shared by every request that changes nothing
    requests: int = 0

    def world(self, route: RouteInfo, fresh: bool) -> World:
        if route.method == "GET" or not fresh:
            return self.reading_world
        return World(self.system, self.callers)

    async def cell(self, route: RouteInfo, operation: Operation, who: Who, world: World, aim: Aim = Aim.REAL,
                   with_link: bool = False) -> Cell:
        prepared = await request_for(operation, route.service, self.documents[route.service], world,
                                     await self.callers.headers(self.system, who), aim, with_link)
        return await self.send(route, who, aim, prepared)

    async def send(self, route: RouteInfo, who: Who, aim: Aim, prepared: Prepared) -> Cell:
        response = await self.system.client.request(prepared.method, prepared.path, params=prepared.params,
                                                    headers=prepared.headers, json=prepared.json, data=prepared.data)
        self.requests += 1
        return Cell(route, who, aim, response.status_code, response.text, prepared)

    async def route(self, route: RouteInfo) -> list[Cell]:
        operation = operation_for(route, self.documents)
        if route.access is Access.INTERNAL:
            return await self.internal(route)
        if route.access is Access.LINK:
            return await self.link(route, operation)
        if route.access is Access.PUBLIC:
            return [await self.cell(route, operation, who, self.world(route, fresh=False), with_link=who is Who.GUEST)
                    for who in Who]
        if job_route(route):
            return await self.job_route(route, operation)
        if route.access is Access.SPACE:
            return await self.space_route(route, operation)
        return await self.token_route(route, operation)

    async def job_route(self, route: RouteInfo, operation: Operation) -> list[Cell]:
        """Jobs are their creator's: the other user and the admin aim at the owner's job (the other user at a
        made-up one too), the owner at their own and at a made-up one; requests that change things run on
        a world of their own for each caller who may be let through."""
        root = (await self.system.client.get("/")).json()
        assert root.get("auth_required") is True, f"the store is not in its default mode for {route.method} " \
                                                  f"{route.path}: {root}"
        first = self.world(route, fresh=True)
        cells = [await self.cell(route, operation, who, first, with_link=who is Who.GUEST)
                 for who in (*UNAUTHENTICATED, *WITHOUT_JOB_PERMISSION)]
        other = await self.cell(route, operation, Who.OTHER, first)
        if other.request.aimed:  # before it: a stranger let through wrongly may change the owner's job
            cells.append(await self.cell(route, operation, Who.OTHER, first, Aim.MISSING))
        cells.append(other)
        cells.append(await self.cell(route, operation, Who.ADMIN, self.world(route, fresh=True)))
        world = self.world(route, fresh=True)
        owner = await request_for(operation, route.service, self.documents[route.service], world,
                                  await self.callers.headers(self.system, Who.OWNER))
        if owner.aimed:
            cells.append(await self.cell(route, operation, Who.OWNER, self.world(route, fresh=True), Aim.MISSING))
        cells.append(await self.send(route, Who.OWNER, Aim.REAL, owner))
        return cells

    async def space_route(self, route: RouteInfo, operation: Operation) -> list[Cell]:
        """The store is shared: every account with its permissions is let through to the owner's entities,
        each on a world of its own when the request changes things."""
        root = (await self.system.client.get("/")).json()
        assert root.get("auth_required") is True, f"the store is not in its default mode for {route.method} " \
                                                  f"{route.path}: {root}"
        first = self.world(route, fresh=True)
        cells = [await self.cell(route, operation, who, first, with_link=who is Who.GUEST)
                 for who in (*UNAUTHENTICATED, Who.NO_STORE)]
        for who in STORE_ACCOUNTS:
            world = self.world(route, fresh=True)
            real = await self.cell(route, operation, who, world)
            if who is Who.OWNER and real.request.aimed:
                cells.append(await self.cell(route, operation, who, self.world(route, fresh=True), Aim.MISSING))
            cells.append(real)
        return cells

    async def internal(self, route: RouteInfo) -> list[Cell]:
        path = re.sub(r"\{[^}]+\}", "1", openapi_path(route.path))
        cells = []
        for who in Who:
            prepared = Prepared(route.method, path, {}, await self.callers.headers(self.system, who))
            cells.append(await self.send(route, who, Aim.REAL, prepared))
        return cells

    async def token_route(self, route: RouteInfo, operation: Operation) -> list[Cell]:
        first = self.world(route, fresh=True)
        cells = [await self.cell(route, operation, who, first, with_link=who is Who.GUEST) for who in UNAUTHENTICATED]
        if route.access is Access.ANYONE:
            cells.append(await self.cell(route, operation, Who.ANONYMOUS, first, Aim.MISSING))
        if route.access is Access.ADMIN:
            cells += [await self.cell(route, operation, who, first) for who in (Who.OTHER, Who.OWNER)]
            cells.append(await self.cell(route, operation, Who.ADMIN, self.world(route, fresh=True)))
            return cells
        for who in (Who.OTHER, Who.ADMIN):  # strangers to the owner's library
            real = await self.cell(route, operation, who, first)
            cells.append(real)
            if real.request.aimed:
                cells.append(await self.cell(route, operation, who, first, Aim.MISSING))
        for who in SHAREES:
            world = first if who is Who.VIEWER else self.world(route, fresh=True)
            prepared = await request_for(operation, route.service, self.documents[route.service], world,
                                         await self.callers.headers(self.system, who))
            if prepared.about_shared:
                cells.append(await self.send(route, who, Aim.REAL, prepared))
        world = self.world(route, fresh=True)
        owner = await request_for(operation, route.service, self.documents[route.service], world,
                                  await self.callers.headers(self.system, Who.OWNER))
        if owner.aimed:
            cells.append(await self.cell(route, operation, Who.OWNER, world, Aim.MISSING))
        cells.append(await self.send(route, Who.OWNER, Aim.REAL, owner))
        return cells

    async def link(self, route: RouteInfo, operation: Operation) -> list[Cell]:
        first = self.world(route, fresh=True)
        cells = [await self.cell(route, operation, who, first) for who in Who if who is not Who.GUEST]
        guest = await self.cell(route, operation, Who.GUEST, self.world(route, fresh=True), with_link=True)
        if guest.request.aimed:
            for aim in (Aim.MISSING, Aim.PRIVATE):
                cells.append(await self.cell(route, operation, Who.GUEST, first, aim, with_link=True))
        cells.append(guest)
        return cells


def violations(route: RouteInfo, cells: list[Cell]) -> list[str]:
    """What is wrong with one route's row, each with the cell that shows it."""
    found = []
    by = {(c.who, c.aim): c for c in cells}

    def wrong(cell: Cell, expected: str) -> None:
        found.append(f"{cell.describe()}; expected {expected}")

    for cell in cells:
        if cell.status >= 500:
            wrong(cell, "no 5xx")
    if route.access is Access.INTERNAL:
        for cell in cells:
            if cell.status != 404:
                wrong(cell, "404: the port does not route /internal/")
        return found
    if route.access is Access.PUBLIC:
        anonymous = by[(Who.ANONYMOUS, Aim.REAL)]
        for cell in cells:
            if cell.status == 401 and anonymous.status != 401:
                wrong(cell, f"what the anonymous caller gets ({anonymous.status}): a token never closes a public route")
        return found
    if route.access is Access.LINK:
        anonymous = by[(Who.ANONYMOUS, Aim.REAL)]
        if anonymous.status not in REFUSALS_WITHOUT_LINK:
            wrong(anonymous, f"a refusal {REFUSALS_WITHOUT_LINK} without the link")
        for cell in cells:
            if cell.who is not Who.GUEST and cell.status != anonymous.status:
                wrong(cell, f"what the anonymous caller gets ({anonymous.status}): without the link, nothing opens")
        guest = by[(Who.GUEST, Aim.REAL)]
        if guest.status in (401, 403):
            wrong(guest, "the link to let its guest through")
        private, missing = by.get((Who.GUEST, Aim.PRIVATE)), by.get((Who.GUEST, Aim.MISSING))
        if private and missing and private.status != missing.status:
            wrong(private, f"what a made-up id gets ({missing.status}): the link opens only its own album")
        return found
    without_token = (Who.ANONYMOUS, Who.GUEST) if route.access is Access.ANYONE else ()
    for cell in cells:
        if cell.who in UNAUTHENTICATED and cell.who not in without_token and cell.status != 401:
            wrong(cell, "401")
    if without_token:
        missing = by[(Who.ANONYMOUS, Aim.MISSING)]
        for who in without_token:
            cell = by[(who, Aim.REAL)]
            if cell.status != missing.status or cell.status in (401, 403):
                wrong(cell, f"what a made-up id gets ({missing.status}): a private image is not found without a token")
    if job_route(route):
        owner = by[(Who.OWNER, Aim.REAL)]
        for cell in cells:
            if cell.who in WITHOUT_JOB_PERMISSION and (cell.status != 403 or JOB_PERMISSION not in cell.body):
                wrong(cell, f"403 naming {JOB_PERMISSION}: the account does not hold it")
            if cell.who in JOB_ACCOUNTS and cell.status in (401, 403):
                wrong(cell, f"to be let through: the account holds {JOB_PERMISSION}")
        other, missing = by[(Who.OTHER, Aim.REAL)], by.get((Who.OTHER, Aim.MISSING))
        if missing is not None and other.status != missing.status:
            wrong(other, f"what a made-up id gets ({missing.status}): another user's job must look missing")
        admin = by[(Who.ADMIN, Aim.REAL)]
        if admin.status != owner.status:
            wrong(admin, f"what the owner gets ({owner.status}): the admin sees every job")
        return found
    if route.access is Access.SPACE:
        owner = by[(Who.OWNER, Aim.REAL)]
        for cell in cells:
            if cell.who is Who.NO_STORE and cell.status != 403:
                wrong(cell, "403: the account holds none of the store's permissions")
            if cell.who not in STORE_ACCOUNTS or cell.aim is not Aim.REAL:
                continue
            if cell.status in (401, 403):
                wrong(cell, "to be let through: the account holds the store's permissions")
            elif cell.status != owner.status:
                wrong(cell, f"what the owner gets ({owner.status}): the space is shared, nothing in it is hidden")
        return found
    if route.access is Access.ADMIN:
        # Ente's server refuses a signed-in non-admin with its middleware's 401; every other face says 403.
        refusal = (401, 403) if route.face is Face.ENTE else (403,)
        for cell in cells:
            if cell.who in (Who.OWNER, Who.OTHER) and cell.status not in refusal:
                wrong(cell, f"{' or '.join(map(str, refusal))}: not an admin")
        admin = by[(Who.ADMIN, Aim.REAL)]
        if admin.status in (401, 403):
            wrong(admin, "the admin to be let through")
        return found
    owner = by[(Who.OWNER, Aim.REAL)]
    if owner.status in (401, 403):
        wrong(owner, "the owner to be let through")
    for who in (Who.OTHER, Who.ADMIN):
        real, missing = by[(who, Aim.REAL)], by.get((who, Aim.MISSING))
        if real.status in (401, 403) and not real.request.aimed:
            wrong(real, "a signed-in caller to be let through to their own")
        if missing is not None and real.status != missing.status:
            wrong(real, f"what a made-up id gets ({missing.status}): someone else's resource must look missing")
    stranger = by[(Who.OTHER, Aim.REAL)]
    ladder: list[Cell | None] = [by.get((who, Aim.REAL)) for who in (Who.VIEWER, Who.COLLABORATOR)] + [owner]
    for who in SHAREES:
        sharee = by.get((who, Aim.REAL))
        if sharee is not None and sharee.status not in (owner.status, stranger.status, 403):
            wrong(sharee, f"what the owner gets ({owner.status}), what a stranger gets ({stranger.status}), or 403")
    for lower, higher in itertools.pairwise(ladder):
        if lower is not None and higher is not None and lower.let_through and not higher.let_through:
            wrong(lower, f"no more than the {higher.who} gets ({higher.status})")
    return found


def unaimed(route: RouteInfo, cells: list[Cell]) -> str | None:
    """A row whose aim proves nothing: the owner's own resource answers like a made-up one."""
    by = {(c.who, c.aim): c for c in cells}
    real, missing = by.get((Who.OWNER, Aim.REAL)), by.get((Who.OWNER, Aim.MISSING))
    if route.access in (Access.USER, Access.ANYONE, Access.SPACE) and real and missing \
            and real.status == missing.status:
        return f"{route.method} {route.path}: the owner gets {real.status} for their own and for a made-up id"
    guest, anonymous = by.get((Who.GUEST, Aim.REAL)), by.get((Who.ANONYMOUS, Aim.REAL))
    if route.access is Access.LINK and guest and anonymous and guest.status == anonymous.status:
        return f"{route.method} {route.path}: the guest gets {guest.status} with the link, as without it"
    return None


def row(route: RouteInfo, cells: list[Cell]) -> str:
    statuses = ", ".join(f"{c.who}{'' if c.aim is Aim.REAL else f' ({c.aim})'}={c.status}" for c in cells)
    return f"{route.method} {route.path} [{route.access}]: {statuses}"


async def test_every_route_answers_every_caller_as_declared(api: RunningSystem) -> None:
    started = time.monotonic()
    callers = await sign_in_everyone(api)
    documents = {name: service.app.openapi() for name, service in api.services.items()}
    walk = Walk(api, callers, documents, World(api, callers))
    sent: list[int] = []  # every request, the world's building included

    async def count(request: httpx.Request) -> None:
        sent.append(1)

    api.client.event_hooks["request"].append(count)
    rows: dict[RouteInfo, list[Cell]] = {}
    unfillable: list[str] = []
    routes = declared(api)
    assert any(job_route(r) for r in routes), "CL's job API declares its jobs the caller's own"
    # The space's rows last (a stable sort): see the module's docstring.
    for route in sorted(routes, key=lambda route: route.access is Access.SPACE):
        try:
            rows[route] = await walk.route(route)
        except Unfillable as exc:
            unfillable.append(str(exc))
        except Unresolvable as exc:
            unfillable.append(f"{route.method} {route.path}: its declaration is broken: {exc}")
    wrong: dict[str, list[str]] = defaultdict(list)
    for route, cells in rows.items():
        for problem in violations(route, cells):
            wrong[f"{route.method} {route.path} [{route.access}]"].append(problem)
    cells_count = sum(len(cells) for cells in rows.values())
    notes = [note for route, cells in rows.items() if (note := unaimed(route, cells))]
    print(f"authorization matrix: {len(rows)} routes, {cells_count} cells ({walk.requests} requests, "
          f"{len(sent)} with the world's building), {time.monotonic() - started:.0f}s")
    print("\n".join(row(route, cells) for route, cells in rows.items()))
    if notes:
        print("rows whose aim proves little:\n  " + "\n  ".join(notes))
    report = [f"{len(wrong)} routes answer some caller wrongly ({sum(map(len, wrong.values()))} cells):"]
    for label, problems in sorted(wrong.items()):
        report.append(f"{label}:")
        report.extend(f"    {p}" for p in problems)
    if unfillable:
        report.append("routes the world cannot aim at (teach shoebox.testing.world their parameters):")
        report.extend(f"    {u}" for u in unfillable)
    assert not unfillable, "\n".join(report)
    assert not wrong, "\n".join(report)
