"""The payload of every event on the bus. `proto-schemas/` holds their JSON Schema, generated from here.

An event travels in an `Envelope` whose `id` is also its `Nats-Msg-Id`, so a republished event is
dropped by JetStream's duplicate window and recognised by every consumer's inbox.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from shoebox_lib.settings import Tier


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    event_type: ClassVar[str]

    def subject(self) -> str:
        """Subject below the installation's prefix."""
        return f"events.{self.event_type}"

    @classmethod
    def subject_pattern(cls) -> str:
        """The subject, with any field it is made of in angle brackets (for the schemas)."""
        return f"events.{cls.event_type}"


class Envelope(BaseModel):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    data: dict[str, Any]

    @classmethod
    def wrap(cls, payload: Payload) -> Envelope:
        return cls(type=payload.event_type, data=payload.model_dump(mode="json"))


class UploadCompleted(Payload):
    """uploads → metadata: an upload session's object is complete and verified in PRIMARY."""

    event_type: ClassVar[str] = "upload.completed"
    upload_id: str
    item_id: int
    owner_id: int
    object_key: str
    size: int
    content_type: str | None = None
    sha256: str | None = None


class UploadOutcome(StrEnum):
    ABORTED = "aborted"
    FAILED = "failed"
    EXPIRED = "expired"


class UploadEnded(Payload):
    """uploads → metadata: an upload session ended without completing; its quota hold is given back.

    (A completed upload's hold is consumed when metadata applies `upload.completed`.)
    """

    event_type: ClassVar[str] = "upload.ended"
    upload_id: str
    owner_id: int
    outcome: UploadOutcome


class ItemStored(Payload):
    """metadata → replicator, compute: an item's original is stored and counted."""

    event_type: ClassVar[str] = "item.stored"
    item_id: int
    owner_id: int
    object_key: str
    size: int
    content_type: str | None = None
    encrypted: bool = False
    sha256: str | None = None  # when known (the client declared it and storage or the verifier confirmed it)


class VariantStored(Payload):
    """metadata → replicator: a derived object (a thumbnail) is recorded."""

    event_type: ClassVar[str] = "item.variant_stored"
    item_id: int
    owner_id: int
    variant: str
    object_key: str
    size: int
    sha256: str | None = None


class ReplicaStored(Payload):
    """replicator → metadata: an object has a verified copy in another tier."""

    event_type: ClassVar[str] = "replica.stored"
    object_key: str
    tier: Tier
    size: int
    item_id: int | None = None


class ReplicaDamaged(Payload):
    """replicator → metadata: a tier's copy of an object is missing, truncated or does not hash as it should
    (the scrubber found it); reads skip that tier until `replica.repaired`."""

    event_type: ClassVar[str] = "replica.damaged"
    object_key: str
    tier: Tier
    item_id: int | None = None
    # When the replicator found it: each report is its own consumer's, so they may arrive out of order, and
    # the newer report about a copy wins.
    found_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class ReplicaRepaired(Payload):
    """replicator → metadata: a damaged copy was rewritten from a good one and hashes right again."""

    event_type: ClassVar[str] = "replica.repaired"
    object_key: str
    tier: Tier
    size: int
    item_id: int | None = None
    repaired_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class ObjectDamaged(Payload):
    """replicator → metadata: no tier holds a copy of the object that hashes as it should; it is never served
    (wrong bytes are worse than none) and is reported until an operator restores it."""

    event_type: ClassVar[str] = "object.damaged"
    object_key: str
    item_id: int | None = None
    owner_id: int | None = None
    found_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class JobCompleted(Payload):
    """compute → metadata: a job finished, successfully or not."""

    event_type: ClassVar[str] = "job.completed"
    job_id: str
    task_type: str
    status: Literal["completed", "failed"]
    item_id: int | None = None
    owner_id: int | None = None
    result: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class ItemDeleted(Payload):
    """metadata → replicator: an item is gone for good, or these objects of it were replaced (a CL file's
    new bytes); remove them from every tier."""

    event_type: ClassVar[str] = "item.deleted"
    item_id: int
    owner_id: int
    object_keys: list[str]


class SessionsRevoked(Payload):
    """auth → every process of every service: refuse these sessions' tokens from now on.

    With `all_sessions`, every token of the user issued up to `revoked_at` (deactivated or deleted).
    """

    event_type: ClassVar[str] = "sessions.revoked"
    user_id: int
    session_ids: list[str] = Field(default_factory=list)
    all_sessions: bool = False
    revoked_at: datetime


class UserDeleted(Payload):
    """auth → metadata: an account is gone (its sessions were revoked with it). Everything it owned goes
    too: its items and their objects (through `item.deleted`), its albums, shares and public links, and
    its place in albums others shared with it."""

    event_type: ClassVar[str] = "user.deleted"
    user_id: int


class QuotaSet(Payload):
    """auth → metadata: an admin set an account's storage allowance (Ente's `PUT /admin/user/subscription`);
    from now on the account may store `quota_bytes` (plus any bonus metadata keeps)."""

    event_type: ClassVar[str] = "account.quota_set"
    user_id: int
    quota_bytes: int = Field(ge=0, le=2**63 - 1)


ALL_PAYLOADS: tuple[type[Payload], ...] = (
    UploadCompleted, UploadEnded, ItemStored, VariantStored, ReplicaStored, ReplicaDamaged, ReplicaRepaired,
    ObjectDamaged, JobCompleted, SessionsRevoked, ItemDeleted, UserDeleted, QuotaSet,
)
