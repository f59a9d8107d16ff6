"""CL's store face (seed 004, CL's current server; seed 002's `/entity/` alias): entities, their media,
the store's modes and its administration. Who may call comes from the store's mode (`StoreReader`,
`StoreWriter`); the admin routes are the admin's whatever the mode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from shoebox_lib.auth import AdminUser
from shoebox_lib.errors import Unprocessable
from shoebox_lib.storage.dataplane import byte_range
from shoebox_lib.web.inputs import Id64, NonNegative64, Text
from shoebox_lib.web.plain_form import MULTIPART, form_kind, read_plain_form
from shoebox_metadata.api.cl_store_forms import (
    CREATE_FILE_FIELDS,
    REPLACE_FILE_FIELDS,
    EntityForm,
    parse_flag,
    read_entity_form,
)
from shoebox_metadata.api.cl_store_shapes import (
    AuditAnswer,
    CleanupAnswer,
    Config,
    Entity,
    EntityList,
    EntityPatch,
    InsightStatus,
    LegacyEntity,
    LegacyEntityList,
    Pagination,
    PatchFields,
    Preferences,
    PreferencesUpdated,
    ReadAuthChange,
    Root,
    Version,
    inline_schema,
)
from shoebox_metadata.api.deps import AuditDep, EntitiesDep, ModesDep, StoreReader, StoreWriter
from shoebox_metadata.store.entities import UNSET, Changes, Entities, Fields, Media, OnDuplicate
from shoebox_metadata.store.listing import EntityFilter
from shoebox_metadata.store.modes import Actor
from shoebox_metadata.store.views import EntityView

ADMIN_REFUSAL = "Insufficient permissions. Admin access required"
CURRENT = "/entities"
LEGACY = "/entity"  # seed 002: a duplicate upload is a 409 there

public_router = APIRouter(tags=["cl-store"])
router = APIRouter(tags=["cl-store"])
# POST and PUT stream their body themselves, up to the store's upload limit.
upload_router = APIRouter(tags=["cl-store"])
admin_router = APIRouter(tags=["cl-store"])

Query64 = Annotated[NonNegative64 | None, Query()]
BINARY = {"type": "string", "format": "binary"}
EntityPath = Id64


# --- the root and the pipeline's state -----------------------------------------------------------------

@public_router.get("/", response_model=Root)
async def root(modes: ModesDep) -> Root:
    return Root.of(await modes.current())


@public_router.get("/m_insight/status", response_model=InsightStatus)
async def insight_status(entities: EntitiesDep) -> InsightStatus:
    return InsightStatus(status="running" if await entities.processing() else "idle")


# --- reading -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Listing:
    """What both list routes take: the page, the version to read entities at, and the search."""
    page: int
    page_size: int
    version: int | None
    search_query: str | None


async def listing(
    page: Annotated[int, Query(ge=1, le=10**9)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    version: Annotated[int | None, Query(ge=1, le=10**9)] = None,
    filter_param: Annotated[Text | None, Query(max_length=1000)] = None,
    search_query: Annotated[Text | None, Query(max_length=1000)] = None,
) -> Listing:
    del filter_param  # CL takes it and ignores it
    return Listing(page=page, page_size=page_size, version=version, search_query=search_query)


ListingQuery = Annotated[Listing, Depends(listing)]


@router.get(CURRENT, response_model=EntityList)
async def list_entities(
    entities: EntitiesDep, _reader: StoreReader, query: ListingQuery,
    exclude_deleted: bool = False,
    md5: Annotated[Text | None, Query(max_length=128)] = None,
    mime_type: Annotated[Text | None, Query(max_length=255)] = None,
    type: Annotated[Text | None, Query(max_length=16)] = None,
    width: Query64 = None,
    height: Query64 = None,
    file_size_min: Query64 = None,
    file_size_max: Query64 = None,
    date_from: Query64 = None,
    date_to: Query64 = None,
    parent_id: Query64 = None,
    is_collection: bool | None = None,
) -> EntityList:
    f = EntityFilter(search_query=query.search_query, exclude_deleted=exclude_deleted, md5=md5, mime_type=mime_type,
                     type=type, width=width, height=height, file_size_min=file_size_min,
                     file_size_max=file_size_max, date_from=date_from, date_to=date_to, parent_id=parent_id,
                     is_collection=is_collection)
    found = await entities.search(f, query.page, query.page_size, version=query.version)
    return EntityList(items=[Entity.of(v) for v in found.items],
                      pagination=Pagination.of(query.page, query.page_size, found.total))


@router.get(LEGACY + "/", response_model=LegacyEntityList)
async def list_entities_legacy(entities: EntitiesDep, _reader: StoreReader, query: ListingQuery
                               ) -> LegacyEntityList:
    found = await entities.search(EntityFilter(search_query=query.search_query), query.page, query.page_size,
                                  version=query.version)
    return LegacyEntityList(items=[LegacyEntity.of(v) for v in found.items],
                            pagination=Pagination.of(query.page, query.page_size, found.total))


@router.get(f"{CURRENT}/lookup", response_model=Entity)
async def lookup_entity(entities: EntitiesDep, _reader: StoreReader,
                        md5: Annotated[Text | None, Query(max_length=128)] = None,
                        label: Annotated[Text | None, Query(max_length=1000)] = None) -> Entity:
    return Entity.of(await entities.lookup(md5=md5, label=label))


@router.get(CURRENT + "/{entity_id}", response_model=Entity)
async def get_entity(entity_id: EntityPath, entities: EntitiesDep, _reader: StoreReader,
                     version: Annotated[int | None, Query(ge=1, le=10**9)] = None) -> Entity:
    return Entity.of(await entities.get(entity_id, version=version))


@router.get(LEGACY + "/{entity_id}", response_model=LegacyEntity)
async def get_entity_legacy(entity_id: EntityPath, entities: EntitiesDep, _reader: StoreReader,
                            version: Annotated[int | None, Query(ge=1, le=10**9)] = None) -> LegacyEntity:
    return LegacyEntity.of(await entities.get(entity_id, version=version))


@router.get(CURRENT + "/{entity_id}/versions", response_model=list[Version])
@router.get(LEGACY + "/{entity_id}/versions", response_model=list[Version])
async def entity_versions(entity_id: EntityPath, entities: EntitiesDep, _reader: StoreReader) -> list[Version]:
    return [Version.of(v) for v in await entities.versions(entity_id)]


@router.get(CURRENT + "/{entity_id}/media", response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {"schema": BINARY}}},
                       206: {"description": "a byte range",
                             "content": {"application/octet-stream": {"schema": BINARY}}}})
async def entity_media(entity_id: EntityPath, request: Request, entities: EntitiesDep,
                       _reader: StoreReader) -> Response:
    return await _send(request, entities, await entities.media(entity_id))


@router.get(CURRENT + "/{entity_id}/preview", response_class=StreamingResponse,
            responses={200: {"content": {"image/*": {"schema": BINARY}}}})
async def entity_preview(entity_id: EntityPath, request: Request, entities: EntitiesDep, _reader: StoreReader,
                         force: bool = False) -> Response:
    del force  # CL regenerates on demand; here compute makes the preview once, from the upload
    return await _send(request, entities, await entities.preview(entity_id))


async def _send(request: Request, entities: Entities, media: Media) -> Response:
    """The object's bytes, streamed from the first tier that has it, whole or the range asked for."""
    start, end = byte_range(request.headers.get("range"), media.size)
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(end - start)}
    partial = (start, end) != (0, media.size)
    if partial:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{media.size}"
    chunks = await entities.open(media, start, end)
    return StreamingResponse(chunks, status_code=206 if partial else 200, headers=headers,
                             media_type=media.content_type or "application/octet-stream")


