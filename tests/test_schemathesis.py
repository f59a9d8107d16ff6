"""Schemathesis against every service's OpenAPI, through the one port, as an admin and as a normal user.

All of its phases (examples, coverage, fuzzing, and stateful where the document links operations), a fixed
seed and a bounded number of examples, so that it fits CI. The examples phase also sends, for every
operation, its smallest request with one value at a time made hostile (integers past bigint, NUL in text,
malformed object keys, `image_id` tricks: `shoebox.testing.hostile`). It asserts that no answer is a 5xx or
a broken connection, and that every answer of a route that declares its response model conforms to it.
A failure lists every finding, grouped by route and cause, with a request that reproduces it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from shoebox.testing import RunningSystem
from shoebox.testing.callers import sign_in_everyone
from shoebox.testing.fuzzing import Budget, Caller, describe, fuzz, run_schemathesis
from shoebox.testing.hostile import (
    BIGINT_MAX,
    HOSTILE_IMAGE_IDS,
    HOSTILE_INTEGERS,
    HOSTILE_OBJECT_KEYS,
    HOSTILE_TEXT,
    base_request,
    hostile_requests,
)
from shoebox.testing.instances import Builder, Resolver, leaves
from shoebox.testing.openapi import operations, public_document
from shoebox.testing.world import World
from shoebox_lib.embedded import free_port
from shoebox_lib.web.access import ACCESS_KEY, Access

pytestmark = pytest.mark.timeout(900)


@pytest.mark.parametrize("who", ["admin", "user"])
async def test_no_5xx_and_answers_conform_to_their_models(api: RunningSystem, tmp_path: Path, who: str) -> None:
    callers = await sign_in_everyone(api)
    if who == "admin":  # the admin is the owner of the world the examples aim at
        callers = dataclasses.replace(callers, owner=callers.admin)
    caller = Caller(callers.owner.email, callers.owner.user_id)
    run = await fuzz(api, caller, tmp_path / "schemathesis", world=World(api, callers))
    report = describe(run)
    print(report)
    assert run.summary.get("complete"), f"schemathesis did not finish:\n{run.output[-4000:]}"
    assert not run.hook_errors, f"shoebox.testing.schemathesis_hooks failed:\n{run.output[-6000:]}"
    assert not run.broken_declarations, report
    assert run.requests > 1000, f"schemathesis sent too few requests to mean anything:\n{report}\n{run.output[-4000:]}"
    assert not run.server_errors, report
    assert not run.conformance_failures, report


class Item(BaseModel):
    name: str
    count: int


class Thing(BaseModel):
    id: int


def canary() -> FastAPI:
    """An API with the defects the suite hunts: a 500 on what PostgreSQL would refuse, and an answer that
    breaks its declared model (beside one that declares none)."""
    app = FastAPI()

    @app.post("/items", openapi_extra={ACCESS_KEY: Access.USER.value})
    async def add(item: Item) -> dict[str, bool]:
        if "\x00" in item.name or abs(item.count) > BIGINT_MAX:
            raise RuntimeError("a value PostgreSQL cannot hold")
        return {"ok": True}

    @app.get("/thing", response_model=Thing)
    async def thing() -> JSONResponse:
        return JSONResponse({"id": "not a number"})

    @app.get("/free")
    async def free() -> JSONResponse:
        return JSONResponse(["whatever", "it", "likes"])

    return app


async def test_the_suite_finds_a_5xx_and_a_broken_model(tmp_path: Path) -> None:
    """The whole chain (hooks, hostile examples, log, grouping) on an API known to be broken, so that a
    clean run of the real system means something."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(canary(), host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)

    async def mint() -> str:
        return "canary-token"

    try:
        run = await run_schemathesis(canary().openapi(), f"http://127.0.0.1:{port}", Caller("canary", 1), mint,
                                     tmp_path, Budget(max_examples=3))
    finally:
        server.should_exit = True
        await serving
    report = describe(run)
    assert not run.hook_errors, run.output[-6000:]
    errors = {f.operation for f in run.server_errors}
    assert errors == {"POST /items"}, report
    hostile = {f.hostile for f in run.server_errors}
    assert {"body.name = 'a\\x00b'", "body.count = 9223372036854775808"} <= hostile, report
    assert {f.operation for f in run.conformance_failures} == {"GET /thing"}, report


def test_hostile_examples_reach_every_kind_of_known_defect(api: RunningSystem) -> None:
    """The examples the suite adds put each hostile kind where the issue found it: the suite would catch
    each of them again."""
    document = public_document(api.services)
    sent = {op.label: [r.varied for r in hostile_requests(op, document)] for op in operations(document)}
    beyond, nul = ascii(HOSTILE_INTEGERS[0]), ascii(HOSTILE_TEXT[0])
    expected = {
        "POST /trash/delete": [f"body.fileIDs.0 = {beyond}"],
        "GET /collections/v2": [f"query.sinceTime = {nul}"],
        "POST /auth/token": [f"body.username = {nul}"],
        "POST /users/login": [f"body.email = {nul}"],
        "POST /users/ott": [f"body.email = {nul}"],
        "POST /users/": [f"body.username = {nul}"],
        "POST /files": [f"body.file.objectKey = {key!a}" for key in HOSTILE_OBJECT_KEYS],
        "PUT /files/thumbnail": [f"body.thumbnail.objectKey = {key!a}" for key in HOSTILE_OBJECT_KEYS],
        "POST /v1/uploads:resumable": [f"body.image_id = {trick!a}" for trick in HOSTILE_IMAGE_IDS],
        "GET /v1/images/{image_id}": [f"path.image_id = {nul}"],
        "PUT /storage/admin/quota/{user_id}": [f"body.quota = {beyond}", f"path.user_id = {beyond}"],
    }
    for label, variations in expected.items():
        assert label in sent, f"{label} is no longer declared"
        missing = [v for v in variations if v not in sent[label]]
        assert not missing, f"{label}: no hostile example varies {missing}; it sends {sent[label]}"
    # Every text and integer of every operation's path, query and body is made hostile in some example.
    builder = Builder(Resolver(document))
    for op in operations(document):
        base = base_request(op, builder)
        for location, values in (("path", base.path_parameters), ("query", base.query), ("body", base.body)):
            for leaf in leaves(values):
                place = f"{location}.{'.'.join(map(str, leaf.path))} = "
                assert any(v.startswith(place) for v in sent[op.label]), f"{op.label}: {place}… is never hostile"
    assert all(op.access != Access.INTERNAL for op in operations(document)), "the port never routes /internal/"
