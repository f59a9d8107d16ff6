"""The replicator's cores, built once in `app.create_service` (and by the `shoebox replicas` commands)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from shoebox_lib.db import Database
from shoebox_lib.storage import Storage
from shoebox_replicator.backfill import Backfill
from shoebox_replicator.copier import Copier, CopyWorker
from shoebox_replicator.scrubber import Scrubber
from shoebox_replicator.settings import ReplicatorSettings
from shoebox_replicator.throttle import Throttle


@dataclass(frozen=True)
class Container:
    copier: Copier
    worker: CopyWorker
    backfill: Backfill
    scrubber: Scrubber

    @classmethod
    def build(cls, db: Database, storage: Storage, settings: ReplicatorSettings) -> Container:
        copier = Copier(storage)
        return cls(
            copier=copier,
            worker=CopyWorker(db, copier, Throttle(settings.backfill_bytes_per_second),
                              timedelta(seconds=settings.copy_lease_seconds)),
            backfill=Backfill(db, copier),
            scrubber=Scrubber(db, storage, Throttle(settings.scrub_bytes_per_second),
                              timedelta(seconds=settings.scrub_interval_seconds)),
        )