# --- writing -------------------------------------------------------------------------------------------

def _form_body(*file_fields: str, required: tuple[str, ...]) -> dict[str, object]:
    """The form POST and PUT read themselves (streaming the file), declared for the OpenAPI."""
    text = {"type": "string"}
    properties: dict[str, object] = {"is_collection": {"type": "string", "enum": ["true", "false"]},
                                     "label": text, "description": text, "parent_id": text}
    plain = {"type": "object", "properties": dict(properties), "required": list(required)}
    properties.update({name: {"type": "string", "format": "binary"} for name in file_fields})
    multipart = {"type": "object", "properties": properties, "required": list(required)}
    return {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": multipart},
        "application/x-www-form-urlencoded": {"schema": plain}}}}

async def _create(request: Request, entities: Entities, actor: Actor, on_duplicate: OnDuplicate
                  ) -> tuple[EntityView, int]:
    """The new entity and its status: 201, or 200 with the entity that holds the content already. Seed
    002's form may leave `is_collection` out (a file)."""
    legacy = on_duplicate is OnDuplicate.REFUSE
    form = await read_entity_form(request, entities, file_fields=CREATE_FILE_FIELDS)
    try:
        is_collection = form.flag("is_collection", required=not legacy)
        fields = Fields(label=form.text("label"), description=form.text("description"),
                        parent_id=form.entity_id("parent_id"))
        if is_collection:
            if form.staged is not None:  # the file came before the form said what it makes
                raise Unprocessable("A collection cannot have a file")
            return await entities.create_collection(actor, fields), 201
        if form.staged is None:
            raise Unprocessable("A file entity needs a file (media_file)")
        created = await entities.create_file(actor, fields, form.staged, on_duplicate)
    except BaseException:
        await entities.discard(form.staged)
        raise
    return created.entity, 201 if created.created else 200


