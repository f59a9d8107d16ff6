"""Reading CL's entity forms: a plain form (collections, PATCH) or multipart with the file, which is
streamed to storage as it arrives (`Entities.stage`) and never held whole.

CL's values are text: booleans as "true"/"false" (also 1/0, yes/no, on/off), numbers in decimal, and an
empty value for "none"."""

from __future__ import annotations

from collections.abc import Collection as Names
from dataclasses import dataclass, field

from fastapi import Request

from shoebox_lib.errors import Unprocessable
from shoebox_lib.web.inputs import BIGINT_MAX
from shoebox_lib.web.plain_form import checked_text, open_form
from shoebox_lib.web.streaming_form import FormField
from shoebox_metadata.store.entities import Entities, Staged, Upload

FORM_OVERHEAD = 1024 * 1024  # what multipart framing and the other fields may add around the file
TRUE = frozenset({"true", "1", "yes", "on"})
FALSE = frozenset({"false", "0", "no", "off"})
# CL's file fields: `media_file`, and the older `image` (which PUT ignores, as CL's server does).
CREATE_FILE_FIELDS = ("media_file", "image")
REPLACE_FILE_FIELDS = ("media_file",)


@dataclass
class EntityForm:
    values: dict[str, str] = field(default_factory=dict)
    staged: Staged | None = None

    def text(self, name: str) -> str | None:
        """The field's text; absent and empty are both None (CL's "" clears)."""
        value = self.values.get(name)
        return value if value else None

    def flag(self, name: str, *, required: bool = False) -> bool | None:
        return parse_flag(name, self.values.get(name), required=required)

    def entity_id(self, name: str) -> int | None:
        return parse_id(name, self.values.get(name))


def parse_flag(name: str, value: str | None, *, required: bool = False) -> bool | None:
    if value is None or value == "":
        if required:
            raise Unprocessable(f"{name} is required")
        return None
    lowered = value.strip().lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise Unprocessable(f"{name} must be true or false")


def parse_id(name: str, value: str | None) -> int | None:
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= BIGINT_MAX:
        raise Unprocessable(f"{name} must be an entity id")
    return int(text)


async def read_entity_form(request: Request, entities: Entities, *, file_fields: Names[str],
                           is_collection: bool | None = None) -> EntityForm:
    """The form's fields, and its file staged in storage. A form that names a collection, or a parent
    that cannot take it, is refused before the file's bytes are read. The caller commits the staged file
    or discards it (`Entities.discard`); if reading fails, nothing is left staged."""
    opened = await open_form(request, max_bytes=entities.max_upload + FORM_OVERHEAD,
                             too_large=f"A file may be at most {entities.max_upload} bytes")
    if isinstance(opened, dict):
        return EntityForm(values=opened)
    form = EntityForm()
    try:
        while (part := await opened.next_part()) is not None:
            if isinstance(part, FormField):
                form.values.setdefault(part.name, checked_text(part.name, part.value))
                continue
            if form.staged is not None or part.name not in file_fields or not part.filename:
                await part.skip()  # a second file, another field's, or an empty file input
                continue
            await _before_bytes(form, entities, is_collection)
            form.staged = await entities.stage(Upload(part.filename, part.content_type, part.chunks()))
    except BaseException:
        await entities.discard(form.staged)
        raise
    return form


async def _before_bytes(form: EntityForm, entities: Entities, is_collection: bool | None) -> None:
    collection = form.flag("is_collection") if is_collection is None else is_collection
    if collection:
        raise Unprocessable("A collection cannot have a file")
    if "parent_id" in form.values:
        await entities.check_parent(form.entity_id("parent_id"))
