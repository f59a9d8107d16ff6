"""Values of the JSON Schemas in an OpenAPI document, for tests that build requests from the declarations:
the smallest value a schema accepts (every property present, every list one item long), with a hook to
put known values under known names, and the places in a value where a scalar sits, to vary one at a time.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Json = Any
JsonPath = tuple[str | int, ...]

MAX_DEPTH = 8

# Tried in order for a string with a `pattern`: the first that matches is used.
PATTERN_CANDIDATES = ("a", "a/b", "0" * 64, "1", "a@example.com", "a.b")

# What `fill` answers to leave a value to the schema.
UNSET: Any = object()

# fill(name, schema, path): a value for the property `name` at `path` (its keys from the root), or UNSET.
Fill = Callable[[str, Mapping[str, Any], JsonPath], Any]


def no_fill(name: str, schema: Mapping[str, Any], path: JsonPath) -> Any:
    return UNSET


class Unresolvable(ValueError):
    """A `$ref` that names nothing in the document: the declaration itself is broken (a `#/...` reference is
    a pointer from the document's root, whatever schema it sits in)."""


class Resolver:
    """Follows `$ref`s within one document."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while "$ref" in schema:
            target: Any = self.document
            ref = str(schema["$ref"])
            for part in ref.removeprefix("#/").split("/"):
                try:
                    target = target[part.replace("~1", "/").replace("~0", "~")]
                except (KeyError, IndexError, TypeError):
                    raise Unresolvable(f"$ref {ref!r} resolves to nothing in the document") from None
            schema = target
            seen += 1
            if seen > 32:
                raise ValueError(f"$ref cycle at {schema}")
        return schema


@dataclass(frozen=True)
class Builder:
    """Smallest values of schemas in `resolver`'s document; `fill(name, schema)` may name a value for a
    property or parameter first (UNSET leaves it to the schema)."""

    resolver: Resolver
    fill: Fill = no_fill

    def value(self, schema: Mapping[str, Any], name: str = "", depth: int = 0, path: JsonPath = (),
              items_name: str = "") -> Json:
        """`items_name`: the name an array's items are looked up by (the singular of the property's name,
        which a nullable array's branch no longer carries)."""
        schema = self.resolver.resolve(schema)
        if name:
            given = self.fill(name, schema, path)
            if given is not UNSET:
                return given
        if depth > MAX_DEPTH:
            return None
        for key in ("anyOf", "oneOf"):
            if key in schema:
                branches = [self.resolver.resolve(b) for b in schema[key]]
                usable = [b for b in branches if b.get("type") != "null"] or branches
                return self.value(usable[0], "", depth + 1, path, items_name=name or items_name)
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self.resolver.resolve(part))
            return self.value(merged, "", depth + 1, path, items_name=name or items_name)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), None)
        if kind == "object" or "properties" in schema:
            properties = schema.get("properties", {})
            extra = schema.get("additionalProperties", False)
            if not properties and extra is not False:  # free-form JSON: one entry, so it holds a value
                extra_schema = extra if isinstance(extra, dict) else {"type": "string"}
                return {"a": self.value(extra_schema, "a", depth + 1, (*path, "a"))}
            return {prop: self.value(sub, prop, depth + 1, (*path, prop)) for prop, sub in properties.items()}
        if kind == "array":
            if schema.get("maxItems") == 0:
                return []
            return [self.value(schema.get("items", {}), _singular(name or items_name), depth + 1, (*path, 0))]
        if kind == "string":
            return _string(schema)
        if kind in ("integer", "number"):
            return _number(schema, kind)
        if kind == "boolean":
            return False
        if "default" in schema:
            return copy.deepcopy(schema["default"])
        return "a"


def _singular(name: str) -> str:
    """An item of `fileIDs` is a `fileID`: fills look items up by the singular name."""
    return name[:-1] if name.endswith("s") else name


def _string(schema: Mapping[str, Any]) -> str:
    if isinstance(schema.get("default"), str):
        return str(schema["default"])
    if schema.get("format") == "email":
        return "a@example.com"
    pattern = schema.get("pattern")
    size = max(int(schema.get("minLength", 1)), 1)
    if pattern:
        for candidate in PATTERN_CANDIDATES:
            if re.search(pattern, candidate) and len(candidate) >= size:
                return candidate
    return "a" * size


def _number(schema: Mapping[str, Any], kind: str) -> int | float:
    low = schema.get("minimum")
    if low is None and "exclusiveMinimum" in schema:
        low = schema["exclusiveMinimum"] + 1
    value = max(int(low), 1) if low is not None else 1
    high = schema.get("maximum")
    if high is not None:
        value = min(value, int(high))
    return float(value) if kind == "number" else value


@dataclass(frozen=True)
class Leaf:
    """A scalar in a value: where it is, the name of the property (or parameter) holding it, the scalar."""

    path: JsonPath
    name: str
    value: str | int | float


def leaves(value: Json, path: JsonPath = (), name: str = "") -> Iterator[Leaf]:
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from leaves(sub, (*path, key), key)
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from leaves(sub, (*path, index), _singular(name))
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield Leaf(path, name, value)


def replaced(value: Json, path: JsonPath, new: Json) -> Json:
    """A deep copy of `value` with the scalar at `path` replaced by `new`."""
    result = copy.deepcopy(value)
    if not path:
        return new
    target = result
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    return result