@upload_router.post(CURRENT, response_model=Entity, status_code=201,
                    openapi_extra=_form_body(*CREATE_FILE_FIELDS, required=("is_collection",)),
                    responses={200: {"model": Entity, "description": "the content is stored already"}})
async def create_entity(request: Request, response: Response, entities: EntitiesDep, actor: StoreWriter) -> Entity:
    view, response.status_code = await _create(request, entities, actor, OnDuplicate.EXISTING)
    return Entity.of(view)


@upload_router.post(LEGACY + "/", response_model=LegacyEntity, status_code=201,
                    openapi_extra=_form_body(*CREATE_FILE_FIELDS, required=()),
                    responses={409: {"description": "the content is stored already"}})
async def create_entity_legacy(request: Request, response: Response, entities: EntitiesDep,
                               actor: StoreWriter) -> LegacyEntity:
    view, response.status_code = await _create(request, entities, actor, OnDuplicate.REFUSE)
    return LegacyEntity.of(view)


async def _replace(request: Request, entities: Entities, actor: Actor, entity_id: int, file_fields: tuple[str, ...]
                   ) -> EntityView:
    form: EntityForm = await read_entity_form(request, entities, file_fields=file_fields)
    try:
        is_collection = form.flag("is_collection", required=True)
        label = form.text("label")
        if label is None:
            raise Unprocessable("label is required")
        fields = Fields(label=label, description=form.text("description"), parent_id=form.entity_id("parent_id"))
        return await entities.replace(actor, entity_id, is_collection=bool(is_collection), fields=fields,
                                      staged=form.staged)
    except BaseException:
        await entities.discard(form.staged)
        raise


@upload_router.put(CURRENT + "/{entity_id}", response_model=Entity,
                   openapi_extra=_form_body(*REPLACE_FILE_FIELDS, required=("is_collection", "label")))
async def replace_entity(entity_id: EntityPath, request: Request, entities: EntitiesDep,
                         actor: StoreWriter) -> Entity:
    return Entity.of(await _replace(request, entities, actor, entity_id, REPLACE_FILE_FIELDS))


@upload_router.put(LEGACY + "/{entity_id}", response_model=LegacyEntity,
                   openapi_extra=_form_body(*CREATE_FILE_FIELDS, required=("is_collection", "label")))
async def replace_entity_legacy(entity_id: EntityPath, request: Request, entities: EntitiesDep,
                                actor: StoreWriter) -> LegacyEntity:
    return LegacyEntity.of(await _replace(request, entities, actor, entity_id, CREATE_FILE_FIELDS))


_PATCH_BODY = {"requestBody": {"content": {
    "application/json": {"schema": inline_schema(EntityPatch)},
    "application/x-www-form-urlencoded": {"schema": inline_schema(PatchFields)}}}}


