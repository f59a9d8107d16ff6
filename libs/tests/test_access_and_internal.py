"""Routes declare their face and access where they are mounted; internal calls are signed and refused
unsigned, tampered, replayed late or from another secret."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from shoebox_lib.errors import NotFound, QuotaExceeded
from shoebox_lib.internal import SIGNATURE_HEADER, InternalClient, signature
from shoebox_lib.web import Face, create_app
from shoebox_lib.web.access import ACCESS_KEY, FACE_KEY, Access, FaceIndex, Mount

SECRET = "a-test-secret"


class Echo(BaseModel):
    value: int


def service() -> FastAPI:
    internal = APIRouter(prefix="/internal/test")

    @internal.post("/echo")
    async def echo(body: Echo) -> Echo:
        if body.value == 404:
            raise NotFound("No such thing")
        if body.value == 426:
            raise QuotaExceeded("Full")
        return Echo(value=body.value + 1)

    public = APIRouter()

    @public.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    users = APIRouter(prefix="/files")

    @users.get("/{file_id}")
    async def file(file_id: int) -> dict[str, int]:
        return {"id": file_id}

    app = create_app("test", "0", [Mount(internal, Face.INTERNAL, Access.INTERNAL),
                                   Mount(public, Face.CL, Access.PUBLIC), Mount(users, Face.ENTE, Access.USER)]).app
    # What the guards read: the installation secret, and a verifier nobody reaches here.
    app.state.runtime = SimpleNamespace(settings=SimpleNamespace(secret_key=SECRET))
    return app


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=service()), base_url="http://svc") as client:
        yield client


def test_every_mounted_route_carries_its_face_and_access_in_the_openapi() -> None:
    paths = service().openapi()["paths"]
    assert paths["/internal/test/echo"]["post"][ACCESS_KEY] == "internal"
    assert paths["/hello"]["get"][FACE_KEY] == "cl"
    assert paths["/files/{file_id}"]["get"][ACCESS_KEY] == "user"
    assert FACE_KEY not in paths["/ping"]["get"]  # ops routes are the app's own, not a face's


def test_internal_routes_live_only_under_internal() -> None:
    router = APIRouter()

    @router.get("/not-internal")
    async def route() -> None: ...

    with pytest.raises(ValueError, match="/internal"):
        create_app("x", "0", [Mount(router, Face.INTERNAL, Access.INTERNAL)])
    inside = APIRouter(prefix="/internal/x")

    @inside.get("/y")
    async def other() -> None: ...

    with pytest.raises(ValueError, match="/internal"):
        create_app("x", "0", [Mount(inside, Face.ENTE, Access.USER)])


async def test_a_signed_call_reaches_an_internal_route_and_errors_come_back_as_themselves(
        http: httpx.AsyncClient) -> None:
    client = InternalClient("caller", "test", http, SECRET)
    assert await client.call("POST", "/internal/test/echo", Echo, body=Echo(value=1)) == Echo(value=2)
    with pytest.raises(NotFound, match="No such thing"):
        await client.call("POST", "/internal/test/echo", Echo, body=Echo(value=404))
    with pytest.raises(QuotaExceeded):
        await client.call("POST", "/internal/test/echo", Echo, body=Echo(value=426))


async def test_unsigned_forged_tampered_and_late_calls_are_refused(http: httpx.AsyncClient) -> None:
    body = b'{"value":1}'
    now = int(time.time())
    good = signature(SECRET, "uploads", now, "POST", "/internal/test/echo", body)
    cases: dict[str, dict[str, str | bytes]] = {
        "unsigned": {},
        "garbage": {SIGNATURE_HEADER: "nonsense"},
        "another secret": {SIGNATURE_HEADER: f"uploads:{now}:"
                           f"{signature('other', 'uploads', now, 'POST', '/internal/test/echo', body)}"},
        "another caller named": {SIGNATURE_HEADER: f"metadata:{now}:{good}"},
        "too old": {SIGNATURE_HEADER: f"uploads:{now - 120}:"
                    f"{signature(SECRET, 'uploads', now - 120, 'POST', '/internal/test/echo', body)}"},
        "non-ascii time": {SIGNATURE_HEADER: f"uploads:١٢:{good}".encode()},
    }
    for name, headers in cases.items():
        response = await http.post("/internal/test/echo", content=body,
                                   headers={**headers, "content-type": "application/json"})
        assert response.status_code == 401, name
        assert set(response.json()) >= {"code", "message"}, name
    tampered = await http.post("/internal/test/echo", content=b'{"value":2}',
                               headers={SIGNATURE_HEADER: f"uploads:{now}:{good}", "content-type": "application/json"})
    assert tampered.status_code == 401
    signed = await http.post("/internal/test/echo", content=body,
                             headers={SIGNATURE_HEADER: f"uploads:{now}:{good}", "content-type": "application/json"})
    assert signed.status_code == 200


async def test_errors_answer_in_the_face_of_the_matched_route_or_of_the_nearest_declared_path(
        http: httpx.AsyncClient) -> None:
    ente = await http.get("/files/not-a-number")  # matched an Ente route, failed validation
    assert set(ente.json()) >= {"code", "message"}
    unknown = await http.get("/files/1/nothing")  # no route: the nearest declared path is Ente's
    assert unknown.status_code == 404
    assert set(unknown.json()) >= {"code", "message"}
    elsewhere = await http.get("/nowhere")
    assert elsewhere.json()["error"] == "NOT_FOUND"  # nothing near: the v1 envelope


def test_the_face_index_prefers_the_longest_declared_prefix() -> None:
    from shoebox_lib.web.access import RouteInfo

    index = FaceIndex([RouteInfo("a", "GET", "/users/me", Face.CL, Access.USER),
                       RouteInfo("a", "GET", "/users/srp/attributes", Face.ENTE, Access.PUBLIC),
                       RouteInfo("b", "GET", "/v1/images/{image_id}", Face.V1, Access.USER)])
    assert index.face_for("/users/me") is Face.CL
    assert index.face_for("/users/srp/attributes/x") is Face.ENTE
    assert index.face_for("/v1/images/img_1:view") is Face.V1
    assert index.face_for("/other") is Face.V1
    assert index.face_for("/users/nothing/here") is Face.CL  # a tie under /users/: the first route's face
    assert index.face_for("/v1/albums/x") is Face.V1


def test_a_path_under_a_face_s_first_segment_answers_in_that_face() -> None:
    from shoebox_lib.web.access import RouteInfo

    index = FaceIndex([RouteInfo("a", "GET", "/storage/usage", Face.ENTE, Access.USER),
                       RouteInfo("a", "POST", "/storage/refresh", Face.ENTE, Access.USER),
                       RouteInfo("a", "GET", "/", Face.CL, Access.PUBLIC)])
    assert index.face_for("/storage/nothing") is Face.ENTE
    assert index.face_for("/elsewhere") is Face.V1  # a root route is no prefix of everything


async def test_a_body_past_the_mount_limit_is_refused_before_it_is_read(http: httpx.AsyncClient) -> None:
    client = InternalClient("caller", "test", http, SECRET)
    big = b'{"value": 1' + b" " * (3 * 1024 * 1024) + b"}"
    now = int(time.time())
    signed = signature(SECRET, "caller", now, "POST", "/internal/test/echo", big)
    response = await http.post("/internal/test/echo", content=big,
                               headers={SIGNATURE_HEADER: f"caller:{now}:{signed}", "content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert await client.call("POST", "/internal/test/echo", Echo, body=Echo(value=5)) == Echo(value=6)


async def test_a_bug_answers_500_in_the_face_and_closes_the_connection() -> None:
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    app = create_app("test", "0", [Mount(router, Face.ENTE, Access.PUBLIC)]).app
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json()["code"] == "INTERNAL_ERROR"
    assert response.headers["connection"] == "close"
