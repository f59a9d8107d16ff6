"""Hostile input on every auth route (issue 9): NUL and other control characters in any string, anonymous
routes included, and integers past 64 bits are a clear 4xx in the face's shape, never a 500; and every Ente
route answers errors in Ente's `{code, message}` (issue 10), except where the real server itself does not."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from shoebox.testing import RunningSystem
from shoebox_lib.web.access import Access
from shoebox_lib.web.faces import Face

BAD = ["a\x00b", "a\x1bb", "a\x85b"]  # NUL, another C0 control, a C1 control

# Every anonymous route that reads a string, with a request whose one string is `{bad}`.
ANONYMOUS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/auth/token", {"data": {"username": "admin{bad}", "password": "x"}}),
    ("POST", "/auth/token", {"data": {"username": "admin", "password": "x{bad}"}}),
    ("POST", "/users/login", {"json": {"email": "a{bad}@example.com", "password": "x"}}),
    ("POST", "/users/login", {"json": {"email": "a@example.com", "password": "x{bad}"}}),
    ("POST", "/users/ott", {"json": {"email": "a{bad}@example.com", "purpose": "login"}}),
    ("POST", "/users/ott", {"json": {"email": "a@example.com", "purpose": "login{bad}"}}),
    ("POST", "/users/verify-email", {"json": {"email": "a{bad}@example.com", "ott": "123456"}}),
    ("POST", "/users/verify-email", {"json": {"email": "a@example.com", "ott": "123{bad}"}}),
    ("GET", "/users/srp/attributes", {"params": {"email": "a{bad}@example.com"}}),
    ("POST", "/users/srp/attributes", {"json": {"email": "a{bad}@example.com"}}),
    ("POST", "/users/srp/attributes", {"params": {"email": "a{bad}@example.com"}}),
    ("POST", "/users/srp/create-session", {"json": {"srpUserID": str(uuid.uuid4()), "srpA": "AAAA{bad}"}}),
    ("POST", "/users/srp/verify-session", {"json": {"srpUserID": str(uuid.uuid4()), "sessionID": str(uuid.uuid4()),
                                                    "srpM1": "AAAA{bad}"}}),
]


def with_bad(request: dict[str, Any], bad: str) -> dict[str, Any]:
    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{bad}", bad)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    return {key: fill(value) for key, value in request.items()}


def assert_face_shape(face: Face, body: dict[str, Any], where: str) -> None:
    if face is Face.CL:
        assert "detail" in body, where
    else:
        assert {"code", "message"} <= set(body), where
        assert "detail" not in body, where
        assert "error" not in body, where


async def test_every_anonymous_route_that_reads_text_is_covered(api: RunningSystem) -> None:
    public = {(r.method, r.path) for r in api.services["auth"].routes() if r.access is Access.PUBLIC}
    without_input = {("GET", "/.well-known/jwks.json"), ("GET", "/auth/public-key")}
    assert public - without_input == {(method, path) for method, path, _ in ANONYMOUS}


@pytest.mark.parametrize("bad", BAD, ids=["nul", "escape", "c1"])
async def test_control_characters_on_anonymous_routes_are_a_clear_4xx(api: RunningSystem, bad: str) -> None:
    faces = {(r.method, r.path): r.face for r in api.services["auth"].routes()}
    for method, path, request in ANONYMOUS:
        response = await api.client.request(method, path, **with_bad(request, bad))
        where = f"{method} {path} {request}"
        face = faces[(method, path)]
        assert response.status_code == (422 if face is Face.CL else 400), f"{where}: {response.text}"
        assert_face_shape(face, response.json(), where)


async def test_control_characters_on_signed_in_and_admin_routes(api: RunningSystem) -> None:
    admin = {"Authorization": f"Bearer {await api.token()}"}
    user = {"Authorization": f"Bearer {await api.user_token('eve')}"}
    created = (await api.client.post("/users/", headers=admin, data={"username": "frank", "password": "p-1"})).json()
    cases: list[tuple[str, str, dict[str, str], dict[str, Any], int]] = [
        ("POST", "/users/", admin, {"data": {"username": "a\x00b", "password": "p"}}, 422),
        ("POST", "/users/", admin, {"data": {"username": "ab", "password": "p\x00"}}, 422),
        ("POST", "/users/", admin, {"data": {"username": "ab", "password": "p", "permissions": "a\x00"}}, 422),
        ("PUT", f"/users/{created['id']}", admin, {"data": {"password": "p\x00"}}, 422),
        ("PUT", f"/users/{created['id']}", admin, {"data": {"permissions": "\x1b"}}, 422),
        ("GET", "/users/public-key", user, {"params": {"email": "a\x00b@example.com"}}, 400),
        ("DELETE", "/users/session", user, {"params": {"token": "ses_\x00"}}, 400),
        ("DELETE", "/users/sessions/ses_%00x", user, {}, 400),
        ("PUT", "/users/attributes", user, {"json": {"keyAttributes": {"kekSalt": "a\x00"}}}, 400),
        ("GET", "/admin/users/", admin, {"params": {"sinceTime": "\x00"}}, 400),
        ("GET", "/admin/user/", admin, {"params": {"email": "a\x00b@example.com"}}, 400),
        ("DELETE", "/admin/user/delete", admin, {"params": {"email": "a\x00b@example.com"}}, 400),
    ]
    for method, path, headers, request, status in cases:
        response = await api.client.request(method, path, headers=headers, **request)
        assert response.status_code == status, f"{method} {path} {request}: {response.text}"
        assert_face_shape(Face.CL if status == 422 else Face.ENTE, response.json(), path)
    # Nothing was created or changed by any of them.
    frank = await api.client.post("/auth/token", data={"username": "frank", "password": "p-1"})
    assert frank.status_code == 200


async def test_integers_past_64_bits_are_refused_at_the_edge(api: RunningSystem) -> None:
    admin = {"Authorization": f"Bearer {await api.token()}"}
    for path, params in (("/users/", {"skip": str(2**63)}), ("/users/", {"skip": "-1"}),
                         (f"/users/{2**64}", {}), ("/users/", {"limit": "٣"})):
        response = await api.client.get(path, headers=admin, params=params)
        assert response.status_code == 422, f"{path} {params}: {response.text}"
        assert "detail" in response.json()
    assert (await api.client.delete(f"/users/{2**70}", headers=admin)).status_code == 422
    for body in ({"userID": 2**63}, {"userID": 0}, {"userID": "1٣"}):
        response = await api.client.post("/admin/user/disable-passkeys", headers=admin, json=body)
        assert response.status_code == 400, body
        assert_face_shape(Face.ENTE, response.json(), str(body))


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def test_every_ente_route_of_auth_answers_errors_in_entes_shape(api: RunningSystem) -> None:
    """Anonymous, and signed in as a normal user with a body of the wrong type: whatever the status, the body
    is `{code, message}`, except the admin routes' refusal, which the real server sends as `{error}`."""
    await api.user_token("grace")
    routes = [r for r in api.services["auth"].routes() if r.face is Face.ENTE]
    assert len(routes) > 20
    for route in routes:
        # A fresh sign-in each time: some of these routes end the session they are called with.
        user = {"Authorization": f"Bearer {await api.token('grace', 'grace-password-123')}"}
        for headers in ({}, user):
            response = await api.client.request(route.method, concrete(route.path), headers=headers,
                                                json=["not", "an", "object"])
            where = f"{route.method} {route.path} {'as a user' if headers else 'anonymously'}"
            if response.status_code < 400:
                continue
            body = response.json()
            if route.access is Access.ADMIN and headers:
                assert (response.status_code, body) == (401, {"error": "insufficient permissions"}), where
            else:
                assert_face_shape(Face.ENTE, body, where)
