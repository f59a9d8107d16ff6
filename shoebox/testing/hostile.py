"""Hostile values, each put in turn into every place of a request that holds one of its kind: integers past
PostgreSQL's bigint, NUL in text, malformed object keys, `image_id`s that try to leave their shape. Built
from an operation's declaration, so a new route, parameter or field is covered the day it is added."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from shoebox.testing.instances import Builder, Json, JsonPath, Resolver, leaves, replaced
from shoebox.testing.openapi import Location, Operation

BIGINT_MAX = 2**63 - 1
# The first integers past bigint on either side: what PostgreSQL refuses with "out of range".
HOSTILE_INTEGERS: tuple[int, ...] = (BIGINT_MAX + 1, -BIGINT_MAX - 2)
HOSTILE_TEXT: tuple[str, ...] = ("a\x00b",)
# Ente's objectKey names an object in storage: traversal, empty segments, spaces and NUL.
HOSTILE_OBJECT_KEYS: tuple[str, ...] = ("..", "u/1/e/../../2/e/x", "a//b", "/a", "a b", "a\x00b")
# v1's image ids: other shapes of path, query, number and digit.
HOSTILE_IMAGE_IDS: tuple[str, ...] = (
    "img_1/../2", "img_1?owner_id=1", "img_99999999999999999999", "img_-1", "img_\u0663", "img_1%2F..", "../1",
)
NAMED: Mapping[str, tuple[str, ...]] = {"objectKey": HOSTILE_OBJECT_KEYS, "object_key": HOSTILE_OBJECT_KEYS,
                                        "key": HOSTILE_OBJECT_KEYS, "image_id": HOSTILE_IMAGE_IDS,
                                        "imageId": HOSTILE_IMAGE_IDS}


def hostile_values(name: str, value: str | int | float) -> tuple[Json, ...]:
    if isinstance(value, int):
        return HOSTILE_INTEGERS
    if isinstance(value, str):
        return tuple(dict.fromkeys(NAMED.get(name, ()) + HOSTILE_TEXT))
    return ()


@dataclass(frozen=True)
class Request:
    """One request of an operation, in the terms schemathesis' `Case` takes."""

    path_parameters: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Json = None
    media_type: str | None = None
    # Which value this request varies, for reports (`body.fileIDs.0 = 9223372036854775808`); a base request's
    # own text comes first.
    varied: str = ""  # ASCII: it travels in a header


def base_request(operation: Operation, builder: Builder) -> Request:
    """The smallest request the declaration accepts, every optional query parameter given too."""
    path = {p.name: builder.value(p.schema, p.name) for p in operation.located(Location.PATH)}
    query = {p.name: builder.value(p.schema, p.name) for p in operation.located(Location.QUERY)}
    body = builder.value(operation.body) if operation.body is not None else None
    return Request(path, query, body, operation.media_type)


def hostile_requests(operation: Operation, document: Mapping[str, Any], base: Request | None = None
                     ) -> Iterator[Request]:
    """A base request (by default the smallest the declaration accepts) with one value at a time made
    hostile, in the path, the query and the body."""
    base = base or base_request(operation, Builder(Resolver(document)))
    for location, values in (("path", base.path_parameters), ("query", base.query), ("body", base.body)):
        if values is None:
            continue
        for leaf in leaves(values):
            if location != "body" and len(leaf.path) != 1:
                continue
            for bad in hostile_values(leaf.name, leaf.value):
                yield _vary(base, location, leaf.path, bad)


def _vary(base: Request, location: str, path: JsonPath, bad: Json) -> Request:
    varied = f"{base.varied}{location}.{'.'.join(str(p) for p in path)} = {bad!a}"
    if location == "path":
        return Request({**base.path_parameters, str(path[0]): bad}, base.query, base.body, base.media_type, varied)
    if location == "query":
        return Request(base.path_parameters, {**base.query, str(path[0]): bad}, base.body, base.media_type, varied)
    return Request(base.path_parameters, base.query, replaced(base.body, path, bad), base.media_type, varied)
