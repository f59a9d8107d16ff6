"""Every JetStream stream and durable consumer of Shoebox, declared once.

Subjects are written below the installation's prefix (`Settings.bus_prefix`): `events.upload.completed`
is published as `shoebox.events.upload.completed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from shoebox_lib.events import (
    ItemDeleted,
    ItemStored,
    JobCompleted,
    ObjectDamaged,
    Payload,
    QuotaSet,
    ReplicaDamaged,
    ReplicaRepaired,
    ReplicaStored,
    UploadCompleted,
    UploadEnded,
    UserDeleted,
    VariantStored,
)

DAY = 24 * 3600


def stream_name(prefix: str, stream: str) -> str:
    """A stream's name on the server: the installation's prefix, upper-cased, before the stream's own."""
    return f"{prefix.upper()}_{stream}"


@dataclass(frozen=True)
class StreamSpec:
    name: str  # below the prefix, upper-cased into the stream name
    subjects: str
    retention: RetentionPolicy
    max_age_seconds: int

    def config(self, prefix: str, replicas: int = 1) -> StreamConfig:
        """`replicas`: on that many servers of a cluster (`Settings.bus_stream_replicas`). The durable consumers
        leave their own count unset, so their state follows the stream's, and scales with it."""
        return StreamConfig(
            name=stream_name(prefix, self.name),
            subjects=[f"{prefix}.{self.subjects}"],
            retention=self.retention,
            storage=StorageType.FILE,
            max_age=float(self.max_age_seconds),
            duplicate_window=120.0,
            num_replicas=replicas,
        )


STREAMS = (
    # Domain events: each consuming service has its own durable consumer and sees every event.
    StreamSpec("EVENTS", "events.>", RetentionPolicy.LIMITS, 7 * DAY),
    # Poison messages, kept for a person to look at.
    StreamSpec("DEAD", "dead.>", RetentionPolicy.LIMITS, 30 * DAY),
)


@dataclass(frozen=True)
class ConsumerSpec:
    durable: str
    stream: str
    payload: type[Payload]
    subject: str

    @property
    def dead_subject(self) -> str:
        return f"dead.{self.durable}"


def _on_event(durable: str, payload: type[Payload]) -> ConsumerSpec:
    return ConsumerSpec(durable, "EVENTS", payload, f"events.{payload.event_type}")


# Each durable consumer, named once; services pass these constants, never the strings.
METADATA_UPLOAD_COMPLETED = _on_event("metadata-upload-completed", UploadCompleted)
METADATA_UPLOAD_ENDED = _on_event("metadata-upload-ended", UploadEnded)
METADATA_JOB_COMPLETED = _on_event("metadata-job-completed", JobCompleted)
METADATA_REPLICA_STORED = _on_event("metadata-replica-stored", ReplicaStored)
METADATA_REPLICA_DAMAGED = _on_event("metadata-replica-damaged", ReplicaDamaged)
METADATA_REPLICA_REPAIRED = _on_event("metadata-replica-repaired", ReplicaRepaired)
METADATA_OBJECT_DAMAGED = _on_event("metadata-object-damaged", ObjectDamaged)
METADATA_USER_DELETED = _on_event("metadata-user-deleted", UserDeleted)
METADATA_QUOTA_SET = _on_event("metadata-quota-set", QuotaSet)
REPLICATOR_ITEM_STORED = _on_event("replicator-item-stored", ItemStored)
REPLICATOR_VARIANT_STORED = _on_event("replicator-variant-stored", VariantStored)
REPLICATOR_ITEM_DELETED = _on_event("replicator-item-deleted", ItemDeleted)
COMPUTE_ITEM_STORED = _on_event("compute-item-stored", ItemStored)
UPLOADS_ITEM_STORED = _on_event("uploads-item-stored", ItemStored)
UPLOADS_VARIANT_STORED = _on_event("uploads-variant-stored", VariantStored)

CONSUMERS: dict[str, ConsumerSpec] = {
    spec.durable: spec
    for spec in (
        METADATA_UPLOAD_COMPLETED, METADATA_UPLOAD_ENDED, METADATA_JOB_COMPLETED, METADATA_REPLICA_STORED,
        REPLICATOR_ITEM_STORED, REPLICATOR_VARIANT_STORED, REPLICATOR_ITEM_DELETED, COMPUTE_ITEM_STORED,
        UPLOADS_ITEM_STORED, UPLOADS_VARIANT_STORED, METADATA_USER_DELETED,
        METADATA_QUOTA_SET, METADATA_REPLICA_DAMAGED, METADATA_REPLICA_REPAIRED, METADATA_OBJECT_DAMAGED,
    )
}
