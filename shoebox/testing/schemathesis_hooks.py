"""Schemathesis hooks for `shoebox.testing.fuzzing`, loaded in the `st` process (`SCHEMATHESIS_HOOKS`) and
nowhere else: importing this module registers them.

- Every request carries the caller's token, as `Authorization: Bearer` and as Ente's `X-Auth-Token`. The
  fuzzer may end its own session (`/users/logout`, …): a 401 on a route that takes a token (USER, ADMIN,
  and SPACE: CL's store and job API verify every token sent) means the token is spent, and the next request
  gets a fresh one from the test process (`MINT_ENV`).
- The caller never changes its own account through the admin routes: deactivating, demoting or deleting
  itself would leave the rest of the run testing refusals.
- The examples phase also sends, for every operation, its request aimed at the caller's own resources
  (`AIMED_ENV`) and its smallest request, each with one value at a time made hostile
  (`shoebox.testing.hostile`), then the aimed request itself.
- An operation whose schemas do not resolve gets no examples of ours; it is written down for the test to
  report (the server's declaration is broken).
- Every answer and every failed check (`filter_failure`, which the engine calls for each) is written,
  one JSON object a line, to `LOG_ENV`'s file.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import threading
from collections.abc import Mapping
from typing import Any

import schemathesis
from schemathesis import APIOperation, Case, HookContext, Response
from schemathesis.core.failures import Failure

from shoebox.testing.fuzzing import AIMED_ENV, CALLER_ENV, CHECKS, HOSTILE_MARK, LOG_ENV, MINT_ENV, Record
from shoebox.testing.hostile import Request, hostile_requests
from shoebox.testing.instances import Unresolvable
from shoebox.testing.openapi import operation_of
from shoebox_lib.web.access import ACCESS_KEY, Access

AnyCase = Case[APIOperation[Any, Any, Any, Any]]  # hooks take a case of any operation
# Routes the caller's token opens; a SPACE route (CL's store, its job API) and an ANYONE route (v1's public images)
# verify a token that is sent, so one they refuse is spent.
TOKEN_ACCESS = frozenset({Access.USER, Access.ADMIN, Access.SPACE, Access.ANYONE})
ACCOUNT_FIELDS = ("user_id", "userID")  # how the admin routes name the account they change
NOBODY = 2**31 - 1
BODY_EXCERPT = 600


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token: str | None = None
        self.log = open(os.environ[LOG_ENV], "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the run

    def write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, default=repr, ensure_ascii=True)
        with self.lock:
            self.log.write(line + "\n")
            self.log.flush()

    def current_token(self) -> str:
        with self.lock:
            if self.token is None:
                self.token = _mint()
            return self.token

    def spent(self, token: str) -> None:
        with self.lock:
            if self.token == token:
                self.token = None
        self.write({"kind": Record.ROTATION})


def _mint() -> str:
    host, port = os.environ[MINT_ENV].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        chunks = []
        while chunk := connection.recv(4096):
            chunks.append(chunk)
    token = b"".join(chunks).decode().strip()
    if not token:
        raise RuntimeError("the test process minted no token")
    return token


STATE = _State()


@functools.cache
def _aimed() -> dict[str, dict[str, Any]]:
    """Per operation, its parameters and body filled with the caller's own resources (`AIMED_ENV`)."""
    path = os.environ.get(AIMED_ENV)
    if not path:
        return {}
    with open(path, encoding="utf-8") as file:
        aimed: dict[str, dict[str, Any]] = json.load(file)
    return aimed


def _access(case: AnyCase) -> str:
    return str(case.operation.definition.raw.get(ACCESS_KEY, ""))


def _label(case: AnyCase) -> str:
    return f"{case.method.upper()} {case.operation.path}"


@schemathesis.hook
def before_add_examples(context: HookContext, examples: list[AnyCase]) -> None:
    operation = context.operation
    if operation is None:
        return
    document = operation.schema.raw_schema
    declared = operation_of(document, operation.method.lower(), operation.path, operation.definition.raw)
    requests: list[Request] = []
    aimed = _aimed().get(declared.label)
    try:
        if aimed is not None:  # the caller's own resources: hostile values reach past the lookups
            base = Request(aimed["path_parameters"], aimed["query"], aimed["body"], declared.media_type, "aimed: ")
            requests += [*hostile_requests(declared, document, base), Request(
                base.path_parameters, base.query, base.body, base.media_type, "aimed at the caller's own resources")]
        requests += hostile_requests(declared, document)
    except Unresolvable as exc:  # the server's declaration is broken: the test reports it, the run goes on
        STATE.write({"kind": Record.BROKEN_DECLARATION, "operation": declared.label, "message": str(exc)})
        return
    for request in requests:
        mark = {HOSTILE_MARK: request.varied}
        if request.media_type is None:
            case = operation.Case(path_parameters=request.path_parameters, query=request.query, headers=mark)
        else:
            case = operation.Case(path_parameters=request.path_parameters, query=request.query, body=request.body,
                                  media_type=request.media_type, headers=mark)
        examples.append(case)


@schemathesis.hook
def before_call(context: HookContext, case: AnyCase, kwargs: dict[str, Any]) -> None:
    token = STATE.current_token()
    case.headers["Authorization"] = f"Bearer {token}"
    case.headers["X-Auth-Token"] = token
    if _access(case) == Access.ADMIN:
        _spare_the_caller(case)


def _spare_the_caller(case: AnyCase) -> None:
    """An admin route aimed at the caller's own account is aimed at nobody instead."""
    caller = os.environ.get(CALLER_ENV)
    body = case.body if isinstance(case.body, dict) else {}
    for values in (case.path_parameters or {}, case.query or {}, body):
        for name in ACCOUNT_FIELDS:
            if name in values and str(values[name]).strip() == caller:
                values[name] = NOBODY


@schemathesis.hook
def after_call(context: HookContext, case: AnyCase, response: Response) -> None:
    STATE.write({"kind": Record.CALL, "operation": _label(case), "status": response.status_code})
    if response.status_code == 401 and _access(case) in TOKEN_ACCESS:
        sent = case.headers.get("X-Auth-Token")
        if sent:
            STATE.spent(str(sent))


@schemathesis.hook
def filter_failure(context: HookContext, failure: Failure, case: AnyCase, response: Response) -> bool:
    """Every failed check, written down (the engine calls this hook for each; it keeps them all)."""
    checks = type(failure).checks
    check = next((c for c in checks if c in CHECKS), checks[0] if checks else failure.code)
    request = response.request
    body = request.body if isinstance(request.body, bytes | str) else b""
    if isinstance(body, str):
        body = body.encode()
    STATE.write({
        "kind": Record.FAILURE, "check": check, "operation": _label(case), "status": response.status_code,
        "title": failure.title, "message": str(failure.message)[:2000],
        "hostile": case.headers.get(HOSTILE_MARK),
        "request_id": _header(response, "x-request-id"),
        "connection": _header(response, "connection"),
        "request": {"method": request.method, "url": request.url,
                    "body": body[:BODY_EXCERPT].decode("utf-8", "backslashreplace")},
        "response": response.content[:BODY_EXCERPT].decode("utf-8", "backslashreplace"),
    })
    return True


@schemathesis.hook
def after_network_error(context: HookContext, case: AnyCase, request: Any) -> None:
    STATE.write({"kind": Record.NETWORK_ERROR, "operation": _label(case),
                 "request": {"method": getattr(request, "method", ""), "url": getattr(request, "url", "")}})


def _header(response: Response, name: str) -> str | None:
    values = response.headers.get(name)
    if not values:
        return None
    return str(values[0]) if isinstance(values, list) else str(values)
