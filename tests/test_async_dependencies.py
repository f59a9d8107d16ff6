"""No route of any service depends on a plain function: FastAPI runs each such dependency in a worker thread,
so a one-line lookup (`request.app.state.container.items`) would cost a thread hand-off on every request.
They are all `async def`, and this keeps new ones so."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from shoebox.dev import build_app
from shoebox_lib.settings import Settings


def _routes(router: APIRouter) -> Iterator[APIRoute]:
    for route in router.routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:  # a router included by reference
            yield from _routes(included)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _runs_on_the_loop(call: Callable[..., Any]) -> bool:
    return (inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)
            or inspect.iscoroutinefunction(call.__call__))  # an instance with an async __call__


def test_every_route_dependency_runs_on_the_event_loop(make_settings: Callable[..., Settings]) -> None:
    app = build_app(make_settings())
    checked, threaded = 0, set()
    for name, service in app.services.items():
        for mount in service.mounts:
            for route in _routes(mount.router):
                for call in _calls(route.dependant):
                    checked += 1
                    if not _runs_on_the_loop(call):
                        threaded.add(f"{name}: {call.__module__}.{call.__qualname__}")
    assert checked > 100, f"only {checked} dependencies found: the walk no longer sees the routes"
    assert not threaded, f"dependencies FastAPI would run in a thread (make them async def): {sorted(threaded)}"
