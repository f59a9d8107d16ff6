"""Settings only metadata reads (prefix `SHOEBOX_METADATA_`); the shared ones are in shoebox_lib."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

GIB = 1024**3


class MetadataSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOEBOX_METADATA_", extra="ignore")

    store_auth_disabled: bool = Field(
        default=False,
        description="Open CL's store to everyone, reads and writes, without a token (CL's AUTH_DISABLED, its "
                    "demo mode; default false). Other faces keep their own rules.")
    store_read_auth_enabled: bool = Field(
        default=True,
        description="Whether reading CL's store needs a token with media_store_read (CL's READ_AUTH_ENABLED; "
                    "false is CL's guest mode). Default true: Shoebox keeps the store private until an admin "
                    "opens it (CL itself starts in guest mode). When this variable is set, it is applied at "
                    "every start; when it is not, the mode an admin last set (PUT /admin/pref/guest-mode or "
                    "/admin/config/read-auth) holds.")
    store_max_upload_bytes: int = Field(
        default=5 * GIB, ge=1,
        description="The largest file CL's POST /entities and PUT /entities/{id} take, in bytes (default "
                    "5368709120, 5 GiB). A larger Content-Length is refused before any byte is read.")
    store_quota_bytes: int = Field(
        default=1024 * GIB, ge=0,
        description="How many bytes CL's store, a space shared by its users, may hold (default 1 TiB).")
    store_orphan_grace_seconds: int = Field(
        default=2 * 24 * 3600, ge=0,
        description="How old an object that no item references must be before the store audit calls it "
                    "orphaned and clear-orphans may delete it, in seconds (default 172800, two days: longer "
                    "than any upload may take to commit its object).")

    trash_retention_seconds: int = Field(
        default=30 * 24 * 3600, ge=0,
        description="How long a deleted image or trashed file stays restorable before it is purged with its "
                    "objects on every tier, in seconds (default 2592000, 30 days, as Ente keeps its trash).")
    trash_purge_interval_seconds: float = Field(
        default=60.0, gt=0,
        description="How often metadata purges what has been in the trash longer than the retention, in seconds "
                    "(default 60).")

    reconcile_grace_seconds: int = Field(
        default=900, ge=1,
        description="How long a stored original may lack a copy on a replica tier, or a thumbnail stay in "
                    "processing, before metadata announces the original again (under its first event id, so "
                    "only a service that never applied it acts), in seconds; at most once per this period per "
                    "item (default 900).")
    reconcile_interval_seconds: float = Field(
        default=60.0, gt=0,
        description="How often metadata looks for originals to announce again, in seconds (default 60).")


# What `shoebox config` reads from every `shoebox_<service>.settings`.
SETTINGS_CLASS = MetadataSettings
