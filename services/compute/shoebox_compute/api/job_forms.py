"""Reading a job submission: a plain form or multipart, whose files are streamed into storage as they
arrive (`submissions.Staging`), and whose other fields become the task's parameters.

What CL's SDK sends: every value as text (`str(value)`: `"5"`, `"90"`, `"png"`, `"true"`, and Python's
`"True"`). A parameter that reads as an integer, a decimal number or a boolean is kept as one, so a
worker gets `{"quality": 90, "include_original": true}`; anything else stays text.

Inputs besides uploaded files: `item_id`, or `external_files` (seed 004: a JSON list of
`{"path", "metadata"}`), whose paths must name a library item as `item:<id>`. A local path (CL's
`/path/to/file`, or hls_streaming's `input_absolute_path`) is never read: a job reads only what is in
storage, and only what its caller may read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError

from shoebox_compute.submissions import Staging
from shoebox_lib.errors import Unprocessable
from shoebox_lib.web.inputs import BIGINT_MAX
from shoebox_lib.web.plain_form import checked_text, open_form
from shoebox_lib.web.streaming_form import FormField

FORM_OVERHEAD = 1024 * 1024  # what multipart framing and the fields may add around the files
MAX_FIELDS = 100
MAX_EXTERNAL_FILES = 16
PRIORITY = "priority"
EXTERNAL_FILES = "external_files"
ITEM_ID = "item_id"
RESERVED = frozenset({PRIORITY, EXTERNAL_FILES, ITEM_ID})
DEFAULT_PRIORITY = 5
PRIORITY_MAX = 10
PARAM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
ITEM_REF = re.compile(r"^item:([0-9]{1,19})$")
_INTEGER = re.compile(r"^-?[0-9]{1,15}$")  # within a double's exact integers, as JSON readers need
_DECIMAL = re.compile(r"^-?[0-9]{1,15}\.[0-9]{1,15}$")
TRUE = frozenset({"true"})
FALSE = frozenset({"false"})


@dataclass
class JobForm:
    fields: dict[str, str] = field(default_factory=dict)

    def priority(self) -> int:
        """0..10, 5 when absent; out of range or not a number is FastAPI's 422, as CL's server answers."""
        raw = self.fields.get(PRIORITY)
        if raw is None or raw.strip() == "":
            return DEFAULT_PRIORITY
        text = raw.strip()
        if not _INTEGER.match(text):
            raise _invalid(PRIORITY, "int_parsing", "Input should be a valid integer, unable to parse string as an "
                           "integer", raw)
        value = int(text)
        if value < 0:
            raise _invalid(PRIORITY, "greater_than_equal", "Input should be greater than or equal to 0", raw,
                           {"ge": 0})
        if value > PRIORITY_MAX:
            raise _invalid(PRIORITY, "less_than_equal", f"Input should be less than or equal to {PRIORITY_MAX}",
                           raw, {"le": PRIORITY_MAX})
        return value

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for name, raw in self.fields.items():
            if name in RESERVED:
                continue
            if not PARAM_NAME.match(name):
                raise Unprocessable(f"{name[:64]!r} is not a parameter name (a letter, then letters, digits, "
                                    "_ . -; at most 64)")
            if name.endswith("_absolute_path"):
                raise Unprocessable(f"{name}: a job reads its files from storage, never from a local path; "
                                    "upload the file, or name a library item (item_id)")
            params[name] = param_value(raw)
        return params

    def external_files(self) -> list[dict[str, Any]]:
        """Seed 004's external files, each `{"path": "item:<id>", "metadata": {...}}`."""
        raw = self.fields.get(EXTERNAL_FILES)
        if raw is None or raw.strip() == "":
            return []
        try:
            sent = json.loads(raw)
        except ValueError:
            raise Unprocessable("external_files must be a JSON list") from None
        if not isinstance(sent, list):
            raise Unprocessable("external_files must be a JSON list")
        if len(sent) > MAX_EXTERNAL_FILES:
            raise Unprocessable(f"external_files holds at most {MAX_EXTERNAL_FILES} entries")
        files: list[dict[str, Any]] = []
        for entry in sent:
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or \
                    not isinstance(entry.get("metadata", {}), dict) or set(entry) - {"path", "metadata"}:
                raise Unprocessable('each external file is {"path": "item:<id>", "metadata": {...}}')
            files.append({"path": entry["path"], "metadata": entry.get("metadata", {})})
        return files

    def item_ids(self) -> list[int]:
        """The library items named, by `item_id` and by `external_files`, each once, in order."""
        found: list[int] = []
        raw = self.fields.get(ITEM_ID)
        if raw is not None and raw.strip() != "":
            found.append(_item_id(raw.strip(), ITEM_ID))
        for entry in self.external_files():
            match = ITEM_REF.match(entry["path"])
            if match is None:
                raise Unprocessable("an external file's path names a library item as item:<id>; local paths "
                                    "are never read")
            found.append(_item_id(match[1], "external_files"))
        return list(dict.fromkeys(found))


def _item_id(text: str, name: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= BIGINT_MAX:
        raise Unprocessable(f"{name} must name a library item by its id")
    return int(text)


def _invalid(name: str, kind: str, message: str, raw: str, ctx: dict[str, Any] | None = None
             ) -> RequestValidationError:
    error: dict[str, Any] = {"type": kind, "loc": ["body", name], "msg": message, "input": raw}
    if ctx:
        error["ctx"] = ctx
    return RequestValidationError([error])


def param_value(raw: str) -> Any:
    text = raw.strip()
    lowered = text.lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    if _INTEGER.match(text):
        return int(text)
    if _DECIMAL.match(text):
        return float(text)
    return raw


async def read_job_form(request: Request, staging: Staging) -> JobForm:
    """The submission's fields, its files staged. If reading fails, nothing stays staged; after it, the
    caller submits the job or discards the staging."""
    opened = await open_form(request, max_bytes=staging.limit + FORM_OVERHEAD, max_fields=MAX_FIELDS,
                             too_large=f"A job's files may hold at most {staging.limit} bytes")
    if isinstance(opened, dict):
        return JobForm(fields=opened)
    form = JobForm()
    try:
        while (part := await opened.next_part()) is not None:
            if isinstance(part, FormField):
                form.fields.setdefault(part.name, checked_text(part.name, part.value))
                continue
            if not part.filename:
                await part.skip()  # an empty file input
                continue
            # Every file part is an input: CL's `file`, seed 004's `upload_files` (repeated), or a plug-in's own.
            await staging.add(part.filename, part.content_type, part.chunks())
    except BaseException:
        await staging.discard()
        raise
    return form
