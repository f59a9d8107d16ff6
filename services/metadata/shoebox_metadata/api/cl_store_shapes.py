"""What CL's store face answers and accepts (the shapes of cl-api.md and seed 004)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shoebox_lib.web.inputs import Int64, Text
from shoebox_metadata.store.audit import AuditReport, Cleared
from shoebox_metadata.store.modes import StoreMode
from shoebox_metadata.store.views import EntityView, VersionView

SERVICE_NAME = "CoLAN Store Server"
API_VERSION = "v1"


def on_off(value: bool) -> Literal["on", "off"]:
    return "on" if value else "off"


class Root(BaseModel):
    status: Literal["healthy"] = "healthy"
    service: str = SERVICE_NAME
    version: str = API_VERSION
    guestMode: Literal["on", "off"]
    auth_required: bool

    @classmethod
    def of(cls, mode: StoreMode) -> Root:
        return cls(guestMode=on_off(mode.guest_mode), auth_required=mode.reads_need_auth)


class IntelligenceData(BaseModel):
    """What CL's clients read of an entity's processing (CL's ML fields come with ML plug-ins)."""

    overall_status: str
    last_updated: int


class Entity(BaseModel):
    id: int
    is_collection: bool
    label: str | None
    description: str | None
    parent_id: int | None
    children_count: int
    added_date: int | None
    updated_date: int | None
    create_date: int | None
    added_by: str | None
    updated_by: str | None
    file_size: int | None
    height: int | None
    width: int | None
    duration: float | None
    mime_type: str | None
    type: str | None
    extension: str | None
    md5: str | None
    file_path: str | None
    is_deleted: bool
    is_indirectly_deleted: bool
    intelligence_data: IntelligenceData | None

    @classmethod
    def of(cls, view: EntityView) -> Entity:
        fields = {k: v for k, v in asdict(view).items() if k != "overall_status"}
        intelligence = None if view.overall_status is None else IntelligenceData(
            overall_status=view.overall_status, last_updated=view.updated_date or 0)
        return cls(**fields, intelligence_data=intelligence)


def _iso(value_ms: int | None) -> str | None:
    if value_ms is None:
        return None
    return datetime.fromtimestamp(value_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LegacyEntity(BaseModel):
    """Seed 002's entity (the `/entity/` alias): its times are ISO 8601 text, not milliseconds."""

    id: int
    is_collection: bool
    label: str | None
    description: str | None
    parent_id: int | None
    added_date: str | None
    updated_date: str | None
    create_date: str | None
    file_size: int | None
    height: int | None
    width: int | None
    duration: float | None
    mime_type: str | None
    type: str | None
    extension: str | None
    md5: str | None
    file_path: str | None
    is_deleted: bool

    @classmethod
    def of(cls, view: EntityView) -> LegacyEntity:
        fields = {k: v for k, v in asdict(view).items() if k in cls.model_fields}
        return cls(**{**fields, "added_date": _iso(view.added_date), "updated_date": _iso(view.updated_date),
                      "create_date": _iso(view.create_date)})


class Pagination(BaseModel):
    page: int
    page_size: int
    total_items: int
    total_pages: int
    has_next: bool
    has_prev: bool

    @classmethod
    def of(cls, page: int, page_size: int, total: int) -> Pagination:
        pages = -(-total // page_size)
        return cls(page=page, page_size=page_size, total_items=total, total_pages=pages, has_next=page < pages,
                   has_prev=page > 1)


class EntityList(BaseModel):
    items: list[Entity]
    pagination: Pagination


class LegacyEntityList(BaseModel):
    items: list[LegacyEntity]
    pagination: Pagination


class Version(BaseModel):
    version: int
    transaction_id: int
    end_transaction_id: int | None
    operation_type: int
    label: str | None
    description: str | None
    updated_date: int | None

    @classmethod
    def of(cls, view: VersionView) -> Version:
        return cls(**{**asdict(view), "operation_type": int(view.operation_type)})


class Preferences(BaseModel):
    guest_mode: bool
    updated_at: int | None
    updated_by: str | None

    @classmethod
    def of(cls, mode: StoreMode) -> Preferences:
        return cls(guest_mode=mode.guest_mode, updated_at=mode.updated_at, updated_by=mode.updated_by)


class PreferencesUpdated(BaseModel):
    guest_mode: bool
    message: str = "Configuration updated successfully"


class Config(BaseModel):
    read_auth_enabled: bool
    updated_at: int | None
    updated_by: str | None

    @classmethod
    def of(cls, mode: StoreMode) -> Config:
        return cls(read_auth_enabled=mode.reads_need_auth, updated_at=mode.updated_at, updated_by=mode.updated_by)


class ReadAuthChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    enabled: bool


class PatchFields(BaseModel):
    """Seed 004's JSON PATCH: only the fields sent change; null or "" clears one."""

    model_config = ConfigDict(extra="ignore")

    label: Text | None = None
    description: Text | None = None
    parent_id: Int64 | None = None
    is_deleted: bool | None = None


class EntityPatch(PatchFields):
    """The fields, or seed 002's same fields wrapped in `body`."""

    body: PatchFields | None = None

    def fields(self) -> PatchFields:
        return self.body if self.body is not None else self


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with its `$defs` written in place, for an OpenAPI body declared by hand
    (a `#/$defs/…` pointer would resolve against the whole document, where there are none)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


class OrphanedFile(BaseModel):
    file_path: str
    absolute_path: str


class MissingFile(BaseModel):
    entity_id: int
    file_path: str


class AuditAnswer(BaseModel):
    orphaned_files: list[OrphanedFile]
    orphaned_faces: list[dict[str, object]]
    orphaned_vectors: list[dict[str, object]]
    orphaned_mqtt: list[dict[str, object]]
    # Shoebox's own: items whose object is on no tier (CL has no such list; its clients ignore it).
    missing_files: list[MissingFile]

    @classmethod
    def of(cls, report: AuditReport) -> AuditAnswer:
        return cls(
            orphaned_files=[OrphanedFile(file_path=o.key, absolute_path=f"{o.tier}:{o.key}") for o in report.orphaned],
            orphaned_faces=[], orphaned_vectors=[], orphaned_mqtt=[],
            missing_files=[MissingFile(entity_id=m.item_id, file_path=m.key) for m in report.missing],
        )


class CleanupAnswer(BaseModel):
    files_deleted: int
    faces_deleted: int = 0
    vectors_deleted: int = 0
    mqtt_cleared: int = 0

    @classmethod
    def of(cls, cleared: Cleared) -> CleanupAnswer:
        return cls(files_deleted=cleared.files_deleted)


class InsightStatus(BaseModel):
    status: Literal["running", "idle"]
