"""Settings only the replicator reads (prefix `SHOEBOX_REPLICATOR_`); the shared ones are in shoebox_lib."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class ReplicatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOEBOX_REPLICATOR_", extra="ignore")

    scrub_interval_seconds: float = Field(
        default=7 * 24 * 3600, gt=0,
        description="A scrub pass (every copy on every tier read back and hashed) starts this many seconds after "
                    "the last one began, and a pass cut short by a restart goes on where it stopped "
                    "(default 604800, a week).")
    scrub_bytes_per_second: int = Field(
        default=32 * MiB, gt=0,
        description="How fast the scrubber reads, over all tiers together, so it never crowds out uploads and "
                    "reads (default 33554432, 32 MiB/s: a 1 TiB library with three tiers takes about 27 hours).")
    backfill_bytes_per_second: int = Field(
        default=32 * MiB, gt=0,
        description="How fast objects that existed before a tier was added are copied to it (default 33554432, "
                    "32 MiB/s). New objects are copied at once, ahead of the backfill.")

    copy_lease_seconds: float = Field(
        default=900, gt=0,
        description="How long a copy or delete a worker has taken is its own: a worker that dies mid-copy "
                    "leaves it to be taken again after this many seconds (default 900, 15 minutes; longer "
                    "than the slowest copy takes, or two workers would copy one object at once).")


SETTINGS_CLASS = ReplicatorSettings