@router.patch(CURRENT + "/{entity_id}", response_model=Entity, openapi_extra=_PATCH_BODY)
async def patch_entity(entity_id: EntityPath, request: Request, entities: EntitiesDep, actor: StoreWriter) -> Entity:
    return Entity.of(await entities.patch(actor, entity_id, await _changes(request)))


@router.patch(LEGACY + "/{entity_id}", response_model=LegacyEntity, openapi_extra=_PATCH_BODY)
async def patch_entity_legacy(entity_id: EntityPath, request: Request, entities: EntitiesDep,
                              actor: StoreWriter) -> LegacyEntity:
    return LegacyEntity.of(await entities.patch(actor, entity_id, await _changes(request)))


async def _changes(request: Request) -> Changes:
    """A PATCH as a form (CL's current clients) or as JSON (seed 004); "" or null clears a field."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind == "application/json":
        try:
            sent = EntityPatch.model_validate_json(await request.body() or b"{}").fields()
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None
        given = sent.model_fields_set
        return Changes(
            label=(sent.label or None) if "label" in given else UNSET,
            description=(sent.description or None) if "description" in given else UNSET,
            parent_id=(sent.parent_id or None) if "parent_id" in given else UNSET,
            is_deleted=sent.is_deleted if "is_deleted" in given and sent.is_deleted is not None else UNSET,
        )
    form = EntityForm(values=dict(await _form_values(request)))
    deleted = form.flag("is_deleted") if "is_deleted" in form.values else None
    return Changes(
        label=form.text("label") if "label" in form.values else UNSET,
        description=form.text("description") if "description" in form.values else UNSET,
        parent_id=form.entity_id("parent_id") if "parent_id" in form.values else UNSET,
        is_deleted=deleted if deleted is not None else UNSET,
    )


async def _form_values(request: Request) -> dict[str, str]:
    if form_kind(request) == MULTIPART:
        form = await request.form(max_files=0, max_fields=100)
        return {k: v for k, v in form.items() if isinstance(v, str)}
    return await read_plain_form(request)


@router.delete(CURRENT + "/{entity_id}", status_code=204)
@router.delete(LEGACY + "/{entity_id}", status_code=204)
async def delete_entity(entity_id: EntityPath, entities: EntitiesDep, _writer: StoreWriter) -> Response:
    await entities.delete(entity_id)
    return Response(status_code=204)


# --- the store's administration ------------------------------------------------------------------------

@admin_router.delete(CURRENT, status_code=204)
@admin_router.delete(CURRENT + "/collection", status_code=204)
async def delete_everything(entities: EntitiesDep, _admin: AdminUser) -> Response:
    """CL's delete-all (its SDK's `DELETE /entities`, seed 004's `DELETE /entities/collection`)."""
    await entities.delete_all()
    return Response(status_code=204)


@admin_router.get("/admin/pref", response_model=Preferences)
async def get_preferences(modes: ModesDep, _admin: AdminUser) -> Preferences:
    return Preferences.of(await modes.current())


@admin_router.put("/admin/pref/guest-mode", response_model=PreferencesUpdated)
async def set_guest_mode(modes: ModesDep, admin: AdminUser,
                         guest_mode: Annotated[Text, Form(max_length=16)]) -> PreferencesUpdated:
    guest = parse_flag("guest_mode", guest_mode, required=True)
    mode = await modes.set_read_auth(not guest, admin)
    return PreferencesUpdated(guest_mode=mode.guest_mode)


@admin_router.get("/admin/config", response_model=Config)
async def get_config(modes: ModesDep, _admin: AdminUser) -> Config:
    return Config.of(await modes.current())


@admin_router.put("/admin/config/read-auth", response_model=Config)
async def set_read_auth(change: ReadAuthChange, modes: ModesDep, admin: AdminUser) -> Config:
    return Config.of(await modes.set_read_auth(change.enabled, admin))


@admin_router.get("/system/audit", response_model=AuditAnswer)
async def audit_store(audit: AuditDep, _admin: AdminUser) -> AuditAnswer:
    return AuditAnswer.of(await audit.report())


@admin_router.post("/system/clear-orphans", response_model=CleanupAnswer)
async def clear_orphans(audit: AuditDep, _admin: AdminUser) -> CleanupAnswer:
    return CleanupAnswer.of(await audit.clear_orphans())
