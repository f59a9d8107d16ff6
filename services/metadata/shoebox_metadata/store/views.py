"""An entity as CL's clients read it, built from the library's rows; and what a version keeps of it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from shoebox_metadata.kinds import ItemStatus
from shoebox_metadata.models import Collection, Item
from shoebox_metadata.store.kinds import Operation

# What an entity's history keeps at each version: its own fields, not what its neighbours make of it.
DERIVED_FIELDS = ("children_count", "is_indirectly_deleted", "overall_status")


def ms(at: datetime | None) -> int | None:
    return int(at.timestamp() * 1000) if at is not None else None


def _user(user_id: int | None) -> str | None:
    return str(user_id) if user_id is not None else None


@dataclass(frozen=True)
class EntityView:
    id: int
    is_collection: bool
    label: str | None
    description: str | None
    parent_id: int | None
    added_date: int | None
    updated_date: int | None
    create_date: int | None
    added_by: str | None
    updated_by: str | None
    is_deleted: bool
    file_size: int | None = None
    height: int | None = None
    width: int | None = None
    duration: float | None = None
    mime_type: str | None = None
    type: str | None = None
    extension: str | None = None
    md5: str | None = None
    file_path: str | None = None
    children_count: int = 0
    is_indirectly_deleted: bool = False
    overall_status: str | None = None  # a file's processing, as CL's clients wait on it

    def snapshot(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in DERIVED_FIELDS and k != "id"}

    def as_of(self, snapshot: dict[str, Any]) -> EntityView:
        known = {k: v for k, v in snapshot.items() if k in self.__dataclass_fields__ and k != "id"}
        return replace(self, **known)


def collection_view(collection: Collection, *, children: int = 0, indirectly_deleted: bool = False) -> EntityView:
    added = ms(collection.created_at)
    return EntityView(
        id=collection.id, is_collection=True, label=collection.name, description=collection.description,
        parent_id=collection.parent_id, added_date=added, updated_date=ms(collection.updated_at), create_date=added,
        added_by=_user(collection.added_by), updated_by=_user(collection.updated_by),
        is_deleted=collection.is_trashed, children_count=children, is_indirectly_deleted=indirectly_deleted,
    )


def item_view(item: Item, *, parent_id: int | None, indirectly_deleted: bool = False,
              overall_status: str | None = None) -> EntityView:
    added = ms(item.created_at)
    return EntityView(
        id=item.id, is_collection=False, label=item.title, description=item.description, parent_id=parent_id,
        added_date=added, updated_date=ms(item.updated_at), create_date=item.taken_at or added,
        added_by=_user(item.added_by), updated_by=_user(item.updated_by),
        is_deleted=item.status == ItemStatus.TRASHED, file_size=item.size, height=item.height, width=item.width,
        duration=item.duration, mime_type=item.content_type, type=item.media_type, extension=item.extension,
        md5=item.md5, file_path=item.object_key, is_indirectly_deleted=indirectly_deleted,
        overall_status=overall_status,
    )


@dataclass(frozen=True)
class VersionView:
    version: int
    transaction_id: int
    end_transaction_id: int | None
    operation_type: Operation
    label: str | None
    description: str | None
    updated_date: int | None
