"""Writes the JSON Schema of every bus event into `proto-schemas/`: `python -m shoebox_lib.schemas DIR`.

The committed files are the contract between services; `libs/tests/test_schemas.py` fails when they no
longer match the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shoebox_lib.events import ALL_PAYLOADS, Envelope


def schemas() -> dict[str, dict[str, Any]]:
    """File name → schema: the envelope, and one file per event type with its subject."""
    found: dict[str, dict[str, Any]] = {"envelope.json": Envelope.model_json_schema()}
    for payload in ALL_PAYLOADS:
        schema = payload.model_json_schema()
        schema["x-event-type"] = payload.event_type
        schema["x-subject"] = "<prefix>." + payload.subject_pattern()
        found[f"{payload.event_type}.json"] = schema
    return found


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = directory / name
        path.write_text(render(schema))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1] if len(sys.argv) > 1 else "proto-schemas")):
        print(path)
